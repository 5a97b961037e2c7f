// One risk acceptance: what, where, until when, why, its history, the images it covers now.

import { useState } from "preact/hooks";

import { get, path } from "../api";
import { Crumbs, ErrorBox, Link, NotLoaded, Notice, PageTitle, Section, StatusBadge, Table, Time, useLoad, useSession, words } from "../components";
import type { RiskAcceptanceDetail } from "../types";
import { endText, ExtendDialog, findingText, RevokeDialog, scopeText } from "./acceptances";

export function AcceptancePage(props: { id: string }) {
  const session = useSession();
  const acceptance = useLoad(() => get<RiskAcceptanceDetail>(path`/v1/risk-acceptances/${props.id}`), props.id);
  const [dialog, setDialog] = useState<"revoke" | "extend" | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const shown = acceptance.data;
  if (!shown) return <NotLoaded title="Risk acceptance" loaded={acceptance} what="the acceptance" />;
  const changed = (text: string) => {
    setDialog(null);
    setDone(text);
    acceptance.reload();
  };
  return (
    <>
      <Crumbs href="/risk-acceptances" label="Risk acceptances" />
      <PageTitle title={`Acceptance of ${shown.finding.id}`}>Acceptance of {findingText(shown)}</PageTitle>
      <ErrorBox error={acceptance.error} />
      {done && <Notice>{done}</Notice>}
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={shown.status} />
          {shown.ended_reason && <span class="muted"> — {shown.ended_reason}</span>}
        </dd>
        <dt>Finding</dt>
        <dd>
          {words(shown.finding.kind)} {findingText(shown)}
        </dd>
        <dt>Scope</dt>
        <dd>
          {shown.scope.image ? (
            <Link href={`/images/${encodeURIComponent(shown.scope.image)}`}>{scopeText(shown)}</Link>
          ) : (
            scopeText(shown)
          )}
        </dd>
        <dt>Period</dt>
        <dd>
          {words(shown.period)}; ends {shown.expires_at ? <Time value={shown.expires_at} /> : endText(shown)}
        </dd>
        <dt>Accepted</dt>
        <dd>
          by {shown.accepted_by}, <Time value={shown.accepted_at} />
        </dd>
        <dt>Why</dt>
        <dd class="reason">{shown.reason}</dd>
        {shown.extended_at && (
          <>
            <dt>Extended</dt>
            <dd>
              by {shown.extended_by}, <Time value={shown.extended_at} />
            </dd>
          </>
        )}
        {shown.revoked_at && (
          <>
            <dt>Revoked</dt>
            <dd>
              by {shown.revoked_by}, <Time value={shown.revoked_at} />
              {shown.revoke_reason ? `: ${shown.revoke_reason}` : ""}
            </dd>
          </>
        )}
        <dt>Stale</dt>
        <dd>{shown.stale ? `Yes — ${shown.stale_reasons.join("; ")}` : "No"}</dd>
      </dl>
      {session.can("risks:accept") && shown.status === "active" && (
        <div class="buttons">
          <button type="button" onClick={() => setDialog("revoke")}>
            Revoke
          </button>
          <button type="button" onClick={() => setDialog("extend")}>
            Extend
          </button>
        </div>
      )}
      <Section id="covered-heading" title="Images it covers">
        <Table
          caption="Covered images"
          columns={["Image", "Digest", { num: "Findings it matches" }, { num: "Accepted by it" }]}
          empty={
            shown.covered_images.length === 0 && (shown.status === "active" ? "No image has this finding now." : "None: it is no longer in force.")
          }
        >
          {shown.covered_images.map((image) => (
            <tr key={image.image_id}>
              <th scope="row">
                <Link href={`/images/${encodeURIComponent(image.image_id)}`}>
                  {image.registry}/{image.repository}
                  {image.tags.length ? `:${image.tags.join(", ")}` : ""}
                </Link>
              </th>
              <td>
                <code class="wrap">{image.digest ?? "—"}</code>
              </td>
              <td class="num">{image.findings}</td>
              <td class="num">{image.accepted}</td>
            </tr>
          ))}
        </Table>
        {shown.covered_images_truncated && <p class="muted">More images are covered than shown here.</p>}
      </Section>
      {dialog === "revoke" && <RevokeDialog acceptance={shown} onClose={() => setDialog(null)} onDone={changed} />}
      {dialog === "extend" && <ExtendDialog acceptance={shown} onClose={() => setDialog(null)} onDone={changed} />}
    </>
  );
}
