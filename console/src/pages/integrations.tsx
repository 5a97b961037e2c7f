// Integrations: the named connections response policies send through; create one, edit one, send a test.

import { useState } from "preact/hooks";

import { get, patchChanges, path, post } from "../api";
import {
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
  usePaged,
  useSession,
  useSubmit,
} from "../components";
import type { Integration, IntegrationTestResult, IntegrationType, Page } from "../types";

function configText(integration: Integration): string {
  const config = integration.config;
  switch (integration.type) {
    case "email":
      return `from ${String(config.from ?? "?")} to ${Array.isArray(config.to) ? config.to.join(", ") : "?"}`;
    case "telegram":
      return `chat ${String(config.chat_id ?? "?")}`;
    case "sns":
      return String(config.topic_arn ?? "?");
    case "webhook":
      return `${String(config.url ?? "?")} (${String(config.preset ?? "generic")})`;
    default:
      return JSON.stringify(config);
  }
}

export function IntegrationsPage() {
  const session = useSession();
  const mayManage = session.can("integrations:manage");
  const [round, setRound] = useState(0);
  const [done, setDone] = useState<string | null>(null);
  const [testError, setTestError] = useState<unknown>(null);
  const [testing, setTesting] = useState<string | null>(null);
  const editing = useEditing<Integration>((text) => {
    setDone(text);
    setRound((value) => value + 1);
  });
  const paged = usePaged<Integration>(
    (nextToken) => get<Page<Integration>>("/v1/integrations", { limit: 50, next_token: nextToken }),
    `integrations:${round}`,
  );
  const sendTest = async (integration: Integration) => {
    setTestError(null);
    setDone(null);
    setTesting(integration.name);
    try {
      const result = await post<IntegrationTestResult>(path`/v1/integrations/${integration.name}/test`);
      setDone(
        result.delivered
          ? `Test message sent through ${integration.name}: ${result.detail}`
          : `The test through ${integration.name} was not delivered: ${result.error ?? result.detail}`,
      );
    } catch (error) {
      setTestError(error);
    } finally {
      setTesting(null);
    }
  };
  return (
    <>
      <PageTitle title="Integrations">Integrations</PageTitle>
      <p>Named connections (e-mail, Telegram, SNS, webhooks) that response policies send notifications through.</p>
      {done && <Notice>{done}</Notice>}
      <ErrorBox error={testError} />
      <PagedTable
        paged={paged}
        caption="Integrations"
        loading="integrations"
        columns={["Name", "Type", "Scope", "Destination", "Secret", mayManage && "Actions"]}
        empty="No integrations yet."
        row={(integration) => (
          <tr key={integration.name}>
            <th scope="row">{integration.name}</th>
            <td>{integration.type}</td>
            <td>{integration.scope}</td>
            <td class="wrap">{configText(integration)}</td>
            <td>{integration.has_secret ? "Set" : "—"}</td>
            {mayManage && (
              <td class="actions">
                <button
                  type="button"
                  onClick={() => {
                    setTestError(null);
                    editing.open(integration);
                  }}
                >
                  Edit<span class="visually-hidden"> {integration.name}</span>
                </button>
                <button type="button" onClick={() => void sendTest(integration)} disabled={testing === integration.name}>
                  {testing === integration.name ? "Sending…" : "Send a test"}
                  <span class="visually-hidden"> through {integration.name}</span>
                </button>
              </td>
            )}
          </tr>
        )}
      />
      {editing.item && <EditIntegration integration={editing.item} onClose={editing.close} onSaved={editing.saved} />}
      {mayManage && (
        <CreateIntegration
          onCreated={(integration) => {
            setDone(`Created the integration ${integration.name}.`);
            setRound((value) => value + 1);
          }}
        />
      )}
    </>
  );
}

// --- a type's config fields: one form for creating and editing ------------------------------------------

interface Draft {
  from: string;
  to: string;
  botToken: string;
  chatId: string;
  topicArn: string;
  url: string;
  secret: string;
  preset: string;
  template: string;
  rateLimit: string;
}

const EMPTY: Draft = {
  from: "",
  to: "",
  botToken: "",
  chatId: "",
  topicArn: "",
  url: "",
  secret: "",
  preset: "generic",
  template: "",
  rateLimit: "",
};

const text = (value: unknown): string => (value === undefined || value === null ? "" : String(value));

/** The public config as read (secrets are never read: their fields start empty). */
function draftOf(integration: Integration): Draft {
  const config = integration.config;
  return {
    ...EMPTY,
    from: text(config.from),
    to: Array.isArray(config.to) ? config.to.join(", ") : text(config.to),
    chatId: text(config.chat_id),
    topicArn: text(config.topic_arn),
    url: text(config.url),
    preset: text(config.preset) || "generic",
    template: text(config.template),
    rateLimit: text(config.rate_limit_per_minute),
  };
}

/** A whole number as one, anything else as typed (the API then says what is wrong with it). */
function rateLimitOf(value: string): number | string {
  return /^\d+$/.test(value.trim()) ? Number(value.trim()) : value.trim();
}

/** The public fields of a type as the API takes them; an empty optional field is null (its default). */
function publicConfig(type: IntegrationType, draft: Draft): Record<string, unknown> {
  switch (type) {
    case "email":
      return { from: draft.from.trim(), to: csv(draft.to) };
    case "telegram":
      return { chat_id: draft.chatId.trim() };
    case "sns":
      return { topic_arn: draft.topicArn.trim() };
    case "webhook":
      return {
        url: draft.url.trim(),
        preset: draft.preset,
        template: draft.template.trim() ? draft.template : null,
        rate_limit_per_minute: draft.rateLimit.trim() ? rateLimitOf(draft.rateLimit) : null,
      };
  }
}

/** The write-only fields typed (an empty one: not sent, so a stored secret stays). */
function secretConfig(type: IntegrationType, draft: Draft): Record<string, string> {
  if (type === "telegram" && draft.botToken) return { bot_token: draft.botToken };
  if (type === "webhook" && draft.secret) return { secret: draft.secret };
  return {};
}

function ConfigFields(props: {
  type: IntegrationType;
  draft: Draft;
  onChange: (change: Partial<Draft>) => void;
  /** Editing one whose secret is stored: an empty secret field keeps it. */
  hasSecret?: boolean;
  editing?: boolean;
}) {
  const { type, draft } = props;
  const set =
    <K extends keyof Draft>(name: K) =>
    (value: Draft[K]) =>
      props.onChange({ [name]: value } as Partial<Draft>);
  const keep = props.hasSecret ? " (leave empty to keep)" : "";
  return (
    <>
      {type === "email" && (
        <>
          <TextField label="From" type="email" value={draft.from} onInput={set("from")} required placeholder="riskgate@example.com" />
          <TextField label="To" value={draft.to} onInput={set("to")} required hint="Comma-separated addresses." />
        </>
      )}
      {type === "telegram" && (
        <>
          <TextField
            label={`Bot token${keep}`}
            type="password"
            value={draft.botToken}
            onInput={set("botToken")}
            required={!props.hasSecret}
            hint="Write-only: never shown again."
          />
          <TextField label="Chat id" value={draft.chatId} onInput={set("chatId")} required />
        </>
      )}
      {type === "sns" && <TextField label="Topic ARN" value={draft.topicArn} onInput={set("topicArn")} required />}
      {type === "webhook" && (
        <>
          <TextField label="URL" type="url" value={draft.url} onInput={set("url")} required hint="https, a public host." />
          <TextField
            label={`Signing secret${keep}`}
            type="password"
            value={draft.secret}
            onInput={set("secret")}
            hint="Write-only: signs each request (16 characters or more)."
          />
          <Select
            label="Preset"
            value={draft.preset}
            onChange={set("preset")}
            options={[
              ["generic", "Generic JSON"],
              ["slack", "Slack"],
              ["teams", "Microsoft Teams"],
            ]}
          />
          <TextField
            label="Rate limit per minute"
            type="number"
            min="1"
            value={draft.rateLimit}
            onInput={set("rateLimit")}
            hint={props.editing ? "1 to 600; empty: back to 60." : "1 to 600; empty: 60."}
          />
          <TextArea
            label="Body template"
            value={draft.template}
            onInput={set("template")}
            hint="Optional, instead of the preset's body; placeholders {policy_name}, {trigger}, {image}, {registry}, {verdict}, {counts}."
          />
        </>
      )}
    </>
  );
}

const TYPES: [IntegrationType, string][] = [
  ["email", "E-mail"],
  ["telegram", "Telegram"],
  ["sns", "SNS topic"],
  ["webhook", "Webhook"],
];

function CreateIntegration(props: { onCreated: (integration: Integration) => void }) {
  const [name, setName] = useState("");
  const [type, setType] = useState<IntegrationType>("email");
  const [scope, setScope] = useState("global");
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const submission = useSubmit(async () => {
    // What is left empty is left out: the API's defaults apply.
    const config = Object.fromEntries(
      Object.entries({ ...publicConfig(type, draft), ...secretConfig(type, draft) }).filter(([, value]) => value !== null),
    );
    const made = await post<Integration>("/v1/integrations", { name: name.trim(), type, scope: scope.trim() || "global", config });
    setName("");
    setDraft((current) => ({ ...current, botToken: "", secret: "" }));
    props.onCreated(made);
  });
  return (
    <CreateSection id="new-integration" title="New integration" submission={submission} label="Create integration">
      <TextField label="Name" value={name} onInput={setName} required hint="Letters, digits, . _ -; response policies name it." />
      <Select label="Type" value={type} onChange={(value) => setType(value as IntegrationType)} options={TYPES} />
      <TextField label="Scope" value={scope} onInput={setScope} hint="A scope id; fixed once created." />
      <ConfigFields type={type} draft={draft} onChange={(change) => setDraft((current) => ({ ...current, ...change }))} />
    </CreateSection>
  );
}

/** A dialog over one integration as read: PATCH with the config fields that changed, from the version read. */
function EditIntegration(props: { integration: Integration; onClose: () => void; onSaved: (text: string) => void }) {
  const { integration } = props;
  const [draft, setDraft] = useState<Draft>(() => draftOf(integration));
  const submission = useSubmit(async () => {
    const before = publicConfig(integration.type, draftOf(integration));
    const after = publicConfig(integration.type, draft);
    const config: Record<string, unknown> = secretConfig(integration.type, draft);
    for (const [field, value] of Object.entries(after)) {
      if (JSON.stringify(value) !== JSON.stringify(before[field])) config[field] = value;
    }
    const changes = Object.keys(config).length ? { config } : {};
    props.onSaved(await patchChanges(path`/v1/integrations/${integration.name}`, integration.name, changes, integration.version));
  });
  return (
    <FormDialog title={`Edit: ${integration.name}`} onClose={props.onClose} submission={submission} label="Save" busyLabel="Saving…">
      <p>
        {TYPES.find(([value]) => value === integration.type)?.[1] ?? integration.type} in the scope {integration.scope}: the name, type and scope
        are fixed.
      </p>
      <ConfigFields
        type={integration.type}
        draft={draft}
        onChange={(change) => setDraft((current) => ({ ...current, ...change }))}
        hasSecret={integration.has_secret}
        editing
      />
    </FormDialog>
  );
}
