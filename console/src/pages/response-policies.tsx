// Response policies: who is told what, through which integrations; create, edit, enable and disable.

import { useState } from "preact/hooks";

import { get, patchChanges, path, post } from "../api";
import {
  Checkbox,
  CreateSection,
  ErrorBox,
  FormDialog,
  Notice,
  PageTitle,
  PagedTable,
  Select,
  TextArea,
  TextField,
  csv,
  useEditing,
  useLoad,
  usePaged,
  useSession,
  useSubmit,
  words,
} from "../components";
import type { Loaded } from "../components";
import type { Integration, Output, Page, ResponseFilters, ResponsePolicy } from "../types";
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
  const editing = useEditing<ResponsePolicy>((text) => {
    setDone(text);
    setRound((value) => value + 1);
  });
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
              <td class="actions">
                <button
                  type="button"
                  onClick={() => {
                    setActionError(null);
                    editing.open(policy);
                  }}
                >
                  Edit<span class="visually-hidden"> {policy.name}</span>
                </button>
                <button type="button" onClick={() => void toggle(policy)}>
                  {policy.enabled ? "Disable" : "Enable"}
                  <span class="visually-hidden"> {policy.name}</span>
                </button>
              </td>
            )}
          </tr>
        )}
      />
      {editing.item && <EditResponsePolicy policy={editing.item} onClose={editing.close} onSaved={editing.saved} />}
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

// --- the fields a policy is made of: one form for creating and editing -------------------------------

interface Draft {
  name: string;
  description: string;
  trigger: string;
  scope: string;
  /** The integrations sent through, in order. */
  chosen: string[];
  severity: string;
  repositories: string;
  fixableOnly: boolean;
}

const EMPTY: Draft = {
  name: "",
  description: "",
  trigger: "non_compliant",
  scope: "global",
  chosen: [],
  severity: "",
  repositories: "",
  fixableOnly: false,
};

function draftOf(policy: ResponsePolicy): Draft {
  const filters = policy.filters ?? {};
  return {
    name: policy.name,
    description: policy.description ?? "",
    trigger: policy.trigger,
    scope: policy.scope,
    chosen: policy.outputs.map((output) => output.integration).filter((name, index, all) => all.indexOf(name) === index),
    severity: filters.severity_at_least ?? "",
    repositories: (filters.repositories ?? []).join(", "),
    fixableOnly: Boolean(filters.fixable_only),
  };
}

/** An integration that may be chosen as an output: its name and type. */
interface Choice {
  name: string;
  type: string;
}

function outputsOf(draft: Draft, choices: Choice[]): Output[] {
  if (draft.chosen.length === 0) throw new Error("Choose at least one integration to send through.");
  return draft.chosen.map((integration) => ({
    output: choices.find((choice) => choice.name === integration)?.type ?? "email",
    integration,
  }));
}

/** The filters as the API takes them: only those that narrow. */
function filtersOf(draft: Draft): ResponseFilters {
  const filters: ResponseFilters = {};
  if (draft.severity) filters.severity_at_least = draft.severity;
  if (csv(draft.repositories).length) filters.repositories = csv(draft.repositories);
  if (draft.fixableOnly) filters.fixable_only = true;
  return filters;
}

/** Two filters alike whatever the defaults left out (the API answers them all). */
function sameFilters(one: ResponseFilters, other: ResponseFilters): boolean {
  const plain = (filters: ResponseFilters) =>
    JSON.stringify([filters.severity_at_least ?? null, filters.repositories ?? [], Boolean(filters.fixable_only)]);
  return plain(one) === plain(other);
}

/** The integrations the caller may send through (none without integrations:read). */
function useIntegrations(): Loaded<Integration[]> {
  const session = useSession();
  return useLoad(
    () =>
      session.can("integrations:read")
        ? get<Page<Integration>>("/v1/integrations", { limit: 200 }).then((page) => page.items)
        : Promise.resolve([] as Integration[]),
    "integrations",
  );
}

function PolicyFields(props: {
  draft: Draft;
  onChange: (change: Partial<Draft>) => void;
  integrations: Loaded<Integration[]>;
  /** Choices beyond the integrations read (a policy's outputs through one the caller cannot list). */
  choices: Choice[];
}) {
  const { draft, integrations, choices } = props;
  const set =
    <K extends keyof Draft>(name: K) =>
    (value: Draft[K]) =>
      props.onChange({ [name]: value } as Partial<Draft>);
  return (
    <>
      <TextField label="Name" value={draft.name} onInput={set("name")} required />
      <TextArea label="Description" value={draft.description} onInput={set("description")} />
      <Select label="Trigger" value={draft.trigger} onChange={set("trigger")} options={TRIGGERS.map((value): [string, string] => [value, words(value)])} />
      <TextField label="Scope" value={draft.scope} onInput={set("scope")} hint="A scope id; global hears about everything." />
      <fieldset>
        <legend>Send through</legend>
        <ErrorBox error={integrations.error} onRetry={integrations.reload} />
        {integrations.data && choices.length === 0 && <p>No integrations yet: create one on the Integrations page first.</p>}
        {choices.map((choice) => (
          <Checkbox
            key={choice.name}
            label={`${choice.name} (${choice.type})`}
            checked={draft.chosen.includes(choice.name)}
            onChange={(checked) => set("chosen")(checked ? [...draft.chosen, choice.name] : draft.chosen.filter((item) => item !== choice.name))}
          />
        ))}
      </fieldset>
      <fieldset>
        <legend>Only when</legend>
        <Select
          label="Severity at least"
          value={draft.severity}
          onChange={set("severity")}
          options={[["", "Any severity"], ...SEVERITIES.map((value): [string, string] => [value, value])]}
        />
        <TextField
          label="Repositories"
          value={draft.repositories}
          onInput={set("repositories")}
          hint="Comma-separated globs, e.g. team-a/*; empty: all."
        />
        <Checkbox label="Fixable vulnerabilities only" checked={draft.fixableOnly} onChange={set("fixableOnly")} />
      </fieldset>
    </>
  );
}

function choicesOf(integrations: Integration[] | null, outputs: Output[] = []): Choice[] {
  const choices: Choice[] = (integrations ?? []).map((integration) => ({ name: integration.name, type: integration.type }));
  for (const output of outputs) {
    if (!choices.some((choice) => choice.name === output.integration)) choices.push({ name: output.integration, type: output.output });
  }
  return choices;
}

function CreateResponsePolicy(props: { onCreated: (policy: ResponsePolicy) => void }) {
  const integrations = useIntegrations();
  const choices = choicesOf(integrations.data);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const submission = useSubmit(async () => {
    const made = await post<ResponsePolicy>("/v1/response-policies", {
      name: draft.name.trim(),
      description: draft.description,
      trigger: draft.trigger,
      scope: draft.scope.trim() || "global",
      outputs: outputsOf(draft, choices),
      filters: filtersOf(draft),
    });
    setDraft((current) => ({ ...current, name: "", description: "", chosen: [] }));
    props.onCreated(made);
  });
  return (
    <CreateSection id="new-response-policy" title="New response policy" submission={submission} label="Create response policy">
      <PolicyFields draft={draft} onChange={(change) => setDraft((current) => ({ ...current, ...change }))} integrations={integrations} choices={choices} />
    </CreateSection>
  );
}

/** A dialog over one policy as read: PATCH with only what changed, from the version read. */
function EditResponsePolicy(props: { policy: ResponsePolicy; onClose: () => void; onSaved: (text: string) => void }) {
  const { policy } = props;
  const integrations = useIntegrations();
  const choices = choicesOf(integrations.data, policy.outputs);
  const [draft, setDraft] = useState<Draft>(() => draftOf(policy));
  const submission = useSubmit(async () => {
    const changes: Record<string, unknown> = {};
    const name = draft.name.trim();
    if (name !== policy.name) changes.name = name;
    if (draft.description !== (policy.description ?? "")) changes.description = draft.description;
    if (draft.trigger !== policy.trigger) changes.trigger = draft.trigger;
    const scope = draft.scope.trim() || "global";
    if (scope !== policy.scope) changes.scope = scope;
    const outputs = outputsOf(draft, choices);
    const before = policy.outputs.map((output) => ({ output: output.output, integration: output.integration }));
    if (JSON.stringify(outputs) !== JSON.stringify(before)) changes.outputs = outputs;
    const filters = filtersOf(draft);
    if (!sameFilters(filters, policy.filters ?? {})) changes.filters = filters;
    props.onSaved(await patchChanges(path`/v1/response-policies/${policy.id}`, policy.name, changes, policy.version));
  });
  return (
    <FormDialog title={`Edit: ${policy.name}`} onClose={props.onClose} submission={submission} label="Save" busyLabel="Saving…">
      <PolicyFields draft={draft} onChange={(change) => setDraft((current) => ({ ...current, ...change }))} integrations={integrations} choices={choices} />
    </FormDialog>
  );
}
