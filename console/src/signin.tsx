// Signing in: a token pasted into a form, checked with GET /v1/me, kept in sessionStorage only.

import { useRef, useState } from "preact/hooks";

import { ApiError, call } from "./api";
import { ErrorBox, TextField, useSubmit } from "./components";
import type { Caller } from "./types";

const STORAGE_KEY = "riskgate.token";

export function storedToken(): string | null {
  try {
    return window.sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function keepToken(token: string | null): void {
  try {
    if (token) window.sessionStorage.setItem(STORAGE_KEY, token);
    else window.sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage refused (private mode, policy): the token then lasts as long as the page.
  }
}

/** Who the token acts as; a refused token becomes a message about the token, not the request. */
export async function whoIs(token: string): Promise<Caller> {
  try {
    return await call<Caller>("GET", "/v1/me", { token });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      throw new ApiError(
        401,
        error.code,
        "That token was refused: it is unknown, expired or revoked, or its user is disabled. Check it and try again.",
      );
    }
    throw error;
  }
}

export function SignInForm(props: { onSignedIn: (token: string, caller: Caller) => void; reason?: string | null }) {
  const [token, setToken] = useState("");
  const input = useRef<HTMLInputElement>(null);
  const { busy, error, submit } = useSubmit(async () => {
    const trimmed = token.trim();
    if (!trimmed) {
      input.current?.focus();
      throw new Error("Paste an API token first.");
    }
    const caller = await whoIs(trimmed);
    props.onSignedIn(trimmed, caller);
  });
  return (
    <form class="signin" onSubmit={submit} aria-label="Sign in">
      {props.reason && <p class="notice">{props.reason}</p>}
      <TextField
        label="API token"
        type="password"
        value={token}
        onInput={setToken}
        inputRef={input}
        autocomplete="off"
        hint="A Riskgate token (rg_…). It stays in this browser tab only and is forgotten when the tab closes."
      />
      <ErrorBox error={error} />
      <button type="submit" class="primary" disabled={busy}>
        {busy ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}
