// Routing with the history API: every page and its filters live in the URL, so a URL can be shared.

import { useEffect, useState } from "preact/hooks";

const CHANGED = "riskgate:navigate";

export interface Location {
  path: string;
  query: URLSearchParams;
  href: string;
}

function current(): Location {
  return {
    path: window.location.pathname.replace(/\/+$/, "") || "/",
    query: new URLSearchParams(window.location.search),
    href: window.location.pathname + window.location.search,
  };
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === window.location.pathname + window.location.search) return;
  if (options.replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new Event(CHANGED));
}

export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    window.addEventListener("popstate", update);
    window.addEventListener(CHANGED, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(CHANGED, update);
    };
  }, []);
  return location;
}

/** `/images/img-1` against `/images/:id` → {id: "img-1"}; null when it does not match. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let index = 0; index < want.length; index++) {
    if (want[index].startsWith(":")) {
      if (!got[index]) return null;
      params[want[index].slice(1)] = decodeURIComponent(got[index]);
    } else if (want[index] !== got[index]) {
      return null;
    }
  }
  return params;
}

/** The path with these query values (empty ones left out). */
export function withParams(path: string, values: Record<string, string | null | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) if (value) params.set(name, value);
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * A list's filters: `applied` are those in the URL, `draft` what the form holds until it applies them.
 * Back and forward change the URL under the form: the form shows again what is applied.
 */
export function useFilters<Name extends string>(location: Location, names: readonly Name[]) {
  const applied = Object.fromEntries(names.map((name) => [name, location.query.get(name) ?? ""])) as Record<Name, string>;
  const [draft, setDraft] = useState(applied);
  useEffect(() => setDraft(applied), [location.href]);
  const set = (name: Name) => (value: string) => setDraft((current) => ({ ...current, [name]: value }));
  return { applied, draft, set };
}
