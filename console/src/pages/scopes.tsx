// Scopes (named sets of images, by glob) and roles (sets of permissions): account-wide.

import { useState } from "preact/hooks";

import { get, post } from "../api";
import { ErrorBox, Notice, PageTitle, PagedTable, Section, SubmitButton, TextArea, TextField, usePaged, useSubmit } from "../components";
import type { Page, ResourceSelector, Role, Scope } from "../types";

function selectorText(selector: ResourceSelector): string {
  return `${selector.registry ?? "*"}/${selector.repository ?? "*"}:${selector.tag ?? "*"}`;
}

export function ScopesPage() {
  const [round, setRound] = useState(0);
  const [done, setDone] = useState<string | null>(null);
  const scopes = usePaged<Scope>((nextToken) => get<Page<Scope>>("/v1/scopes", { limit: 50, next_token: nextToken }), `scopes:${round}`);
  const roles = usePaged<Role>((nextToken) => get<Page<Role>>("/v1/roles", { limit: 50, next_token: nextToken }), "roles");
  return (
    <>
      <PageTitle title="Scopes and roles">Scopes and roles</PageTitle>
      {done && <Notice>{done}</Notice>}
      <Section id="scopes-heading" title="Scopes">
        <PagedTable
          paged={scopes}
          caption="Scopes"
          loading="scopes"
          columns={["Name", "Id", "Images (registry/repository:tag)", "Description"]}
          row={(scope) => (
            <tr key={scope.id}>
              <th scope="row">{scope.name}</th>
              <td>
                <code>{scope.id}</code>
              </td>
              <td>{scope.system ? "everything" : (scope.resources ?? []).map(selectorText).join(", ")}</td>
              <td>{scope.description ?? ""}</td>
            </tr>
          )}
        />
        <CreateScope
          onCreated={(scope) => {
            setDone(`Created the scope ${scope.name} (${scope.id}).`);
            setRound((value) => value + 1);
          }}
        />
      </Section>
      <Section id="roles-heading" title="Roles">
        <PagedTable
          paged={roles}
          caption="Roles"
          columns={["Name", "Kind", "Permissions"]}
          row={(role) => (
            <tr key={role.name}>
              <th scope="row">{role.name}</th>
              <td>{role.system ? "system" : "custom"}</td>
              <td>{role.permissions.join(", ")}</td>
            </tr>
          )}
        />
      </Section>
    </>
  );
}

interface SelectorDraft {
  registry: string;
  repository: string;
  tag: string;
}

function CreateScope(props: { onCreated: (scope: Scope) => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [selectors, setSelectors] = useState<SelectorDraft[]>([{ registry: "", repository: "", tag: "" }]);
  const change = (index: number, field: keyof SelectorDraft) => (value: string) =>
    setSelectors(selectors.map((selector, at) => (at === index ? { ...selector, [field]: value } : selector)));
  const { busy, error, submit } = useSubmit(async () => {
    const resources = selectors
      .map((selector) => ({
        registry: selector.registry.trim() || undefined,
        repository: selector.repository.trim() || undefined,
        tag: selector.tag.trim() || undefined,
      }))
      .filter((selector) => selector.registry || selector.repository || selector.tag);
    const made = await post<Scope>("/v1/scopes", { name: name.trim(), description, resources });
    setName("");
    setDescription("");
    setSelectors([{ registry: "", repository: "", tag: "" }]);
    props.onCreated(made);
  });
  return (
    <form onSubmit={submit} aria-labelledby="new-scope">
      <h3 id="new-scope">New scope</h3>
      <TextField label="Scope name" value={name} onInput={setName} required />
      <TextArea label="Scope description" value={description} onInput={setDescription} />
      {selectors.map((selector, index) => (
        <fieldset key={index} class="row">
          <legend>Images, selector {index + 1} (globs; empty matches anything)</legend>
          <TextField label={`Registry ${index + 1}`} value={selector.registry} onInput={change(index, "registry")} placeholder="ghcr.io" />
          <TextField label={`Repository ${index + 1}`} value={selector.repository} onInput={change(index, "repository")} placeholder="team-a/*" />
          <TextField label={`Tag ${index + 1}`} value={selector.tag} onInput={change(index, "tag")} placeholder="*" />
        </fieldset>
      ))}
      <div class="buttons">
        <button type="button" onClick={() => setSelectors([...selectors, { registry: "", repository: "", tag: "" }])}>
          Add a selector
        </button>
        <SubmitButton label="Create scope" busy={busy} busyLabel="Creating…" />
      </div>
      <ErrorBox error={error} />
    </form>
  );
}
