// Response policies: who is told what, through which integrations; create, enable and disable.

import { useState } from "preact/hooks";

import { get, path, post } from "../api";
import {
  Checkbox,
  CreateSection,
  ErrorBox,
  Notice,
  PageTitle,
  PagedTable,
  Select,
  TextArea,
  TextField,
  csv,
  useLoad,
  usePaged,
  useSession,
  useSubmit,
  words,
} from "../components";
import type { Integration, Page, ResponsePolicy } from "../types";
import { SEVERITIES, TRIGGERS } from "../types";

function filtersText(policy: ResponsePolicy): string {
  const filters = policy.filters ?? {};
  const parts: string[] = [];
  if (filters.severity_at_least) parts.push(`${filters.severity_at_least} or worse`);
  if (filters.repositories?.length) parts.push(`repositories ${filters.repositories.join(", ")}`);
  if (filters.fixable_only) parts.push("fixable only");
  return parts.join("; ") || "—";
}

export function ResponsePoliciesPage() {
  const session = useSession();
  const mayManage = session.can("response_policies:manage");
  const [round, setRound] = useState(0);
  const [done, setDone] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const paged = usePaged<ResponsePolicy>(
    (nextToken) => get<Page<ResponsePolicy>>("/v1/response-policies", { limit: 50, next_token: nextToken }),
    `response-policies:${round}`,
  );
  const toggle = async (policy: ResponsePolicy) => {
    setActionError(null);
    const action = policy.enabled ? "disable" : "enable";
    try {
      await post(path`/v1/response-policies/${policy.id}/${action}`, undefined, policy.version);
      setDone(`${policy.name} is ${policy.enabled ? "disabled" : "enabled"}.`);
      setRound((value) => value + 1);
    } catch (error) {
      setActionError(error);
    }
  };
  return (
    <>
      <PageTitle title="Response policies">Response policies</PageTitle>
      <p>When a policy's trigger fires for an object in its scope, each of its outputs sends a notification.</p>
      {done && <Notice>{done}</Notice>}
      <ErrorBox error={actionError} />
      <PagedTable
        paged={paged}
        caption="Response policies"
        loading="response policies"
        columns={["Name", "Trigger", "Scope", "Outputs", "Filters", "Enabled", mayManage && "Actions"]}
        empty="No response policies yet."
        row={(policy) => (
          <tr key={policy.id}>
            <th scope="row">
              {policy.name}
              {policy.description && <small class="muted block">{policy.description}</small>}
            </th>
            <td>{words(policy.trigger)}</td>
            <td>{policy.scope}</td>
            <td>{policy.outputs.map((output) => `${output.output} via ${output.integration}`).join(", ")}</td>
            <td>{filtersText(policy)}</td>
            <td>{policy.enabled ? "Yes" : "No"}</td>
            {mayManage && (
              <td>
                <button type="button" onClick={() => void toggle(policy)}>
                  {policy.enabled ? "Disable" : "Enable"}
                  <span class="visually-hidden"> {policy.name}</span>
                </button>
              </td>
            )}
          </tr>
        )}
      />
      {mayManage && (
        <CreateResponsePolicy
          onCreated={(policy) => {
            setDone(`Created ${policy.name}: it is enabled.`);
            setRound((value) => value + 1);
          }}
        />
      )}
    </>
  );
}

function CreateResponsePolicy(props: { onCreated: (policy: ResponsePolicy) => void }) {
  const session = useSession();
  const integrations = useLoad(
    () =>
      session.can("integrations:read")
        ? get<Page<Integration>>("/v1/integrations", { limit: 200 }).then((page) => page.items)
        : Promise.resolve([] as Integration[]),
    "integrations",
  );
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [trigger, setTrigger] = useState<string>("non_compliant");
  const [scope, setScope] = useState("global");
  const [chosen, setChosen] = useState<string[]>([]);
  const [severity, setSeverity] = useState("");
  const [repositories, setRepositories] = useState("");
  const [fixableOnly, setFixableOnly] = useState(false);
  const submission = useSubmit(async () => {
    const known = integrations.data ?? [];
    if (chosen.length === 0) throw new Error("Choose at least one integration to send through.");
    const outputs = chosen.map((integration) => ({
      integration,
      output: known.find((item) => item.name === integration)?.type ?? "email",
    }));
    const filters: Record<string, unknown> = {};
    if (severity) filters.severity_at_least = severity;
    if (csv(repositories).length) filters.repositories = csv(repositories);
    if (fixableOnly) filters.fixable_only = true;
    const made = await post<ResponsePolicy>("/v1/response-policies", {
      name: name.trim(),
      description,
      trigger,
      scope: scope.trim() || "global",
      outputs,
      filters,
    });
    setName("");
    setDescription("");
    setChosen([]);
    props.onCreated(made);
  });
  return (
    <CreateSection id="new-response-policy" title="New response policy" submission={submission} label="Create response policy">
      <TextField label="Name" value={name} onInput={setName} required />
      <TextArea label="Description" value={description} onInput={setDescription} />
      <Select label="Trigger" value={trigger} onChange={setTrigger} options={TRIGGERS.map((value): [string, string] => [value, words(value)])} />
      <TextField label="Scope" value={scope} onInput={setScope} hint="A scope id; global hears about everything." />
      <fieldset>
        <legend>Send through</legend>
        <ErrorBox error={integrations.error} onRetry={integrations.reload} />
        {integrations.data && integrations.data.length === 0 && <p>No integrations yet: create one on the Integrations page first.</p>}
        {(integrations.data ?? []).map((integration) => (
          <Checkbox
            key={integration.name}
            label={`${integration.name} (${integration.type})`}
            checked={chosen.includes(integration.name)}
            onChange={(checked) => setChosen(checked ? [...chosen, integration.name] : chosen.filter((item) => item !== integration.name))}
          />
        ))}
      </fieldset>
      <fieldset>
        <legend>Only when</legend>
        <Select
          label="Severity at least"
          value={severity}
          onChange={setSeverity}
          options={[["", "Any severity"], ...SEVERITIES.map((value): [string, string] => [value, value])]}
        />
        <TextField label="Repositories" value={repositories} onInput={setRepositories} hint="Comma-separated globs, e.g. team-a/*; empty: all." />
        <Checkbox label="Fixable vulnerabilities only" checked={fixableOnly} onChange={setFixableOnly} />
      </fieldset>
    </CreateSection>
  );
}
