// Assurance policies: the list, and one policy's form (create, edit conditions, enforce or dry-run).

import { useEffect, useState } from "preact/hooks";

import { get, patch, path, post, remove } from "../api";
import {
  Checkbox,
  Crumbs,
  ErrorBox,
  FormDialog,
  Link,
  NotLoaded,
  Notice,
  PageTitle,
  PagedTable,
  Select,
  SubmitButton,
  TextArea,
  TextField,
  Time,
  csv,
  useLoad,
  usePaged,
  useSession,
  useSubmit,
} from "../components";
import { navigate } from "../router";
import type { AssurancePolicy, Conditions, Page } from "../types";
import { SEVERITIES } from "../types";

export function conditionsText(conditions: Conditions): string {
  const parts: string[] = [];
  if (conditions.severity_at_least) {
    const more = conditions.max_count ? `more than ${conditions.max_count} ` : "any ";
    parts.push(`${more}${conditions.severity_at_least}+ vulnerability`);
  }
  if (conditions.cvss_at_least !== undefined && conditions.cvss_at_least !== null) parts.push(`CVSS ≥ ${conditions.cvss_at_least}`);
  if (conditions.vulnerability_ids?.length) parts.push(`vulnerabilities ${conditions.vulnerability_ids.join(", ")}`);
  if (conditions.packages?.length) parts.push(`packages ${conditions.packages.join(", ")}`);
  if (conditions.malware) parts.push("malware");
  if (conditions.sensitive_data) parts.push("sensitive data");
  if (conditions.misconfiguration_severity_at_least) parts.push(`${conditions.misconfiguration_severity_at_least}+ misconfiguration`);
  const text = parts.join("; ") || "no condition";
  return conditions.fixable_only ? `${text} (fixable only)` : text;
}

function progress(policy: AssurancePolicy): string {
  const run = policy.reevaluation;
  if (!run) return "—";
  if (run.finished_at) return `done (${run.total ?? 0} images)`;
  return `${run.done ?? 0} of ${run.total ?? "?"} images`;
}

export function PoliciesPage() {
  const session = useSession();
  const paged = usePaged<AssurancePolicy>(
    (nextToken) => get<Page<AssurancePolicy>>("/v1/assurance-policies", { limit: 50, next_token: nextToken }),
    "policies",
  );
  return (
    <>
      <PageTitle title="Assurance policies">Assurance policies</PageTitle>
      <p>An image is non-compliant when an enabled, enforced policy of its scope fails. Dry-run policies are reported only.</p>
      {session.can("assurance_policies:manage") && (
        <p>
          <Link href="/assurance-policies/new" class="button">
            New policy
          </Link>
        </p>
      )}
      <PagedTable
        paged={paged}
        caption="Assurance policies"
        loading="policies"
        columns={["Name", "Scope", "Mode", "Enabled", "Fails on", "Blocks CI", "Re-evaluation"]}
        row={(policy) => (
          <tr key={policy.id}>
            <th scope="row">
              <Link href={`/assurance-policies/${encodeURIComponent(policy.id)}`}>{policy.name}</Link>
            </th>
            <td>{policy.scope}</td>
            <td>{policy.mode === "dry_run" ? "Dry run" : "Enforce"}</td>
            <td>{policy.enabled ? "Yes" : "No"}</td>
            <td>{conditionsText(policy.conditions)}</td>
            <td>{policy.actions.includes("block_ci") ? "Yes" : "No"}</td>
            <td>{progress(policy)}</td>
          </tr>
        )}
      />
    </>
  );
}

interface Draft {
  name: string;
  description: string;
  scope: string;
  mode: string;
  enabled: boolean;
  blockCi: boolean;
  severity: string;
  maxCount: string;
  cvss: string;
  vulnerabilityIds: string;
  packages: string;
  malware: boolean;
  sensitiveData: boolean;
  misconfiguration: string;
  fixableOnly: boolean;
}

const EMPTY: Draft = {
  name: "",
  description: "",
  scope: "global",
  mode: "enforce",
  enabled: true,
  blockCi: true,
  severity: "",
  maxCount: "",
  cvss: "",
  vulnerabilityIds: "",
  packages: "",
  malware: false,
  sensitiveData: false,
  misconfiguration: "",
  fixableOnly: false,
};

function draftOf(policy: AssurancePolicy): Draft {
  const c = policy.conditions;
  return {
    name: policy.name,
    description: policy.description ?? "",
    scope: policy.scope,
    mode: policy.mode,
    enabled: policy.enabled,
    blockCi: policy.actions.includes("block_ci"),
    severity: c.severity_at_least ?? "",
    maxCount: c.severity_at_least && c.max_count ? String(c.max_count) : "",
    cvss: c.cvss_at_least === undefined || c.cvss_at_least === null ? "" : String(c.cvss_at_least),
    vulnerabilityIds: (c.vulnerability_ids ?? []).join(", "),
    packages: (c.packages ?? []).join(", "),
    malware: Boolean(c.malware),
    sensitiveData: Boolean(c.sensitive_data),
    misconfiguration: c.misconfiguration_severity_at_least ?? "",
    fixableOnly: Boolean(c.fixable_only),
  };
}

function conditionsOf(draft: Draft): Conditions {
  const conditions: Conditions = {};
  if (draft.severity) {
    conditions.severity_at_least = draft.severity;
    conditions.max_count = draft.maxCount ? Number(draft.maxCount) : 0;
  }
  if (draft.cvss) conditions.cvss_at_least = Number(draft.cvss);
  if (csv(draft.vulnerabilityIds).length) conditions.vulnerability_ids = csv(draft.vulnerabilityIds);
  if (csv(draft.packages).length) conditions.packages = csv(draft.packages);
  if (draft.malware) conditions.malware = true;
  if (draft.sensitiveData) conditions.sensitive_data = true;
  if (draft.misconfiguration) conditions.misconfiguration_severity_at_least = draft.misconfiguration;
  if (draft.fixableOnly) conditions.fixable_only = true;
  return conditions;
}

const SEVERITY_OPTIONS: [string, string][] = [["", "Not a condition"], ...SEVERITIES.map((s): [string, string] => [s, `${s} or worse`])];

export function PolicyPage(props: { id: string | null }) {
  const session = useSession();
  const mayManage = session.can("assurance_policies:manage");
  const creating = props.id === null;
  const loaded = useLoad(
    () => (props.id ? get<AssurancePolicy>(path`/v1/assurance-policies/${props.id}`) : Promise.resolve(null)),
    props.id ?? "new",
  );
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [version, setVersion] = useState<number | undefined>(undefined);
  const [saved, setSaved] = useState<string | null>(null);
  const [deleting, setDeleting] = useState(false);
  // The form starts from the policy as read; later reads (after saving) do not overwrite what is typed.
  useEffect(() => {
    if (loaded.data && version === undefined) {
      setDraft(draftOf(loaded.data));
      setVersion(loaded.data.version);
    }
  }, [loaded.data]);
  const set = <K extends keyof Draft>(name: K) => (value: Draft[K]) => setDraft((current) => ({ ...current, [name]: value }));

  const { busy, error, submit } = useSubmit(async () => {
    const body = {
      name: draft.name.trim(),
      description: draft.description,
      scope: draft.scope.trim() || "global",
      mode: draft.mode,
      enabled: draft.enabled,
      actions: draft.blockCi ? ["block_ci"] : [],
      conditions: conditionsOf(draft),
    };
    if (creating) {
      const made = await post<AssurancePolicy>("/v1/assurance-policies", body);
      navigate(`/assurance-policies/${encodeURIComponent(made.id)}`);
      return;
    }
    const updated = await patch<AssurancePolicy>(path`/v1/assurance-policies/${props.id ?? ""}`, body, version);
    setVersion(updated.version);
    setSaved(`Saved (version ${updated.version}). Images in its scope are being judged again.`);
    loaded.reload();
  });

  if (!creating && !loaded.data) return <NotLoaded title="Assurance policy" loaded={loaded} what="the policy" />;
  if (creating && !mayManage) {
    return (
      <>
        <PageTitle title="New assurance policy">New assurance policy</PageTitle>
        <p>Your token may not create assurance policies.</p>
      </>
    );
  }
  const title = creating ? "New assurance policy" : (loaded.data?.name ?? "Assurance policy");
  return (
    <>
      <Crumbs href="/assurance-policies" label="Assurance policies" />
      <PageTitle title={title}>{title}</PageTitle>
      {loaded.data && (
        <p class="muted">
          Version {loaded.data.version}
          {loaded.data.updated_at && (
            <>
              , changed <Time value={loaded.data.updated_at} /> by {loaded.data.updated_by}
            </>
          )}
          {loaded.data.reevaluation && `; re-evaluation: ${progress(loaded.data)}`}
        </p>
      )}
      {saved && <Notice>{saved}</Notice>}
      <form onSubmit={submit} aria-label="Assurance policy">
        <fieldset disabled={!mayManage} class="plain">
          <TextField label="Name" value={draft.name} onInput={set("name")} required />
          <TextArea label="Description" value={draft.description} onInput={set("description")} />
          <TextField label="Scope" value={draft.scope} onInput={set("scope")} hint="A scope id; global judges every image." />
          <Select
            label="Mode"
            value={draft.mode}
            onChange={set("mode")}
            options={[
              ["enforce", "Enforce: failing makes the image non-compliant"],
              ["dry_run", "Dry run: reported only, changes nothing"],
            ]}
          />
          <Checkbox label="Enabled" checked={draft.enabled} onChange={set("enabled")} />
          <Checkbox label="Block CI builds of failing images" checked={draft.blockCi} onChange={set("blockCi")} />
          <fieldset>
            <legend>Conditions (the policy fails when any holds)</legend>
            <Select label="Vulnerability severity" value={draft.severity} onChange={set("severity")} options={SEVERITY_OPTIONS} />
            {draft.severity && (
              <TextField
                label="Allowed vulnerabilities of that severity"
                type="number"
                min="0"
                value={draft.maxCount}
                onInput={set("maxCount")}
                hint="Fails when there are more than this many (0: any one fails)."
              />
            )}
            <TextField label="CVSS score at least" type="number" value={draft.cvss} onInput={set("cvss")} hint="0 to 10; empty: not a condition." />
            <TextField label="Vulnerability ids" value={draft.vulnerabilityIds} onInput={set("vulnerabilityIds")} hint="Comma-separated, e.g. CVE-2021-44228." />
            <TextField label="Packages" value={draft.packages} onInput={set("packages")} hint="Comma-separated globs, e.g. log4j-*." />
            <Checkbox label="Malware found" checked={draft.malware} onChange={set("malware")} />
            <Checkbox label="Sensitive data found" checked={draft.sensitiveData} onChange={set("sensitiveData")} />
            <Select label="Misconfiguration severity" value={draft.misconfiguration} onChange={set("misconfiguration")} options={SEVERITY_OPTIONS} />
            <Checkbox label="Count only vulnerabilities with a fix" checked={draft.fixableOnly} onChange={set("fixableOnly")} />
          </fieldset>
        </fieldset>
        <ErrorBox error={error} />
        {mayManage && (
          <div class="buttons">
            <SubmitButton label={creating ? "Create policy" : "Save policy"} busy={busy} busyLabel="Saving…" />
            {!creating && (
              <button type="button" class="danger" onClick={() => setDeleting(true)}>
                Delete policy
              </button>
            )}
          </div>
        )}
      </form>
      {deleting && props.id && <DeletePolicy id={props.id} name={draft.name} version={version} onClose={() => setDeleting(false)} />}
    </>
  );
}

function DeletePolicy(props: { id: string; name: string; version?: number; onClose: () => void }) {
  const submission = useSubmit(async () => {
    await remove(path`/v1/assurance-policies/${props.id}`, props.version);
    navigate("/assurance-policies");
  });
  return (
    <FormDialog title={`Delete ${props.name || "the policy"}?`} onClose={props.onClose} submission={submission} label="Delete" danger>
      <p>Images in its scope are judged again without it.</p>
    </FormDialog>
  );
}

