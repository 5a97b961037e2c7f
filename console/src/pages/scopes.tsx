// Scopes (named sets of images, by glob) and roles (sets of permissions): account-wide. Administrators
// (users:manage in the global scope) create and edit scopes and custom roles; the global scope and the
// system roles are read-only.

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
  Section,
  SubmitButton,
  TextArea,
  TextField,
  useEditing,
  usePaged,
  useSession,
  useSubmit,
} from "../components";
import type { Page, ResourceSelector, Role, Scope } from "../types";
import { PERMISSIONS } from "../types";

function selectorText(selector: ResourceSelector): string {
  return `${selector.registry ?? "*"}/${selector.repository ?? "*"}:${selector.tag ?? "*"}`;
}

export function ScopesPage() {
  const session = useSession();
  // Every scopes and roles route needs users:manage in the global scope.
  const mayManage = session.canGlobally("users:manage");
  const [scopeRound, setScopeRound] = useState(0);
  const [roleRound, setRoleRound] = useState(0);
  const [done, setDone] = useState<string | null>(null);
  const editingScope = useEditing<Scope>((text) => {
    setDone(text);
    setScopeRound((value) => value + 1);
  });
  const editingRole = useEditing<Role>((text) => {
    setDone(text);
    setRoleRound((value) => value + 1);
  });
  const scopes = usePaged<Scope>(
    (nextToken) => get<Page<Scope>>("/v1/scopes", { limit: 50, next_token: nextToken }),
    `scopes:${scopeRound}`,
  );
  const roles = usePaged<Role>((nextToken) => get<Page<Role>>("/v1/roles", { limit: 50, next_token: nextToken }), `roles:${roleRound}`);
  return (
    <>
      <PageTitle title="Scopes and roles">Scopes and roles</PageTitle>
      {done && <Notice>{done}</Notice>}
      <Section id="scopes-heading" title="Scopes">
        <PagedTable
          paged={scopes}
          caption="Scopes"
          loading="scopes"
          columns={["Name", "Id", "Images (registry/repository:tag)", "Description", mayManage && "Actions"]}
          row={(scope) => (
            <tr key={scope.id}>
              <th scope="row">{scope.name}</th>
              <td>
                <code>{scope.id}</code>
              </td>
              <td>{scope.system ? "everything" : (scope.resources ?? []).map(selectorText).join(", ")}</td>
              <td>{scope.description ?? ""}</td>
              {mayManage && (
                <td class="actions">
                  {scope.system ? (
                    <span class="muted">read-only</span>
                  ) : (
                    <button type="button" onClick={() => editingScope.open(scope)}>
                      Edit<span class="visually-hidden"> {scope.name}</span>
                    </button>
                  )}
                </td>
              )}
            </tr>
          )}
        />
        {mayManage && (
          <CreateScope
            onCreated={(scope) => {
              setDone(`Created the scope ${scope.name} (${scope.id}).`);
              setScopeRound((value) => value + 1);
            }}
          />
        )}
      </Section>
      <Section id="roles-heading" title="Roles">
        <PagedTable
          paged={roles}
          caption="Roles"
          loading="roles"
          columns={["Name", "Description", "Permissions", "System", mayManage && "Actions"]}
          row={(role) => (
            <tr key={role.name}>
              <th scope="row">{role.name}</th>
              <td>{role.description ?? ""}</td>
              <td>{role.permissions.join(", ")}</td>
              <td>{role.system ? "Yes" : "No"}</td>
              {mayManage && (
                <td class="actions">
                  {role.system ? (
                    <span class="muted">read-only</span>
                  ) : (
                    <button type="button" onClick={() => editingRole.open(role)}>
                      Edit<span class="visually-hidden"> {role.name}</span>
                    </button>
                  )}
                </td>
              )}
            </tr>
          )}
        />
        {mayManage && (
          <CreateRole
            onCreated={(role) => {
              setDone(`Created the role ${role.name}.`);
              setRoleRound((value) => value + 1);
            }}
          />
        )}
      </Section>
      {editingScope.item && <EditScope scope={editingScope.item} onClose={editingScope.close} onSaved={editingScope.saved} />}
      {editingRole.item && <EditRole role={editingRole.item} onClose={editingRole.close} onSaved={editingRole.saved} />}
    </>
  );
}

// --- scopes: one set of fields for creating and editing ----------------------------------------------

interface SelectorDraft {
  registry: string;
  repository: string;
  tag: string;
}

interface ScopeDraft {
  name: string;
  description: string;
  selectors: SelectorDraft[];
}

const EMPTY_SELECTOR: SelectorDraft = { registry: "", repository: "", tag: "" };
const EMPTY_SCOPE: ScopeDraft = { name: "", description: "", selectors: [EMPTY_SELECTOR] };

function scopeDraftOf(scope: Scope): ScopeDraft {
  const selectors = (scope.resources ?? []).map((selector) => ({
    registry: selector.registry ?? "",
    repository: selector.repository ?? "",
    tag: selector.tag ?? "",
  }));
  return { name: scope.name, description: scope.description ?? "", selectors: selectors.length ? selectors : [EMPTY_SELECTOR] };
}

/** The selectors as the API takes them: the fields named, the empty selectors left out. */
function resourcesOf(draft: ScopeDraft): ResourceSelector[] {
  return draft.selectors
    .map((selector) => {
      const made: ResourceSelector = {};
      if (selector.registry.trim()) made.registry = selector.registry.trim();
      if (selector.repository.trim()) made.repository = selector.repository.trim();
      if (selector.tag.trim()) made.tag = selector.tag.trim();
      return made;
    })
    .filter((selector) => selector.registry || selector.repository || selector.tag);
}

/** Two lists of selectors alike whatever nulls the API answered. */
function sameResources(one: ResourceSelector[], other: ResourceSelector[]): boolean {
  const plain = (selectors: ResourceSelector[]) =>
    JSON.stringify(selectors.map((selector) => [selector.registry ?? null, selector.repository ?? null, selector.tag ?? null]));
  return plain(one) === plain(other);
}

function ScopeFields(props: { draft: ScopeDraft; onChange: (change: Partial<ScopeDraft>) => void }) {
  const { draft, onChange } = props;
  const change = (index: number, field: keyof SelectorDraft) => (value: string) =>
    onChange({ selectors: draft.selectors.map((selector, at) => (at === index ? { ...selector, [field]: value } : selector)) });
  return (
    <>
      <TextField label="Scope name" value={draft.name} onInput={(name) => onChange({ name })} required />
      <TextArea label="Scope description" value={draft.description} onInput={(description) => onChange({ description })} />
      {draft.selectors.map((selector, index) => (
        <fieldset key={index} class="row">
          <legend>Images, selector {index + 1} (globs; empty matches anything)</legend>
          <TextField label={`Registry ${index + 1}`} value={selector.registry} onInput={change(index, "registry")} placeholder="ghcr.io" />
          <TextField label={`Repository ${index + 1}`} value={selector.repository} onInput={change(index, "repository")} placeholder="team-a/*" />
          <TextField label={`Tag ${index + 1}`} value={selector.tag} onInput={change(index, "tag")} placeholder="*" />
        </fieldset>
      ))}
      <div class="buttons">
        <button type="button" onClick={() => onChange({ selectors: [...draft.selectors, EMPTY_SELECTOR] })}>
          Add a selector
        </button>
      </div>
    </>
  );
}

function CreateScope(props: { onCreated: (scope: Scope) => void }) {
  const [draft, setDraft] = useState<ScopeDraft>(EMPTY_SCOPE);
  const { busy, error, submit } = useSubmit(async () => {
    const made = await post<Scope>("/v1/scopes", { name: draft.name.trim(), description: draft.description, resources: resourcesOf(draft) });
    setDraft(EMPTY_SCOPE);
    props.onCreated(made);
  });
  return (
    <form onSubmit={submit} aria-labelledby="new-scope">
      <h3 id="new-scope">New scope</h3>
      <ScopeFields draft={draft} onChange={(change) => setDraft((current) => ({ ...current, ...change }))} />
      <div class="buttons">
        <SubmitButton label="Create scope" busy={busy} busyLabel="Creating…" />
      </div>
      <ErrorBox error={error} />
    </form>
  );
}

/** A dialog over one scope as read: PATCH with only what changed, from the version read. */
function EditScope(props: { scope: Scope; onClose: () => void; onSaved: (text: string) => void }) {
  const { scope } = props;
  const [draft, setDraft] = useState<ScopeDraft>(() => scopeDraftOf(scope));
  const submission = useSubmit(async () => {
    const changes: Record<string, unknown> = {};
    const name = draft.name.trim();
    if (name !== scope.name) changes.name = name;
    if (draft.description !== (scope.description ?? "")) changes.description = draft.description;
    const resources = resourcesOf(draft);
    if (!sameResources(resources, scope.resources ?? [])) changes.resources = resources;
    props.onSaved(await patchChanges(path`/v1/scopes/${scope.id}`, scope.name, changes, scope.version));
  });
  return (
    <FormDialog title={`Edit: ${scope.name}`} onClose={props.onClose} submission={submission} label="Save" busyLabel="Saving…">
      <ScopeFields draft={draft} onChange={(change) => setDraft((current) => ({ ...current, ...change }))} />
    </FormDialog>
  );
}

// --- custom roles: a name, a description and permissions ------------------------------------------------

interface RoleDraft {
  name: string;
  description: string;
  permissions: string[];
}

const EMPTY_ROLE: RoleDraft = { name: "", description: "", permissions: [] };

/** The permissions chosen, in the API's order. */
function permissionsOf(draft: RoleDraft): string[] {
  const known = PERMISSIONS.filter((permission) => draft.permissions.includes(permission));
  const unknown = draft.permissions.filter((permission) => !(PERMISSIONS as readonly string[]).includes(permission));
  const chosen = [...known, ...unknown];
  if (chosen.length === 0) throw new Error("Choose at least one permission.");
  return chosen;
}

function RoleFields(props: { draft: RoleDraft; onChange: (change: Partial<RoleDraft>) => void; nameFixed?: boolean }) {
  const { draft, onChange } = props;
  return (
    <>
      {!props.nameFixed && (
        <TextField
          label="Role name"
          value={draft.name}
          onInput={(name) => onChange({ name })}
          required
          hint="Letters, digits, _ . @ -; it cannot change later."
        />
      )}
      <TextArea label="Role description" value={draft.description} onInput={(description) => onChange({ description })} />
      <fieldset>
        <legend>Permissions</legend>
        {PERMISSIONS.map((permission) => (
          <Checkbox
            key={permission}
            label={permission}
            checked={draft.permissions.includes(permission)}
            onChange={(checked) =>
              onChange({
                permissions: checked ? [...draft.permissions, permission] : draft.permissions.filter((item) => item !== permission),
              })
            }
          />
        ))}
      </fieldset>
    </>
  );
}

function CreateRole(props: { onCreated: (role: Role) => void }) {
  const [draft, setDraft] = useState<RoleDraft>(EMPTY_ROLE);
  const submission = useSubmit(async () => {
    const made = await post<Role>("/v1/roles", { name: draft.name.trim(), description: draft.description, permissions: permissionsOf(draft) });
    setDraft(EMPTY_ROLE);
    props.onCreated(made);
  });
  return (
    <CreateSection id="new-role" title="New role" submission={submission} label="Create role">
      <RoleFields draft={draft} onChange={(change) => setDraft((current) => ({ ...current, ...change }))} />
    </CreateSection>
  );
}

/** A dialog over one custom role as read: its description and permissions (its name is the key bindings use). */
function EditRole(props: { role: Role; onClose: () => void; onSaved: (text: string) => void }) {
  const { role } = props;
  const [draft, setDraft] = useState<RoleDraft>(() => ({
    name: role.name,
    description: role.description ?? "",
    permissions: [...role.permissions],
  }));
  const submission = useSubmit(async () => {
    const changes: Record<string, unknown> = {};
    if (draft.description !== (role.description ?? "")) changes.description = draft.description;
    const permissions = permissionsOf(draft);
    if (JSON.stringify([...permissions].sort()) !== JSON.stringify([...role.permissions].sort())) changes.permissions = permissions;
    props.onSaved(await patchChanges(path`/v1/roles/${role.name}`, role.name, changes, role.version));
  });
  return (
    <FormDialog title={`Edit: ${role.name}`} onClose={props.onClose} submission={submission} label="Save" busyLabel="Saving…">
      <RoleFields draft={draft} onChange={(change) => setDraft((current) => ({ ...current, ...change }))} nameFixed />
    </FormDialog>
  );
}
