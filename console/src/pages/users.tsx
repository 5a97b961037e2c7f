// Users (people and services), their role bindings and their API tokens (a new one shown once).

import { useState } from "preact/hooks";

import { get, patch, path, post, remove } from "../api";
import {
  CreateSection,
  Crumbs,
  ErrorBox,
  Link,
  NotLoaded,
  Notice,
  PageTitle,
  PagedTable,
  Section,
  Select,
  SubmitButton,
  TextField,
  Time,
  useLoad,
  usePaged,
  useSubmit,
} from "../components";
import type { IssuedToken, Page, Role, RoleBinding, Scope, Token, User } from "../types";

function bindingsText(bindings: RoleBinding[]): string {
  return bindings.map((binding) => `${binding.role} in ${binding.scope ?? "global"}`).join(", ") || "none";
}

/** The roles and scopes a binding may name (first pages: enough for a console's choices). */
function useChoices() {
  const roles = useLoad(() => get<Page<Role>>("/v1/roles", { limit: 200 }).then((page) => page.items), "roles");
  const scopes = useLoad(() => get<Page<Scope>>("/v1/scopes", { limit: 200 }).then((page) => page.items), "scopes");
  return {
    roles: (roles.data ?? []).map((role): [string, string] => [role.name, role.name]),
    scopes: (scopes.data ?? []).map((scope): [string, string] => [scope.id, scope.system ? "global (everything)" : `${scope.name} (${scope.id})`]),
    error: roles.error ?? scopes.error,
  };
}

export function UsersPage() {
  const [round, setRound] = useState(0);
  const [done, setDone] = useState<string | null>(null);
  const paged = usePaged<User>((nextToken) => get<Page<User>>("/v1/users", { limit: 50, next_token: nextToken }), `users:${round}`);
  return (
    <>
      <PageTitle title="Users and tokens">Users and tokens</PageTitle>
      {done && <Notice>{done}</Notice>}
      <PagedTable
        paged={paged}
        caption="Users"
        loading="users"
        columns={["Name", "Kind", "E-mail", "Roles", "Enabled"]}
        row={(user) => (
          <tr key={user.id}>
            <th scope="row">
              <Link href={`/users/${encodeURIComponent(user.id)}`}>{user.name}</Link>
            </th>
            <td>{user.kind}</td>
            <td>{user.email ?? "—"}</td>
            <td>{bindingsText(user.role_bindings)}</td>
            <td>{user.enabled ? "Yes" : "No"}</td>
          </tr>
        )}
      />
      <CreateUser
        onCreated={(user) => {
          setDone(`Created ${user.name}. Open it to issue a token.`);
          setRound((value) => value + 1);
        }}
      />
    </>
  );
}

function CreateUser(props: { onCreated: (user: User) => void }) {
  const choices = useChoices();
  const [name, setName] = useState("");
  const [kind, setKind] = useState("person");
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("developer");
  const [scope, setScope] = useState("global");
  const submission = useSubmit(async () => {
    const made = await post<User>("/v1/users", {
      name: name.trim(),
      kind,
      email: email.trim() || undefined,
      role_bindings: role ? [{ role, scope }] : [],
    });
    setName("");
    setEmail("");
    props.onCreated(made);
  });
  return (
    <CreateSection id="new-user" title="New user" submission={submission} label="Create user" intro={<ErrorBox error={choices.error} />}>
      <TextField label="Name" value={name} onInput={setName} required />
      <Select
        label="Kind"
        value={kind}
        onChange={setKind}
        options={[
          ["person", "Person"],
          ["service", "Service (a pipeline)"],
        ]}
      />
      <TextField label="E-mail" type="email" value={email} onInput={setEmail} />
      <Select label="Role" value={role} onChange={setRole} options={[["", "No role yet"], ...choices.roles]} />
      <Select label="In scope" value={scope} onChange={setScope} options={choices.scopes.length ? choices.scopes : [["global", "global"]]} />
    </CreateSection>
  );
}

export function UserPage(props: { id: string }) {
  const user = useLoad(() => get<User>(path`/v1/users/${props.id}`), props.id);
  const [tokensRound, setTokensRound] = useState(0);
  const [done, setDone] = useState<string | null>(null);
  const [issued, setIssued] = useState<IssuedToken | null>(null);
  const tokens = usePaged<Token>(
    (nextToken) => get<Page<Token>>(path`/v1/users/${props.id}/tokens`, { limit: 50, next_token: nextToken }),
    `${props.id}:${tokensRound}`,
  );
  const choices = useChoices();
  const [role, setRole] = useState("developer");
  const [scope, setScope] = useState("global");
  const [tokenName, setTokenName] = useState("");
  const [expires, setExpires] = useState("");
  const [actionError, setActionError] = useState<unknown>(null);

  const changeUser = async (changes: Partial<User>, text: string) => {
    if (!user.data) return;
    setActionError(null);
    try {
      await patch<User>(path`/v1/users/${props.id}`, changes, user.data.version);
      setDone(text);
      user.reload();
      setTokensRound((value) => value + 1);
    } catch (error) {
      setActionError(error);
    }
  };
  const issue = useSubmit(async () => {
    const made = await post<IssuedToken>(path`/v1/users/${props.id}/tokens`, {
      name: tokenName.trim(),
      expires_at: expires ? `${expires}T23:59:59Z` : undefined,
    });
    setIssued(made);
    setTokenName("");
    setExpires("");
    setTokensRound((value) => value + 1);
  });
  const revoke = async (token: Token) => {
    setActionError(null);
    try {
      await remove(path`/v1/users/${props.id}/tokens/${token.id}`);
      setDone(`Revoked the token ${token.name}: it stops working at once (deployed: within the authorizer's cache time).`);
      setTokensRound((value) => value + 1);
    } catch (error) {
      setActionError(error);
    }
  };

  if (!user.data) return <NotLoaded title="User" loaded={user} what="the user" />;
  const shown = user.data;
  return (
    <>
      <Crumbs href="/users" label="Users and tokens" />
      <PageTitle title={shown.name}>{shown.name}</PageTitle>
      {done && <Notice>{done}</Notice>}
      <ErrorBox error={actionError} />
      <dl class="facts">
        <dt>Kind</dt>
        <dd>{shown.kind}</dd>
        <dt>E-mail</dt>
        <dd>{shown.email ?? "—"}</dd>
        <dt>Enabled</dt>
        <dd>
          {shown.enabled ? "Yes" : "No"}{" "}
          <button
            type="button"
            onClick={() =>
              void changeUser(
                { enabled: !shown.enabled },
                shown.enabled ? `Disabled ${shown.name}: every token issued so far stops working for good.` : `Enabled ${shown.name}: issue new tokens.`,
              )
            }
          >
            {shown.enabled ? "Disable user" : "Enable user"}
          </button>
        </dd>
      </dl>

      <Section id="bindings-heading" title="Role bindings">
        <ul class="bindings">
          {shown.role_bindings.length === 0 && <li>None: the user may do nothing.</li>}
          {shown.role_bindings.map((binding, index) => (
            <li key={`${binding.role}@${binding.scope}`}>
              {binding.role} in {binding.scope ?? "global"}{" "}
              <button
                type="button"
                onClick={() =>
                  void changeUser(
                    { role_bindings: shown.role_bindings.filter((_, at) => at !== index) },
                    `Removed ${binding.role} in ${binding.scope ?? "global"}.`,
                  )
                }
              >
                Remove<span class="visually-hidden"> {binding.role} in {binding.scope ?? "global"}</span>
              </button>
            </li>
          ))}
        </ul>
        <form
          class="filters"
          aria-label="Add a role binding"
          onSubmit={(event) => {
            event.preventDefault();
            void changeUser({ role_bindings: [...shown.role_bindings, { role, scope }] }, `Added ${role} in ${scope}.`);
          }}
        >
          <Select label="Role" value={role} onChange={setRole} options={choices.roles} />
          <Select label="In scope" value={scope} onChange={setScope} options={choices.scopes.length ? choices.scopes : [["global", "global"]]} />
          <button type="submit">Add binding</button>
        </form>
      </Section>

      <Section id="tokens-heading" title="Tokens">
        {issued && (
          <div class="issued" role="status">
            <p>
              <strong>New token “{issued.name}”.</strong> Copy it now: it is shown this once and never again.
            </p>
            <TextField label="New token" value={issued.token} onInput={() => undefined} readOnly />
            <div class="buttons">
              <button type="button" onClick={() => void navigator.clipboard?.writeText(issued.token)}>
                Copy token
              </button>
              <button type="button" onClick={() => setIssued(null)}>
                I have copied it
              </button>
            </div>
          </div>
        )}
        <PagedTable
          paged={tokens}
          caption="Tokens"
          columns={["Name", "Created", "Expires", "Last used", "Revoked", "Actions"]}
          empty="No tokens."
          row={(token) => (
            <tr key={token.id}>
              <th scope="row">{token.name}</th>
              <td>
                <Time value={token.created_at} />
              </td>
              <td>
                <Time value={token.expires_at} empty="never" />
              </td>
              <td>
                <Time value={token.last_used_at} empty="never" />
              </td>
              <td>
                <Time value={token.revoked_at} empty="no" />
              </td>
              <td>
                {!token.revoked_at && (
                  <button type="button" onClick={() => void revoke(token)}>
                    Revoke<span class="visually-hidden"> token {token.name}</span>
                  </button>
                )}
              </td>
            </tr>
          )}
        />
        <form onSubmit={issue.submit} aria-labelledby="issue-heading">
          <h3 id="issue-heading">Issue a token</h3>
          <TextField label="Token name" value={tokenName} onInput={setTokenName} required hint="What it is for, e.g. gitlab." />
          <TextField label="Expires on" type="date" value={expires} onInput={setExpires} hint="Empty: never expires." />
          <ErrorBox error={issue.error} />
          <SubmitButton label="Issue token" busy={issue.busy} busyLabel="Issuing…" />
        </form>
      </Section>
    </>
  );
}
