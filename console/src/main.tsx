// The console: the session (token, caller), the frame (header, navigation) and the pages by URL.

import "./styles.css";

import type { ComponentChildren } from "preact";
import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";

import { ApiError, onUnauthorized, setToken } from "./api";
import { Dialog, ErrorBox, Link, Loading, PageTitle, type Session, SessionContext, sessionFor } from "./components";
import { AcceptancePage } from "./pages/acceptance";
import { AcceptancesPage } from "./pages/acceptances";
import { AuditPage } from "./pages/audit";
import { ImagePage } from "./pages/image";
import { ImagesPage } from "./pages/images";
import { IntegrationsPage } from "./pages/integrations";
import { NotificationsPage } from "./pages/notifications";
import { PoliciesPage, PolicyPage } from "./pages/policies";
import { ResponsePoliciesPage } from "./pages/response-policies";
import { ScopesPage } from "./pages/scopes";
import { UserPage, UsersPage } from "./pages/users";
import { type Location, match, useLocation } from "./router";
import { keepToken, SignInForm, storedToken, whoIs } from "./signin";
import type { Caller } from "./types";

interface Section {
  href: string;
  label: string;
  shown: (session: Session) => boolean;
}

const SECTIONS: Section[] = [
  { href: "/images", label: "Images", shown: (s) => s.can("images:read") },
  { href: "/risk-acceptances", label: "Risk acceptances", shown: (s) => s.can("risks:read") },
  { href: "/assurance-policies", label: "Assurance policies", shown: (s) => s.can("assurance_policies:read") },
  { href: "/response-policies", label: "Response policies", shown: (s) => s.can("response_policies:read") },
  { href: "/integrations", label: "Integrations", shown: (s) => s.can("integrations:read") },
  { href: "/notifications", label: "Notifications", shown: (s) => s.can("response_policies:read") },
  { href: "/users", label: "Users and tokens", shown: (s) => s.canGlobally("users:manage") },
  { href: "/scopes", label: "Scopes and roles", shown: (s) => s.canGlobally("users:manage") },
  { href: "/audit", label: "Audit log", shown: (s) => s.canGlobally("audit:read") },
];

type Render = (params: Record<string, string>, location: Location) => ComponentChildren;

const PAGES: [string, Render][] = [
  ["/images", (_, location) => <ImagesPage location={location} />],
  ["/images/:id", (params, location) => <ImagePage id={params.id} location={location} />],
  ["/risk-acceptances", (_, location) => <AcceptancesPage location={location} />],
  ["/risk-acceptances/:id", (params) => <AcceptancePage id={params.id} />],
  ["/assurance-policies", () => <PoliciesPage />],
  ["/assurance-policies/new", () => <PolicyPage id={null} />],
  ["/assurance-policies/:id", (params) => <PolicyPage id={params.id} />],
  ["/response-policies", () => <ResponsePoliciesPage />],
  ["/integrations", () => <IntegrationsPage />],
  ["/notifications", (_, location) => <NotificationsPage location={location} />],
  ["/users", () => <UsersPage />],
  ["/users/:id", (params) => <UserPage id={params.id} />],
  ["/scopes", () => <ScopesPage />],
  ["/audit", (_, location) => <AuditPage location={location} />],
];

function Page(props: { location: Location; session: Session }) {
  const { location, session } = props;
  if (location.path === "/" || location.path === "/index.html") {
    const first = SECTIONS.find((section) => section.shown(session));
    if (!first) {
      return (
        <>
          <PageTitle title="Nothing to show">Nothing to show</PageTitle>
          <p>This token may not read anything the console shows (it may still submit scans).</p>
        </>
      );
    }
    return first.href === "/images" ? <ImagesPage location={location} /> : <Redirect to={first.href} />;
  }
  for (const [pattern, page] of PAGES) {
    const params = match(pattern, location.path);
    if (params) return <>{page(params, location)}</>;
  }
  return (
    <>
      <PageTitle title="Not found">Page not found</PageTitle>
      <p>
        There is no page at <code>{location.path}</code>. <Link href="/images">Go to the images</Link>.
      </p>
    </>
  );
}

function Redirect(props: { to: string }) {
  useEffect(() => {
    window.history.replaceState(null, "", props.to);
    window.dispatchEvent(new Event("popstate"));
  }, [props.to]);
  return null;
}

function Frame(props: { session: Session | null; onSignOut: () => void; children: ComponentChildren; path: string }) {
  const { session } = props;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/" class="brand">
          Riskgate
        </Link>
        {session && (
          <nav aria-label="Sections">
            <ul>
              {SECTIONS.filter((section) => section.shown(session)).map((section) => {
                const here = props.path === section.href || props.path.startsWith(`${section.href}/`);
                return (
                  <li key={section.href}>
                    <Link href={section.href} aria-current={here ? "page" : undefined}>
                      {section.label}
                    </Link>
                  </li>
                );
              })}
            </ul>
          </nav>
        )}
        {session && (
          <div class="who">
            <span>
              Signed in as <strong>{session.caller.name ?? session.caller.user_id}</strong>
              <span class="roles">
                {" "}
                ({session.caller.role_bindings.map((binding) => `${binding.role} in ${binding.scope ?? "global"}`).join(", ")})
              </span>
            </span>
            <button type="button" onClick={props.onSignOut}>
              Sign out
            </button>
          </div>
        )}
      </header>
      <main id="main">{props.children}</main>
    </>
  );
}

function App() {
  const [token, setTokenState] = useState<string | null>(storedToken);
  const [caller, setCaller] = useState<Caller | null>(null);
  const [startError, setStartError] = useState<unknown>(null);
  const [signInReason, setSignInReason] = useState<string | null>(null);
  const [expired, setExpired] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const location = useLocation();

  setToken(token);

  // A token kept from earlier in this tab: who is it (still)?
  useEffect(() => {
    if (!token || caller) return;
    let cancelled = false;
    setStartError(null);
    whoIs(token)
      .then((found) => {
        if (!cancelled) setCaller(found);
      })
      .catch((error: unknown) => {
        if (cancelled) return;
        if (error instanceof ApiError && error.status === 401) {
          keepToken(null);
          setTokenState(null);
          setSignInReason("The token this tab kept was refused (expired, revoked or its user disabled): sign in again.");
        } else {
          setStartError(error);
        }
      });
    return () => {
      cancelled = true;
    };
  }, [token, caller, attempt]);

  useEffect(() => {
    onUnauthorized(caller ? () => setExpired(true) : null);
    return () => onUnauthorized(null);
  }, [caller]);

  const session = useMemo(() => (caller ? sessionFor(caller) : null), [caller]);

  const signedIn = (newToken: string, who: Caller) => {
    keepToken(newToken);
    setToken(newToken);
    setTokenState(newToken);
    setCaller(who);
    setExpired(false);
    setSignInReason(null);
  };
  const signOut = () => {
    keepToken(null);
    setToken(null);
    setTokenState(null);
    setCaller(null);
    setExpired(false);
    setSignInReason("You are signed out.");
  };

  if (!session) {
    return (
      <Frame session={null} onSignOut={signOut} path={location.path}>
        <PageTitle title="Sign in">Sign in to Riskgate</PageTitle>
        {token && !startError ? (
          <Loading what="your session" />
        ) : startError ? (
          <ErrorBox error={startError} onRetry={() => setAttempt((value) => value + 1)} />
        ) : (
          <SignInForm onSignedIn={signedIn} reason={signInReason} />
        )}
      </Frame>
    );
  }
  return (
    <SessionContext.Provider value={session}>
      <Frame session={session} onSignOut={signOut} path={location.path}>
        <Page location={location} session={session} />
      </Frame>
      {expired && (
        <Dialog title="Sign in again" onClose={() => setExpired(false)}>
          <SignInForm
            onSignedIn={signedIn}
            reason="The API refused your token (expired, revoked, or its user disabled). Paste a valid one: this page and what you typed in it stay as they are."
          />
        </Dialog>
      )}
    </SessionContext.Provider>
  );
}

const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(<App />, root);
}
