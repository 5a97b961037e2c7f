// The security event log: every change, by whom, when, from where, before and after.

import { get } from "../api";
import { Filters, PageTitle, PagedTable, TextField, Time, usePaged } from "../components";
import { type Location, navigate, useFilters, withParams } from "../router";
import type { AuditEvent, Page } from "../types";

export function AuditPage(props: { location: Location }) {
  const { applied, draft, set } = useFilters(props.location, ["actor", "entity_type", "entity_id", "since", "until"]);
  const paged = usePaged<AuditEvent>(
    (nextToken) => get<Page<AuditEvent>>("/v1/audit-events", { ...applied, limit: 50, next_token: nextToken }),
    JSON.stringify(applied),
  );
  return (
    <>
      <PageTitle title="Audit log">Audit log</PageTitle>
      <Filters label="Filter security events" onApply={() => navigate(withParams("/audit", draft))}>
        <TextField label="Actor" value={draft.actor} onInput={set("actor")} placeholder="user id" />
        <TextField label="Entity type" value={draft.entity_type} onInput={set("entity_type")} placeholder="risk_acceptance" />
        <TextField label="Entity id" value={draft.entity_id} onInput={set("entity_id")} />
        <TextField label="Since" value={draft.since} onInput={set("since")} placeholder="2026-01-31T00:00:00Z" />
        <TextField label="Until" value={draft.until} onInput={set("until")} placeholder="2026-02-01T00:00:00Z" />
      </Filters>
      <PagedTable
        paged={paged}
        caption="Security events"
        loading="security events"
        columns={["When", "Actor", "Action", "Entity", "From", "Change"]}
        empty="No security events match."
        row={(event) => (
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
        )}
      />
    </>
  );
}
