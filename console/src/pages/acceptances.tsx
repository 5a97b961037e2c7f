// Risk acceptances: the server's list by status (and "expiring within 7 days"), whether each is stale,
// and per row "Revoke" and "Extend".

import { useEffect, useState } from "preact/hooks";

import { get, path, post } from "../api";
import {
  Filters,
  FormDialog,
  Link,
  Notice,
  PageTitle,
  PagedTable,
  Select,
  StatusBadge,
  TextArea,
  TextField,
  Time,
  usePaged,
  useSession,
  useSubmit,
  words,
} from "../components";
import { PeriodFields, usePeriod } from "../period";
import { type Location, navigate, withParams } from "../router";
import type { Page, RiskAcceptance, RiskAcceptanceDetail } from "../types";

const PAGE_SIZE = 25;
// How many acceptances' own answers (for "stale") are read at once.
const STALE_READS_AT_ONCE = 4;
const WEEK_MILLISECONDS = 7 * 86_400_000;

const VIEWS: [string, string][] = [
  ["", "All"],
  ["active", "Active"],
  ["expiring", "Expiring within 7 days"],
  ["stale", "Stale"],
  ["expired", "Expired"],
  ["revoked", "Revoked"],
];

export function scopeText(acceptance: RiskAcceptance): string {
  const scope = acceptance.scope;
  if (scope.image) {
    const where = acceptance.registry && acceptance.repository ? ` (${acceptance.registry}/${acceptance.repository})` : "";
    return `This image: ${scope.image}${where}`;
  }
  if (scope.repository) return `Every tag of ${scope.repository}`;
  if (scope.all) return `Everywhere${scope.within?.length ? ` in ${scope.within.join(", ")}` : ""}`;
  return "—";
}

export function findingText(acceptance: RiskAcceptance): string {
  const finding = acceptance.finding;
  const where = finding.package ? ` in ${finding.package}${finding.version ? ` ${finding.version}` : ""}` : "";
  return `${finding.id}${where}`;
}

export function endText(acceptance: RiskAcceptance): string {
  if (acceptance.expires_at) return acceptance.expires_at;
  if (acceptance.period === "until_fixed") return "until fixed";
  return "never";
}

type Stale = Record<string, boolean | "unknown">;

/** Whether each shown acceptance is stale, from its own answer (the list does not carry it). */
function useStaleness(items: RiskAcceptance[] | undefined): Stale {
  const [stale, setStale] = useState<Stale>({});
  const ids = (items ?? []).map((item) => item.id).join(",");
  useEffect(() => {
    let cancelled = false;
    const queue = (items ?? []).filter((item) => item.status === "active").map((item) => item.id);
    const found: Stale = {};
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          const detail = await get<RiskAcceptanceDetail>(path`/v1/risk-acceptances/${id}`);
          found[id] = detail.stale;
        } catch {
          found[id] = "unknown";
        }
        if (!cancelled) setStale({ ...found });
      }
    };
    setStale({});
    void Promise.all(Array.from({ length: STALE_READS_AT_ONCE }, worker));
    return () => {
      cancelled = true;
    };
  }, [ids]);
  return stale;
}

export function AcceptancesPage(props: { location: Location }) {
  const session = useSession();
  const query = props.location.query;
  const view = query.get("view") ?? "";
  const finding = query.get("finding") ?? "";
  const [findingInput, setFindingInput] = useState(finding);
  useEffect(() => setFindingInput(finding), [finding]);
  const [round, setRound] = useState(0);
  const [done, setDone] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<RiskAcceptance | null>(null);
  const [extending, setExtending] = useState<RiskAcceptance | null>(null);
  const paged = usePaged<RiskAcceptance>((nextToken) => {
    const status = view === "expiring" || view === "stale" ? "active" : view;
    const expiresBefore = view === "expiring" ? new Date(Date.now() + WEEK_MILLISECONDS).toISOString() : undefined;
    return get<Page<RiskAcceptance>>("/v1/risk-acceptances", {
      status,
      finding_id: finding,
      expires_before: expiresBefore,
      limit: PAGE_SIZE,
      next_token: nextToken,
    });
  }, `${view}:${finding}:${round}`);
  const stale = useStaleness(paged.data?.items);
  const mayChange = session.can("risks:accept");
  const items = paged.data?.items ?? [];
  const changed = (text: string) => {
    setRevoking(null);
    setExtending(null);
    setDone(text);
    setRound((value) => value + 1);
  };

  return (
    <>
      <PageTitle title="Risk acceptances">Risk acceptances</PageTitle>
      <Filters label="Filter risk acceptances" onApply={() => navigate(withParams("/risk-acceptances", { view, finding: findingInput.trim() }))}>
        <Select label="Show" value={view} options={VIEWS} onChange={(value) => navigate(withParams("/risk-acceptances", { view: value, finding }))} />
        <TextField label="Finding" value={findingInput} onInput={setFindingInput} placeholder="CVE-2021-36159" />
      </Filters>
      {done && <Notice>{done}</Notice>}
      <PagedTable
        paged={paged}
        caption="Risk acceptances"
        loading="risk acceptances"
        columns={["Status", "Finding", "Scope", "Expires", "Stale", "Accepted by", "Why", mayChange && "Actions"]}
        // "Stale" is not a status the server filters by: the page's active ones, as each one's answer tells.
        filter={(item) => view !== "stale" || stale[item.id] === true}
        empty={
          view === "stale" && items.length > 0
            ? Object.keys(stale).length < items.length
              ? "Checking which are stale…"
              : "No stale acceptances on this page."
            : "No risk acceptances here."
        }
        row={(acceptance) => (
          <tr key={acceptance.id}>
            <td>
              <StatusBadge status={acceptance.status} />
            </td>
            <th scope="row">
              <Link href={`/risk-acceptances/${encodeURIComponent(acceptance.id)}`}>{findingText(acceptance)}</Link>
              <small class="muted block">{words(acceptance.finding.kind)}</small>
            </th>
            <td>{scopeText(acceptance)}</td>
            <td>{acceptance.expires_at ? <Time value={acceptance.expires_at} /> : endText(acceptance)}</td>
            <td>{acceptance.status !== "active" ? "—" : stale[acceptance.id] === undefined ? "…" : stale[acceptance.id] === true ? "Stale" : stale[acceptance.id] === false ? "No" : "?"}</td>
            <td>
              {acceptance.accepted_by}
              <small class="muted block">
                <Time value={acceptance.accepted_at} />
              </small>
            </td>
            <td class="reason">{acceptance.status === "revoked" && acceptance.revoke_reason ? `${acceptance.reason} — revoked: ${acceptance.revoke_reason}` : acceptance.reason}</td>
            {mayChange && (
              <td class="actions">
                {acceptance.status === "active" && (
                  <>
                    <button type="button" onClick={() => setRevoking(acceptance)}>
                      Revoke<span class="visually-hidden"> {findingText(acceptance)}</span>
                    </button>
                    <button type="button" onClick={() => setExtending(acceptance)}>
                      Extend<span class="visually-hidden"> {findingText(acceptance)}</span>
                    </button>
                  </>
                )}
              </td>
            )}
          </tr>
        )}
      />
      {revoking && <RevokeDialog acceptance={revoking} onClose={() => setRevoking(null)} onDone={changed} />}
      {extending && <ExtendDialog acceptance={extending} onClose={() => setExtending(null)} onDone={changed} />}
    </>
  );
}

export function RevokeDialog(props: { acceptance: RiskAcceptance; onClose: () => void; onDone: (text: string) => void }) {
  const { acceptance } = props;
  const [reason, setReason] = useState("");
  const submission = useSubmit(async () => {
    if (!reason.trim()) throw new Error("Say why the acceptance ends: the reason is required.");
    await post(path`/v1/risk-acceptances/${acceptance.id}/revoke`, { reason: reason.trim() }, acceptance.version);
    props.onDone(`Revoked the acceptance of ${findingText(acceptance)}: the images it covered are judged again.`);
  });
  return (
    <FormDialog title={`Revoke: ${findingText(acceptance)}`} onClose={props.onClose} submission={submission} label="Revoke" busyLabel="Revoking…" danger>
      <p>{scopeText(acceptance)}. Revoking ends it now: the finding counts again on every image it covered.</p>
      <TextArea label="Reason" value={reason} onInput={setReason} required />
    </FormDialog>
  );
}

export function ExtendDialog(props: { acceptance: RiskAcceptance; onClose: () => void; onDone: (text: string) => void }) {
  const { acceptance } = props;
  const period = usePeriod();
  const submission = useSubmit(async () => {
    const extended = await post<RiskAcceptance>(path`/v1/risk-acceptances/${acceptance.id}/extend`, period.body(), acceptance.version);
    props.onDone(`Extended the acceptance of ${findingText(acceptance)}: it now ends ${endText(extended)}.`);
  });
  return (
    <FormDialog title={`Extend: ${findingText(acceptance)}`} onClose={props.onClose} submission={submission} label="Extend" busyLabel="Extending…">
      <p>
        It ends {acceptance.expires_at ? <Time value={acceptance.expires_at} /> : endText(acceptance)} now. A new period counts from today and must end
        later.
      </p>
      <PeriodFields choice={period} />
    </FormDialog>
  );
}
