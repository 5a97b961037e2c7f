// Pieces every page uses: links that keep the app loaded, error and status boxes, tables and pagination,
// dialogs and form parts, and the small formatters of times, statuses and counts.

import type { ComponentChildren, Ref, TargetedEvent } from "preact";
import { createContext } from "preact";
import { useCallback, useContext, useEffect, useRef, useState } from "preact/hooks";

import { ApiError } from "./api";
import { navigate } from "./router";
import type { Caller, Counts, ImageStatus, Page, Permission } from "./types";
import { SEVERITIES } from "./types";

// --- the caller -----------------------------------------------------------------------------------

export interface Session {
  caller: Caller;
  /** Held in some scope: the action may be offered. */
  can(permission: Permission): boolean;
  /** Held in the global scope: what account-wide pages need. */
  canGlobally(permission: Permission): boolean;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("no session");
  return session;
}

export function sessionFor(caller: Caller): Session {
  return {
    caller,
    can: (permission) => caller.permissions.includes(permission),
    canGlobally: (permission) => caller.global_permissions.includes(permission),
  };
}

// --- navigation and a page's parts -------------------------------------------------------------------

export function Link(props: { href: string; children: ComponentChildren; class?: string; "aria-current"?: "page" }) {
  const follow = (event: MouseEvent) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(props.href);
  };
  return (
    <a href={props.href} onClick={follow} class={props.class} aria-current={props["aria-current"]}>
      {props.children}
    </a>
  );
}

/** The page's heading, focused when the page opens so that screen readers announce it. */
export function PageTitle(props: { children: ComponentChildren; title: string }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${props.title} — Riskgate`;
    heading.current?.focus({ preventScroll: true });
  }, [props.title]);
  return (
    <h1 ref={heading} tabIndex={-1}>
      {props.children}
    </h1>
  );
}

/** The way back from a page of one thing to its list. */
export function Crumbs(props: { href: string; label: string }) {
  return (
    <p class="crumbs">
      <Link href={props.href}>{props.label}</Link> ›
    </p>
  );
}

/** A part of a page, named by its heading (a landmark screen readers list). */
export function Section(props: { id: string; title: string; children: ComponentChildren }) {
  return (
    <section aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      {props.children}
    </section>
  );
}

/** A page of one thing before it has been read: its title, then why reading failed (with "Try again") or "Loading …". */
export function NotLoaded(props: { title: string; loaded: Loaded<unknown>; what: string }) {
  const { loaded } = props;
  return (
    <>
      <PageTitle title={props.title}>{props.title}</PageTitle>
      {loaded.error ? <ErrorBox error={loaded.error} onRetry={loaded.reload} /> : <Loading what={props.what} />}
    </>
  );
}

// --- messages -------------------------------------------------------------------------------------

export function ErrorBox(props: { error: unknown; onRetry?: () => void }) {
  if (!props.error) return null;
  const error = props.error;
  const message = error instanceof Error ? error.message : String(error);
  const details = error instanceof ApiError ? error.details.filter((d) => d.message) : [];
  return (
    <div class="error" role="alert">
      <p>{message}</p>
      {details.length > 0 && (
        <ul>
          {details.map((detail, index) => (
            <li key={index}>
              {detail.location ? <code>{detail.location}</code> : null} {detail.message}
            </li>
          ))}
        </ul>
      )}
      {props.onRetry && (
        <button type="button" onClick={props.onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Notice(props: { children: ComponentChildren }) {
  return (
    <p class="notice" role="status">
      {props.children}
    </p>
  );
}

export function Loading(props: { what?: string }) {
  return (
    <p class="loading" role="status">
      Loading{props.what ? ` ${props.what}` : ""}…
    </p>
  );
}

// --- loading data ---------------------------------------------------------------------------------

export interface Loaded<T> {
  data: T | null;
  /** The key `data` was loaded for: another while a new key's answer is on its way. */
  dataKey: string | null;
  error: unknown;
  loading: boolean;
  reload(): void;
}

/** One request's answer; again when `key` changes or on `reload()`. A failed reload keeps what was shown. */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const [loaded, setLoaded] = useState<{ data: T | null; key: string | null }>({ data: null, key: null });
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [round, setRound] = useState(0);
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    let cancelled = false;
    setLoading(true);
    latest
      .current()
      .then((value) => {
        if (cancelled) return;
        setLoaded({ data: value, key });
        setError(null);
      })
      .catch((problem: unknown) => {
        if (!cancelled) setError(problem);
      })
      .finally(() => {
        if (!cancelled) setLoading(false);
      });
    return () => {
      cancelled = true;
    };
  }, [key, round]);
  const reload = useCallback(() => setRound((value) => value + 1), []);
  return { data: loaded.data, dataKey: loaded.key, error, loading, reload };
}

export interface Paged<T> extends Loaded<Page<T>> {
  pageNumber: number;
  /** Whether the rows shown are those of `pageNumber` (not still the previous page's). */
  current: boolean;
  next(): void;
  previous(): void;
}

/**
 * A list the server pages: the tokens of the pages seen so far are kept here (never in the URL: they
 * are bound to the caller), so "Previous page" goes back without reading everything again.
 */
export function usePaged<T>(load: (nextToken: string | null) => Promise<Page<T>>, key: string): Paged<T> {
  const [seen, setSeen] = useState<{ key: string; tokens: (string | null)[] }>({ key, tokens: [null] });
  // Other filters, another list: from its first page.
  const tokens = seen.key === key ? seen.tokens : [null];
  const token = tokens[tokens.length - 1];
  const pageKey = `${key}\u0000${tokens.length}\u0000${token ?? ""}`;
  const loaded = useLoad(() => load(token), pageKey);
  return {
    ...loaded,
    pageNumber: tokens.length,
    current: loaded.dataKey === pageKey,
    next: () => {
      const following = loaded.data?.next_token;
      if (following) setSeen({ key, tokens: [...tokens, following] });
    },
    previous: () => {
      if (tokens.length > 1) setSeen({ key, tokens: tokens.slice(0, -1) });
    },
  };
}

export function Pager<T>(props: { paged: Paged<T>; label: string }) {
  const { paged } = props;
  const hasNext = Boolean(paged.data?.next_token);
  if (paged.pageNumber === 1 && !hasNext) return null;
  return (
    <nav class="pager" aria-label={`${props.label} pages`}>
      <button type="button" onClick={paged.previous} disabled={paged.pageNumber === 1 || paged.loading}>
        Previous page
      </button>
      <span aria-live="polite">{paged.current ? `Page ${paged.pageNumber}` : `Loading page ${paged.pageNumber}…`}</span>
      <button type="button" onClick={paged.next} disabled={!hasNext || paged.loading}>
        Next page
      </button>
    </nav>
  );
}

// --- tables ---------------------------------------------------------------------------------------

/**
 * A column's heading: its text; `{ num: text }` for a column of counts (aligned like its cells); false for
 * a column this caller does not get (`mayManage && "Actions"`), so that the headings and the width of the
 * "nothing here" row follow from one list.
 */
export type Column = string | { num: string } | false;

/** A table named by its caption; `empty`, when given, is said in one full-width row (in place of rows). */
export function Table(props: {
  caption: string;
  columns: Column[];
  empty?: ComponentChildren;
  busy?: boolean;
  children: ComponentChildren;
}) {
  const columns = props.columns.filter((column) => column !== false);
  return (
    <div class="table-wrap">
      <table>
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {columns.map((column) =>
              typeof column === "string" ? (
                <th key={column} scope="col">
                  {column}
                </th>
              ) : (
                <th key={column.num} scope="col" class="num">
                  {column.num}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody aria-busy={props.busy}>
          {props.empty && (
            <tr>
              <td colSpan={columns.length}>{props.empty}</td>
            </tr>
          )}
          {props.children}
        </tbody>
      </table>
    </div>
  );
}

/**
 * A server-paged list as a table, with what every such list has around it: its error (with "Try again"),
 * "Loading …" until the first page arrives (when `loading` says what), and the pager, named like the table.
 */
export function PagedTable<T>(props: {
  paged: Paged<T>;
  caption: string;
  columns: Column[];
  row: (item: T, index: number) => ComponentChildren;
  loading?: string;
  /** Said when the page has no rows to show. */
  empty?: ComponentChildren;
  /** The rows to show of a page (for a view the server cannot filter by). */
  filter?: (item: T) => boolean;
  busy?: boolean;
}) {
  const { paged } = props;
  const items = paged.data?.items ?? [];
  const rows = props.filter ? items.filter(props.filter) : items;
  return (
    <>
      <ErrorBox error={paged.error} onRetry={paged.reload} />
      {props.loading && paged.loading && !paged.data && <Loading what={props.loading} />}
      {paged.data && (
        <Table caption={props.caption} columns={props.columns} empty={rows.length === 0 && props.empty} busy={props.busy}>
          {rows.map(props.row)}
        </Table>
      )}
      <Pager paged={paged} label={props.caption} />
    </>
  );
}

// --- dialogs --------------------------------------------------------------------------------------

/**
 * A modal dialog (the native one: focus stays inside, Escape closes it). Rendered only while open;
 * closing it any way calls `onClose`.
 */
export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useRef(`dialog-${Math.random().toString(36).slice(2)}`).current;
  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => {
      if (element?.open) element.close();
    };
  }, []);
  return (
    <dialog
      ref={dialog}
      aria-labelledby={titleId}
      class={props.wide ? "wide" : undefined}
      onCancel={(event) => {
        event.preventDefault();
        props.onClose();
      }}
    >
      <h2 id={titleId}>{props.title}</h2>
      {props.children}
    </dialog>
  );
}

/**
 * A dialog holding one form: its fields, the submission's error, then the submit button and "Cancel".
 * The button's props are SubmitButton's.
 */
export function FormDialog(
  props: {
    title: string;
    onClose: () => void;
    submission: Submission;
    children: ComponentChildren;
  } & Omit<SubmitButtonProps, "busy">,
) {
  const { busy, error, submit } = props.submission;
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      <form onSubmit={submit}>
        {props.children}
        <ErrorBox error={error} />
        <div class="buttons">
          <SubmitButton label={props.label} busyLabel={props.busyLabel} danger={props.danger} busy={busy} />
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

// --- form helpers ---------------------------------------------------------------------------------

let fieldNumber = 0;

/** A label bound to its control by id. */
export function useFieldId(): string {
  return useRef(`field-${++fieldNumber}`).current;
}

/** A control with its label (bound by `id`) and, when given, its hint (the control's description: see `hintId`). */
function Field(props: { id: string; label: string; hint?: string; children: ComponentChildren }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint && (
        <small id={hintId(props.id, props.hint)} class="hint">
          {props.hint}
        </small>
      )}
    </div>
  );
}

/** What a control with a hint names in `aria-describedby`, so that screen readers read the hint with it. */
function hintId(id: string, hint?: string): string | undefined {
  return hint ? `${id}-hint` : undefined;
}

export function TextField(props: {
  label: string;
  value: string;
  onInput: (value: string) => void;
  required?: boolean;
  type?: "text" | "password" | "email" | "url" | "number" | "date";
  placeholder?: string;
  hint?: string;
  inputRef?: Ref<HTMLInputElement>;
  autocomplete?: string;
  readOnly?: boolean;
  min?: string;
}) {
  const id = useFieldId();
  return (
    <Field id={id} label={props.label} hint={props.hint}>
      <input
        id={id}
        ref={props.inputRef}
        // Preact types each input type apart; the attributes used here suit every one of these.
        type={(props.type ?? "text") as "text"}
        value={props.value}
        required={props.required}
        placeholder={props.placeholder}
        autocomplete={props.autocomplete ?? "off"}
        readOnly={props.readOnly}
        min={props.min}
        aria-describedby={hintId(id, props.hint)}
        onInput={(event) => props.onInput((event.currentTarget as HTMLInputElement).value)}
      />
    </Field>
  );
}

export function TextArea(props: { label: string; value: string; onInput: (value: string) => void; required?: boolean; hint?: string }) {
  const id = useFieldId();
  return (
    <Field id={id} label={props.label} hint={props.hint}>
      <textarea
        id={id}
        value={props.value}
        required={props.required}
        rows={3}
        aria-describedby={hintId(id, props.hint)}
        onInput={(event) => props.onInput((event.currentTarget as HTMLTextAreaElement).value)}
      />
    </Field>
  );
}

export function Select(props: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  options: [string, string][];
  required?: boolean;
}) {
  const id = useFieldId();
  return (
    <Field id={id} label={props.label}>
      <select
        id={id}
        value={props.value}
        required={props.required}
        onChange={(event) => props.onChange((event.currentTarget as HTMLSelectElement).value)}
      >
        {props.options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    </Field>
  );
}

export function Checkbox(props: { label: string; checked: boolean; onChange: (checked: boolean) => void }) {
  const id = useFieldId();
  return (
    <div class="field checkbox">
      <input
        id={id}
        type="checkbox"
        checked={props.checked}
        onChange={(event) => props.onChange((event.currentTarget as HTMLInputElement).checked)}
      />
      <label for={id}>{props.label}</label>
    </div>
  );
}

/**
 * A list's filters, a form named by `label`. With `onApply`, what is typed waits for "Apply filters";
 * without it, each control applies its value as it changes.
 */
export function Filters(props: { label: string; onApply?: () => void; children: ComponentChildren }) {
  return (
    <form
      class="filters"
      aria-label={props.label}
      onSubmit={(event) => {
        event.preventDefault();
        props.onApply?.();
      }}
    >
      {props.children}
      {props.onApply && <button type="submit">Apply filters</button>}
    </form>
  );
}

export interface Submission {
  busy: boolean;
  error: unknown;
  submit: (event?: TargetedEvent<HTMLFormElement, Event>) => void;
  clear: () => void;
}

/**
 * Which item of a list its edit dialog is open for (`item`, null when none). `saved` closes the dialog
 * and hands the words to say to `onSaved` (which shows them and reloads the list).
 */
export function useEditing<T>(onSaved: (text: string) => void) {
  const [item, setItem] = useState<T | null>(null);
  return {
    item,
    open: (chosen: T) => setItem(chosen),
    close: () => setItem(null),
    saved: (text: string) => {
      setItem(null);
      onSaved(text);
    },
  };
}

/** A form's submission: busy while it runs, its error kept (and the form's values untouched) on failure. */
export function useSubmit(action: () => Promise<void>): Submission {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = (event?: TargetedEvent<HTMLFormElement, Event>) => {
    event?.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    action()
      .catch((problem: unknown) => setError(problem))
      .finally(() => setBusy(false));
  };
  return { busy, error, submit, clear: () => setError(null) };
}

interface SubmitButtonProps {
  label: string;
  busy: boolean;
  /** Said instead of `label` while the form is being sent (without it, the button is only disabled). */
  busyLabel?: string;
  /** The action ends or removes something. */
  danger?: boolean;
}

/** A form's main button, disabled while the form is being sent: one click, one request. */
export function SubmitButton(props: SubmitButtonProps) {
  return (
    <button type="submit" class={props.danger ? "primary danger" : "primary"} disabled={props.busy}>
      {props.busy && props.busyLabel ? props.busyLabel : props.label}
    </button>
  );
}

/**
 * A section with the form that creates one thing, both named by the heading: the fields, the submission's
 * error, then the button. `intro` stands between the heading and the form.
 */
export function CreateSection(props: {
  id: string;
  title: string;
  submission: Submission;
  label: string;
  intro?: ComponentChildren;
  children: ComponentChildren;
}) {
  const { busy, error, submit } = props.submission;
  return (
    <Section id={props.id} title={props.title}>
      {props.intro}
      <form onSubmit={submit} aria-labelledby={props.id}>
        {props.children}
        <ErrorBox error={error} />
        <SubmitButton label={props.label} busy={busy} busyLabel="Creating…" />
      </form>
    </Section>
  );
}

// --- formatting -----------------------------------------------------------------------------------

export function Time(props: { value?: string | null; empty?: string }) {
  if (!props.value) return <span>{props.empty ?? "—"}</span>;
  const moment = new Date(props.value);
  if (Number.isNaN(moment.getTime())) return <span>{props.value}</span>;
  const shown = moment.toISOString().replace("T", " ").slice(0, 16) + " UTC";
  return <time dateTime={props.value}>{shown}</time>;
}

const STATUS_WORDS: Record<string, string> = {
  compliant: "Compliant",
  non_compliant: "Non-compliant",
  not_scanned: "Not scanned",
  active: "Active",
  expired: "Expired",
  revoked: "Revoked",
  sent: "Sent",
  failed: "Failed",
  pending: "Pending",
  sending: "Sending",
};

export function StatusBadge(props: { status: ImageStatus | string }) {
  return <span class={`badge status-${props.status}`}>{STATUS_WORDS[props.status] ?? props.status}</span>;
}

export function SeverityBadge(props: { severity: string }) {
  return <span class={`badge severity-${props.severity}`}>{props.severity}</span>;
}

export function words(value: string): string {
  return value.replace(/_/g, " ");
}

export function severityCount(counts: Counts | null | undefined, severity: (typeof SEVERITIES)[number]): number {
  return counts?.vulnerabilities?.[severity] ?? 0;
}

export function imageReference(image: { registry: string; repository: string; tags?: string[] }): string {
  const tag = image.tags && image.tags.length > 0 ? `:${image.tags[0]}` : "";
  return `${image.registry}/${image.repository}${tag}`;
}

export function csv(value: string): string[] {
  return value
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
}
