// The app: who is logged in, the navigation and the page the address names.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, setUnauthorizedHandler } from "./api.ts";
import { Link, navigate, onNavigate } from "./components.tsx";
import { LOGIN_PATH, PAGES } from "../routes.ts";
import { LoginPage } from "./pages/login.tsx";
import { MachinesPage } from "./pages/machines.tsx";
import { MachinePage } from "./pages/machine.tsx";
import { BootEnvsPage } from "./pages/bootenvs.tsx";
import { SubnetsPage } from "./pages/subnets.tsx";
import { WorkflowsPage } from "./pages/workflows.tsx";
import { FilesPage } from "./pages/files.tsx";
import { EventsPage } from "./pages/events.tsx";
import { SystemPage } from "./pages/system.tsx";

export interface Session {
  Name: string;
  Roles: string[];
}

function Page(props: { path: string }) {
  const p = props.path;
  if (p.startsWith("/machines/")) return <MachinePage id={decodeURIComponent(p.slice("/machines/".length))} />;
  switch (p) {
    case "/bootenvs":
      return <BootEnvsPage />;
    case "/subnets":
      return <SubnetsPage />;
    case "/workflows":
      return <WorkflowsPage />;
    case "/files":
      return <FilesPage />;
    case "/events":
      return <EventsPage />;
    case "/system":
      return <SystemPage />;
    default:
      return <MachinesPage />;
  }
}

function App() {
  const [path, setPath] = useState(location.pathname);
  const [session, setSession] = useState<Session | null | undefined>(undefined);

  useEffect(() => onNavigate(() => setPath(location.pathname)), []);
  useEffect(() => {
    setUnauthorizedHandler(() => setSession(null));
    // Not logged in (401), or the server unreachable: the login form, which says what goes wrong.
    api<Session>("GET", "/api/v3/ui/session", { quiet401: true })
      .then(setSession)
      .catch(() => setSession(null));
  }, []);
  // The page's title says where the keyboard user is after a navigation.
  useEffect(() => {
    const page = PAGES.find((p) => path.startsWith(p.path));
    document.title = `${session === null ? "Log in" : (page?.title ?? "Machines")} · Socle`;
    document.getElementById("main")?.focus({ preventScroll: true });
  }, [path, session]);

  if (session === undefined) return <p class="muted boot">Loading…</p>;
  if (session === null) {
    return (
      <LoginPage
        onLogin={(s) => {
          setSession(s);
          if (location.pathname === LOGIN_PATH || location.pathname === "/") navigate("/machines");
        }}
      />
    );
  }
  const logout = async () => {
    try {
      await api("POST", "/api/v3/ui/logout");
    } finally {
      setSession(null);
      navigate(LOGIN_PATH);
    }
  };
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <span class="brand">Socle</span>
        <nav aria-label="Pages">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <Link href={p.path} current={path === p.path || (p.path === "/machines" && (path === "/" || path.startsWith("/machines/")))}>
                  {p.title}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          {session.Name}
          <button type="button" onClick={logout}>
            Log out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
