// How long a risk acceptance runs: chosen when a risk is accepted and again when an acceptance is extended.

import { useState } from "preact/hooks";

import { Select, TextField } from "./components";
import type { Period } from "./types";

const PERIOD_OPTIONS: [Period, string][] = [
  ["30d", "30 days"],
  ["60d", "60 days"],
  ["90d", "90 days"],
  ["custom", "Until a date"],
  ["indefinite", "Indefinitely"],
  ["until_fixed", "Until fixed"],
];

function tomorrow(): string {
  return new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
}

/** The period being chosen (30 days at first), and `body()`: its fields of a request. */
export function usePeriod() {
  const [period, setPeriod] = useState<Period>("30d");
  const [until, setUntil] = useState("");
  /** A date becomes the end of that day, UTC. */
  const body = (): { period: Period; expires_at?: string } => {
    if (period !== "custom") return { period };
    if (!until) throw new Error("Choose the date the acceptance ends.");
    return { period, expires_at: `${until}T23:59:59Z` };
  };
  return { period, setPeriod, until, setUntil, body };
}

/** "Period", and "Until" when the period ends on a date (tomorrow at the earliest). */
export function PeriodFields(props: { choice: ReturnType<typeof usePeriod> }) {
  const { period, setPeriod, until, setUntil } = props.choice;
  return (
    <>
      <Select label="Period" value={period} onChange={(value) => setPeriod(value as Period)} options={PERIOD_OPTIONS} />
      {period === "custom" && <TextField label="Until" type="date" value={until} onInput={setUntil} required min={tomorrow()} />}
    </>
  );
}
