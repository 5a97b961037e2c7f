// Integrations: the named connections response policies send through; create one, send a test.

import { useState } from "preact/hooks";

import { get, path, post } from "../api";
import { CreateSection, ErrorBox, Notice, PageTitle, PagedTable, Select, TextField, csv, usePaged, useSession, useSubmit } from "../components";
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
              <td>
                <button type="button" onClick={() => void sendTest(integration)} disabled={testing === integration.name}>
                  {testing === integration.name ? "Sending…" : "Send a test"}
                  <span class="visually-hidden"> through {integration.name}</span>
                </button>
              </td>
            )}
          </tr>
        )}
      />
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

function CreateIntegration(props: { onCreated: (integration: Integration) => void }) {
  const [name, setName] = useState("");
  const [type, setType] = useState<IntegrationType>("email");
  const [scope, setScope] = useState("global");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [botToken, setBotToken] = useState("");
  const [chatId, setChatId] = useState("");
  const [topicArn, setTopicArn] = useState("");
  const [url, setUrl] = useState("");
  const [secret, setSecret] = useState("");
  const [preset, setPreset] = useState("generic");
  const submission = useSubmit(async () => {
    const config: Record<string, unknown> =
      type === "email"
        ? { from: from.trim(), to: csv(to) }
        : type === "telegram"
          ? { bot_token: botToken, chat_id: chatId.trim() }
          : type === "sns"
            ? { topic_arn: topicArn.trim() }
            : { url: url.trim(), secret, preset };
    const made = await post<Integration>("/v1/integrations", { name: name.trim(), type, scope: scope.trim() || "global", config });
    setName("");
    setBotToken("");
    setSecret("");
    props.onCreated(made);
  });
  return (
    <CreateSection id="new-integration" title="New integration" submission={submission} label="Create integration">
      <TextField label="Name" value={name} onInput={setName} required hint="Letters, digits, . _ -; response policies name it." />
      <Select
        label="Type"
        value={type}
        onChange={(value) => setType(value as IntegrationType)}
        options={[
          ["email", "E-mail"],
          ["telegram", "Telegram"],
          ["sns", "SNS topic"],
          ["webhook", "Webhook"],
        ]}
      />
      <TextField label="Scope" value={scope} onInput={setScope} hint="A scope id; fixed once created." />
      {type === "email" && (
        <>
          <TextField label="From" type="email" value={from} onInput={setFrom} required placeholder="riskgate@example.com" />
          <TextField label="To" value={to} onInput={setTo} required hint="Comma-separated addresses." />
        </>
      )}
      {type === "telegram" && (
        <>
          <TextField label="Bot token" type="password" value={botToken} onInput={setBotToken} required hint="Write-only: never shown again." />
          <TextField label="Chat id" value={chatId} onInput={setChatId} required />
        </>
      )}
      {type === "sns" && <TextField label="Topic ARN" value={topicArn} onInput={setTopicArn} required />}
      {type === "webhook" && (
        <>
          <TextField label="URL" type="url" value={url} onInput={setUrl} required hint="https, a public host." />
          <TextField label="Signing secret" type="password" value={secret} onInput={setSecret} hint="Write-only: signs each request (16 characters or more)." />
          <Select
            label="Preset"
            value={preset}
            onChange={setPreset}
            options={[
              ["generic", "Generic JSON"],
              ["slack", "Slack"],
              ["teams", "Microsoft Teams"],
            ]}
          />
        </>
      )}
    </CreateSection>
  );
}
