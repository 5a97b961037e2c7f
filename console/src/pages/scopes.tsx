// Scopes (named sets of images, by glob) and roles (sets of permissions): account-wide.

import { useState } from "preact/hooks";

import { get, post } from "../api";
import { ErrorBox, Loading, Notice, PageTitle, Pager, TextArea, TextField, usePaged, useSubmit } from "../components";
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
      <section aria-labelledby="scopes-heading">
        <h2 id="scopes-heading">Scopes</h2>
        <ErrorBox error={scopes.error} onRetry={scopes.reload} />
        {scopes.loading && !scopes.data && <Loading what="scopes" />}
        {scopes.data && (
          <div class="table-wrap">
            <table>
              <caption>Scopes</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Id</th>
                  <th scope="col">Images (registry/repository:tag)</th>
                  <th scope="col">Description</th>
                </tr>
              </thead>
              <tbody>
                {scopes.data.items.map((scope) => (
                  <tr key={scope.id}>
                    <th scope="row">{scope.name}</th>
                    <td>
                      <code>{scope.id}</code>
                    </td>
                    <td>{scope.system ? "everything" : (scope.resources ?? []).map(selectorText).join(", ")}</td>
                    <td>{scope.description ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager paged={scopes} label="Scopes" />
        <CreateScope
          onCreated={(scope) => {
            setDone(`Created the scope ${scope.name} (${scope.id}).`);
            setRound((value) => value + 1);
          }}
        />
      </section>
      <section aria-labelledby="roles-heading">
        <h2 id="roles-heading">Roles</h2>
        <ErrorBox error={roles.error} onRetry={roles.reload} />
        {roles.data && (
          <div class="table-wrap">
            <table>
              <caption>Roles</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Permissions</th>
                </tr>
              </thead>
              <tbody>
                {roles.data.items.map((role) => (
                  <tr key={role.name}>
                    <th scope="row">{role.name}</th>
                    <td>{role.system ? "system" : "custom"}</td>
                    <td>{role.permissions.join(", ")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager paged={roles} label="Roles" />
      </section>
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
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Creating…" : "Create scope"}
        </button>
      </div>
      <ErrorBox error={error} />
    </form>
  );
}
