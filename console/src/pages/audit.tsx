// The security event log: every change, by whom, when, from where, before and after.

import { useEffect, useState } from "preact/hooks";

import { get } from "../api";
import { ErrorBox, Loading, PageTitle, Pager, TextField, Time, usePaged } from "../components";
import { type Location, navigate, withParams } from "../router";
import type { AuditEvent, Page } from "../types";

const FILTERS = ["actor", "entity_type", "entity_id", "since", "until"] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

export function AuditPage(props: { location: Location }) {
  const applied = Object.fromEntries(FILTERS.map((name) => [name, props.location.query.get(name) ?? ""])) as Filters;
  const [draft, setDraft] = useState<Filters>(applied);
  useEffect(() => setDraft(applied), [props.location.href]);
  const paged = usePaged<AuditEvent>(
    (nextToken) => get<Page<AuditEvent>>("/v1/audit-events", { ...applied, limit: 50, next_token: nextToken }),
    JSON.stringify(applied),
  );
  const set = (name: keyof Filters) => (value: string) => setDraft((current) => ({ ...current, [name]: value }));
  return (
    <>
      <PageTitle title="Audit log">Audit log</PageTitle>
      <form
        class="filters"
        aria-label="Filter security events"
        onSubmit={(event) => {
          event.preventDefault();
          navigate(withParams("/audit", draft));
        }}
      >
        <TextField label="Actor" value={draft.actor} onInput={set("actor")} placeholder="user id" />
        <TextField label="Entity type" value={draft.entity_type} onInput={set("entity_type")} placeholder="risk_acceptance" />
        <TextField label="Entity id" value={draft.entity_id} onInput={set("entity_id")} />
        <TextField label="Since" value={draft.since} onInput={set("since")} placeholder="2026-01-31T00:00:00Z" />
        <TextField label="Until" value={draft.until} onInput={set("until")} placeholder="2026-02-01T00:00:00Z" />
        <button type="submit">Apply filters</button>
      </form>
      <ErrorBox error={paged.error} onRetry={paged.reload} />
      {paged.loading && !paged.data && <Loading what="security events" />}
      {paged.data && (
        <div class="table-wrap">
          <table>
            <caption>Security events</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Entity</th>
                <th scope="col">From</th>
                <th scope="col">Change</th>
              </tr>
            </thead>
            <tbody>
              {paged.data.items.length === 0 && (
                <tr>
                  <td colSpan={6}>No security events match.</td>
                </tr>
              )}
              {paged.data.items.map((event) => (
                <tr key={event.id}>
                  <td>
                    <Time value={event.occurred_at} />
                  </td>
                  <td>{event.actor ?? "—"}</td>
                  <th scope="row">{event.action}</th>
                  <td>
                    {event.entity_type} {event.entity_id ?? ""}
                  </td>
                  <td>{event.source_ip ?? "—"}</td>
                  <td>
                    {event.before || event.after || (event.details && Object.keys(event.details).length) ? (
                      <details>
                        <summary>Before and after</summary>
                        <pre>{JSON.stringify({ before: event.before, after: event.after, details: event.details }, null, 2)}</pre>
                      </details>
                    ) : (
                      "—"
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager paged={paged} label="Security events" />
    </>
  );
}
