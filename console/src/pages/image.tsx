// One image: its status and verdict (kept current while the page is open), its findings with "Accept
// risk", its decision records and scan history.

import { useEffect, useState } from "preact/hooks";

import { ApiError, get, path, post } from "../api";
import {
  Crumbs,
  ErrorBox,
  Filters,
  FormDialog,
  Link,
  Loading,
  NotLoaded,
  Notice,
  PageTitle,
  PagedTable,
  Section,
  Select,
  SeverityBadge,
  StatusBadge,
  TextArea,
  Time,
  imageReference,
  severityCount,
  useLoad,
  usePaged,
  useSession,
  useSubmit,
  words,
} from "../components";
import { PeriodFields, usePeriod } from "../period";
import { type Location, navigate, withParams } from "../router";
import type { DecisionRecord, Finding, Image, ImageVerdict, Page, RiskAcceptance, Scan, VerdictReason } from "../types";
import { FINDING_KINDS, SEVERITIES } from "../types";

// The image's status follows the stream's evaluation: read it again this often while the page is open.
const REFRESH_MILLISECONDS = 3000;

export function ImagePage(props: { id: string; location: Location }) {
  const { id } = props;
  const session = useSession();
  const image = useLoad(() => get<Image>(path`/v1/images/${id}`), id);
  const verdict = useLoad(
    () =>
      get<ImageVerdict>(path`/v1/images/${id}/verdict`).catch((error: unknown) => {
        // Not scanned yet (or nothing to judge): no verdict, not an error of the page.
        if (error instanceof ApiError && (error.status === 404 || error.status === 409)) return null;
        throw error;
      }),
    id,
  );
  const [done, setDone] = useState<string | null>(null);
  const [findingsRound, setFindingsRound] = useState(0);

  useEffect(() => {
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") {
        image.reload();
        verdict.reload();
      }
    }, REFRESH_MILLISECONDS);
    return () => window.clearInterval(timer);
  }, [id]);

  if (!image.data) return <NotLoaded title="Image" loaded={image} what="the image" />;
  const shown = image.data;
  const reference = imageReference(shown);
  const accepted = (text: string) => {
    setDone(text);
    setFindingsRound((value) => value + 1);
    image.reload();
    verdict.reload();
  };
  return (
    <>
      <Crumbs href="/images" label="Images" />
      <PageTitle title={reference}>{reference}</PageTitle>
      <ErrorBox error={image.error} />
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <span aria-live="polite" data-testid="image-status">
            <StatusBadge status={shown.status} />
          </span>
          {shown.verdict?.block && shown.status === "non_compliant" && <span class="muted"> — blocks CI builds</span>}
        </dd>
        <dt>Tags</dt>
        <dd>{shown.tags.length ? shown.tags.join(", ") : "—"}</dd>
        <dt>Digest</dt>
        <dd>
          <code class="wrap">{shown.digest ?? "—"}</code>
        </dd>
        <dt>Findings</dt>
        <dd>
          {SEVERITIES.map((severity) => `${severityCount(shown.counts, severity)} ${severity}`).join(", ")}; {shown.counts?.sensitive_data ?? 0} secrets,{" "}
          {shown.counts?.malware ?? 0} malware, {shown.counts?.misconfigurations ?? 0} misconfigurations; {shown.counts?.accepted ?? 0} accepted
        </dd>
        <dt>Last scan</dt>
        <dd>
          <Time value={shown.last_scan_at} /> ({shown.scan_count} scans)
        </dd>
        <dt>Evaluated</dt>
        <dd>
          <Time value={shown.evaluated_at} />
        </dd>
      </dl>
      {done && <Notice>{done}</Notice>}

      <Section id="verdict-heading" title="Verdict">
        <ErrorBox error={verdict.error} />
        {verdict.data ? <VerdictView verdict={verdict.data} /> : verdict.loading ? <Loading what="the verdict" /> : <p>No verdict yet: the image has no scan.</p>}
      </Section>

      <FindingsSection
        image={shown}
        location={props.location}
        round={findingsRound}
        mayAccept={session.can("risks:accept")}
        onAccepted={accepted}
      />
      <DecisionRecords id={id} />
      <ScanHistory id={id} />
    </>
  );
}

function ReasonList(props: { reasons: VerdictReason[] }) {
  return (
    <ul class="reasons">
      {props.reasons.map((reason, index) => (
        <li key={index}>
          <strong>{reason.policy_name}</strong>: {words(reason.condition)} — {reason.findings_total} finding
          {reason.findings_total === 1 ? "" : "s"}
          {reason.findings.length > 0 && (
            <ul>
              {reason.findings.slice(0, 5).map((finding) => (
                <li key={`${finding.kind}:${finding.id}:${finding.package ?? ""}`}>
                  <SeverityBadge severity={finding.severity} /> {finding.id}
                  {finding.package ? ` in ${finding.package} ${finding.installed_version ?? ""}` : ""}
                  {finding.fixed_version ? ` (fixed in ${finding.fixed_version})` : ""}
                </li>
              ))}
              {reason.findings_total > 5 && <li>… and {reason.findings_total - 5} more</li>}
            </ul>
          )}
        </li>
      ))}
    </ul>
  );
}

function VerdictView(props: { verdict: ImageVerdict }) {
  const { verdict } = props;
  return (
    <div>
      <p>
        Under the policies in force now: <StatusBadge status={verdict.status} />
        {verdict.block ? " — a CI build of it is blocked." : " — CI builds pass."} <small class="muted">(judged <Time value={verdict.evaluated_at} />)</small>
      </p>
      {verdict.reasons.length > 0 ? (
        <>
          <h3>Why</h3>
          <ReasonList reasons={verdict.reasons} />
        </>
      ) : (
        <p>No policy fails.</p>
      )}
      {verdict.dry_run.length > 0 && (
        <>
          <h3>Dry-run policies (reported, not enforced)</h3>
          <ReasonList reasons={verdict.dry_run} />
        </>
      )}
      {verdict.acceptances.length > 0 && (
        <p>
          Accepted risks taken into account:{" "}
          {verdict.acceptances.map((acceptance, index) => {
            const acceptanceId = String(acceptance.acceptance_id ?? "");
            return (
              <span key={acceptanceId}>
                {index > 0 && ", "}
                <Link href={`/risk-acceptances/${encodeURIComponent(acceptanceId)}`}>{acceptanceId}</Link>
              </span>
            );
          })}
        </p>
      )}
      <p class="muted">Policies: {verdict.policies.map((policy) => `${policy.name} (v${policy.version})`).join("; ") || "none"}</p>
    </div>
  );
}

function FindingsSection(props: { image: Image; location: Location; round: number; mayAccept: boolean; onAccepted: (text: string) => void }) {
  const { image, location } = props;
  const filters = {
    kind: location.query.get("kind") ?? "",
    severity: location.query.get("severity") ?? "",
    fixable: location.query.get("fixable") ?? "",
  };
  const [accepting, setAccepting] = useState<Finding | null>(null);
  const paged = usePaged<Finding>(
    (nextToken) =>
      get<Page<Finding>>(path`/v1/images/${image.id}/findings`, {
        kind: filters.kind,
        severity: filters.severity,
        fixable: filters.fixable,
        limit: 50,
        next_token: nextToken,
      }),
    `${image.id}:${JSON.stringify(filters)}:${props.round}`,
  );
  const setFilter = (name: keyof typeof filters, value: string) =>
    navigate(withParams(location.path, { ...filters, [name]: value }), { replace: true });

  return (
    <Section id="findings-heading" title="Findings">
      <Filters label="Filter findings">
        <Select
          label="Kind"
          value={filters.kind}
          onChange={(value) => setFilter("kind", value)}
          options={[["", "Any kind"], ...FINDING_KINDS.map((kind): [string, string] => [kind, words(kind)])]}
        />
        <Select
          label="Severity"
          value={filters.severity}
          onChange={(value) => setFilter("severity", value)}
          options={[["", "Any severity"], ...SEVERITIES.map((severity): [string, string] => [severity, severity])]}
        />
        <Select
          label="Fixable"
          value={filters.fixable}
          onChange={(value) => setFilter("fixable", value)}
          options={[
            ["", "Fixable or not"],
            ["true", "Fix available"],
            ["false", "No fix yet"],
          ]}
        />
      </Filters>
      <PagedTable
        paged={paged}
        caption="Findings"
        loading="findings"
        columns={["Kind", "Severity", "ID", "Package", "Installed → fixed", "Accepted", props.mayAccept && "Actions"]}
        empty={`No findings${filters.kind || filters.severity || filters.fixable ? " match these filters" : ""}.`}
        row={(finding, index) => (
          <tr key={`${finding.kind}:${finding.id}:${finding.package ?? ""}:${finding.installed_version ?? ""}:${index}`}>
            <td>{words(finding.kind)}</td>
            <td>
              <SeverityBadge severity={finding.severity} />
            </td>
            <th scope="row">
              {finding.id}
              {finding.title && <small class="muted block">{finding.title}</small>}
            </th>
            <td>{finding.package ?? finding.location ?? "—"}</td>
            <td>
              {finding.installed_version ?? "—"} → {finding.fixed_version ?? (finding.kind === "vulnerability" ? "no fix yet" : "—")}
            </td>
            <td>
              {finding.accepted ? (
                <Link href={`/risk-acceptances/${encodeURIComponent(finding.accepted.acceptance_id)}`}>
                  Yes{finding.accepted.expires_at ? `, until ${finding.accepted.expires_at.slice(0, 10)}` : ""}
                </Link>
              ) : (
                "No"
              )}
            </td>
            {props.mayAccept && (
              <td>
                {!finding.accepted && (
                  <button type="button" onClick={() => setAccepting(finding)}>
                    Accept risk<span class="visually-hidden"> of {finding.id}{finding.package ? ` in ${finding.package}` : ""}</span>
                  </button>
                )}
              </td>
            )}
          </tr>
        )}
      />
      {accepting && (
        <AcceptDialog
          image={image}
          finding={accepting}
          onClose={() => setAccepting(null)}
          onAccepted={(text) => {
            setAccepting(null);
            props.onAccepted(text);
          }}
        />
      )}
    </Section>
  );
}

type ScopeChoice = "image" | "repository" | "all";

function AcceptDialog(props: { image: Image; finding: Finding; onClose: () => void; onAccepted: (text: string) => void }) {
  const { image, finding } = props;
  const [scope, setScope] = useState<ScopeChoice>("image");
  const period = usePeriod();
  const [reason, setReason] = useState("");
  const repository = `${image.registry}/${image.repository}`;
  const submission = useSubmit(async () => {
    if (!reason.trim()) throw new Error("Say why the risk may stay: the reason is required.");
    const where = scope === "image" ? { image: image.id } : scope === "repository" ? { repository } : { all: true };
    const what =
      finding.kind === "vulnerability" && finding.package
        ? { kind: finding.kind, id: finding.id, package: finding.package, version: finding.installed_version ?? undefined }
        : { kind: finding.kind, id: finding.id };
    const made = await post<RiskAcceptance>("/v1/risk-acceptances", {
      finding: what,
      scope: where,
      reason: reason.trim(),
      ...period.body(),
    });
    const ends = made.expires_at ? `until ${made.expires_at.slice(0, 10)}` : made.period === "until_fixed" ? "until fixed" : "indefinitely";
    props.onAccepted(`Accepted ${finding.id} ${ends} (${made.id}).`);
  });
  const scopeName = "accept-scope";
  return (
    <FormDialog title={`Accept risk: ${finding.id}`} onClose={props.onClose} submission={submission} label="Accept" busyLabel="Accepting…">
      <p>
        <SeverityBadge severity={finding.severity} /> {words(finding.kind)} {finding.id}
        {finding.package ? ` in ${finding.package} ${finding.installed_version ?? ""}` : ""}
      </p>
      <fieldset>
        <legend>Scope</legend>
        {(
          [
            ["image", `This image (${imageReference(image)})`],
            ["repository", `Every tag of the repository (${repository})`],
            ["all", "Everywhere in my scopes"],
          ] as [ScopeChoice, string][]
        ).map(([value, label]) => (
          <label key={value} class="choice">
            <input type="radio" name={scopeName} value={value} checked={scope === value} onChange={() => setScope(value)} /> {label}
          </label>
        ))}
      </fieldset>
      <PeriodFields choice={period} />
      <TextArea label="Reason" value={reason} onInput={setReason} required hint="Why the risk may stay; shown with the acceptance and in exports." />
    </FormDialog>
  );
}

/** One of the image's histories, newest first, ten at a time: its decision records ("verdicts") or scans. */
function useHistory<T>(id: string, list: "verdicts" | "scans") {
  return usePaged<T>((nextToken) => get<Page<T>>(path`/v1/images/${id}/${list}`, { limit: 10, next_token: nextToken }), id);
}

function DecisionRecords(props: { id: string }) {
  const paged = useHistory<DecisionRecord>(props.id, "verdicts");
  return (
    <Section id="decisions-heading" title="Decision records">
      <PagedTable
        paged={paged}
        caption="Decision records"
        columns={["Scan received", "Status", "Blocked", "Failing policies", "Policies used", { num: "Acceptances" }, "Submitted by"]}
        row={(record) => (
          <tr key={record.scan_id}>
            <td>
              <Time value={record.received_at} />
            </td>
            <td>
              <StatusBadge status={record.status} />
            </td>
            <td>{record.block ? "Yes" : "No"}</td>
            <td>{record.reasons.map((reason) => `${reason.policy_name}: ${words(reason.condition)}`).join("; ") || "—"}</td>
            <td>{record.policies.map((policy) => `${policy.name} v${policy.version}`).join("; ")}</td>
            <td class="num">{record.acceptances.length}</td>
            <td>{record.submitted_by}</td>
          </tr>
        )}
      />
    </Section>
  );
}

function ScanHistory(props: { id: string }) {
  const paged = useHistory<Scan>(props.id, "scans");
  return (
    <Section id="scans-heading" title="Scan history">
      <PagedTable
        paged={paged}
        caption="Scans"
        columns={["Received", "Scanner", { num: "Findings" }, { num: "Critical" }, { num: "High" }, "Verdict then", "Submitted by"]}
        row={(scan) => (
          <tr key={scan.scan_id}>
            <td>
              <Time value={scan.received_at} />
            </td>
            <td>
              {scan.scanner ?? scan.format} {scan.scanner_version ?? ""}
            </td>
            <td class="num">{scan.finding_count}</td>
            <td class="num">{severityCount(scan.counts, "critical")}</td>
            <td class="num">{severityCount(scan.counts, "high")}</td>
            <td>
              <StatusBadge status={scan.verdict.status} />
            </td>
            <td>{scan.submitted_by}</td>
          </tr>
        )}
      />
    </Section>
  );
}
