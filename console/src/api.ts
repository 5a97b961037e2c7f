// The one way the console talks to the API: same origin, bearer token, JSON; every failure becomes an
// ApiError whose message a person can act on.

export interface ErrorDetail {
  location?: string | null;
  message?: string | null;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: ErrorDetail[];

  constructor(status: number, code: string, message: string, details: ErrorDetail[] = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

type Listener = () => void;

let currentToken: string | null = null;
let unauthorizedListener: Listener | null = null;

/** The token every call sends (set by the session). */
export function setToken(token: string | null): void {
  currentToken = token;
}

/** Called when the API refuses the token (401) on any call: the session asks for a new one. */
export function onUnauthorized(listener: Listener | null): void {
  unauthorizedListener = listener;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface CallOptions {
  query?: Query;
  body?: unknown;
  /** The version the change was made from: the API answers 409 if it moved on. */
  ifMatch?: number;
  /** Another token than the session's (signing in checks one before keeping it). */
  token?: string;
}

export function withQuery(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

const NETWORK_DOWN =
  "Cannot reach Riskgate: the network or the server is down. Nothing you typed is lost — try again when it is back.";

export async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = options.token ?? currentToken;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.ifMatch !== undefined) headers["If-Match"] = String(options.ifMatch);
  let response: Response;
  try {
    response = await fetch(withQuery(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", NETWORK_DOWN);
  }
  if (response.status === 204) return undefined as T;
  let payload: unknown = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (response.ok) return payload as T;
  const error = errorOf(response.status, payload);
  if (response.status === 401 && options.token === undefined) unauthorizedListener?.();
  throw error;
}

function errorOf(status: number, payload: unknown): ApiError {
  const body = (payload as { error?: { code?: string; message?: string; details?: ErrorDetail[] } } | null)?.error;
  const code = body?.code ?? `http_${status}`;
  const said = body?.message ?? "";
  const details = Array.isArray(body?.details) ? body.details : [];
  return new ApiError(status, code, explain(status, said), details);
}

/** What the status means for the person in front of the page, then what the API said. */
function explain(status: number, said: string): string {
  const api = said ? ` (${said})` : "";
  switch (status) {
    case 400:
      return `The request was malformed${api}.`;
    case 401:
      return "Your token was refused: it is unknown, expired or revoked, or its user is disabled. Sign in again with a valid token — what you typed here is kept.";
    case 403:
      return `Your token may not do this${api}.`;
    case 404:
      return `Not found, or outside your scopes${api}.`;
    case 409:
      return `Conflict${api}. Reload to see the current state, then try again.`;
    case 413:
      return `Too large${api}.`;
    case 422:
      return said ? `${said}.`.replace(/\.\.$/, ".") : "The API refused the values given.";
    case 429:
    case 503:
      return `Riskgate is busy${api}: try again in a moment.`;
    default:
      return `Riskgate failed to answer (HTTP ${status})${api}.`;
  }
}

export const get = <T>(path: string, query?: Query) => call<T>("GET", path, { query });
export const post = <T>(path: string, body?: unknown, ifMatch?: number) => call<T>("POST", path, { body, ifMatch });
export const patch = <T>(path: string, body: unknown, ifMatch?: number) => call<T>("PATCH", path, { body, ifMatch });
export const remove = (path: string, ifMatch?: number) => call<void>("DELETE", path, { ifMatch });

/**
 * An edit dialog's save: a PATCH of only the fields that changed, from the version read (If-Match); none
 * changed, no request. Answers what to tell the user, by the name the thing has after the save.
 */
export async function patchChanges(
  path: string,
  name: string,
  changes: Record<string, unknown>,
  version?: number | null,
): Promise<string> {
  if (Object.keys(changes).length === 0) return `Nothing changed in ${name}.`;
  const saved = await patch<{ name: string }>(path, changes, version ?? undefined);
  return `Saved ${saved.name}.`;
}

/** Path segments are ids and names chosen by people: always encoded. */
export function path(strings: TemplateStringsArray, ...values: string[]): string {
  return strings.reduce((built, part, index) => built + part + (index < values.length ? encodeURIComponent(values[index]) : ""), "");
}
