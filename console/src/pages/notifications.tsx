// Notifications: the delivery log of response policies.

import { get } from "../api";
import { Filters, Link, PageTitle, PagedTable, Select, StatusBadge, Time, usePaged, words } from "../components";
import { type Location, navigate, withParams } from "../router";
import type { Notification, Page } from "../types";
import { TRIGGERS } from "../types";

function subjectLink(notification: Notification) {
  const subject = notification.subject;
  if (subject.type === "image") return <Link href={`/images/${encodeURIComponent(subject.id)}`}>image {subject.id}</Link>;
  if (subject.type === "risk_acceptance")
    return <Link href={`/risk-acceptances/${encodeURIComponent(subject.id)}`}>acceptance {subject.id}</Link>;
  return `${words(subject.type)} ${subject.id}`;
}

export function NotificationsPage(props: { location: Location }) {
  const status = props.location.query.get("status") ?? "";
  const trigger = props.location.query.get("trigger") ?? "";
  const paged = usePaged<Notification>(
    (nextToken) => get<Page<Notification>>("/v1/notifications", { status, trigger, limit: 50, next_token: nextToken }),
    `${status}:${trigger}`,
  );
  return (
    <>
      <PageTitle title="Notifications">Notifications</PageTitle>
      <Filters label="Filter notifications">
        <Select
          label="Status"
          value={status}
          onChange={(value) => navigate(withParams("/notifications", { status: value, trigger }))}
          options={[
            ["", "Any status"],
            ["sent", "Sent"],
            ["failed", "Failed"],
            ["pending", "Pending"],
            ["sending", "Sending"],
          ]}
        />
        <Select
          label="Trigger"
          value={trigger}
          onChange={(value) => navigate(withParams("/notifications", { status, trigger: value }))}
          options={[["", "Any trigger"], ...TRIGGERS.map((value): [string, string] => [value, words(value)])]}
        />
      </Filters>
      <PagedTable
        paged={paged}
        caption="Notifications"
        loading="notifications"
        columns={["Created", "Policy", "Trigger", "About", "Through", "Status", { num: "Attempts" }, "Last error", "Sent"]}
        empty={`No notifications${status || trigger ? " match these filters" : " yet"}.`}
        row={(notification) => (
          <tr key={notification.id}>
            <td>
              <Time value={notification.created_at} />
            </td>
            <th scope="row">{notification.policy_name ?? notification.policy_id}</th>
            <td>{words(notification.trigger)}</td>
            <td>{subjectLink(notification)}</td>
            <td>
              {notification.output ?? "?"} via {notification.integration}
            </td>
            <td>
              <StatusBadge status={notification.status} />
            </td>
            <td class="num">{notification.attempts ?? 0}</td>
            <td class="wrap">{notification.last_error ?? "—"}</td>
            <td>
              <Time value={notification.sent_at} />
            </td>
          </tr>
        )}
      />
    </>
  );
}
