// Login: name and password, traded for the session cookie (HttpOnly: the page never holds it).

import { useState } from "preact/hooks";
import type { TargetedEvent } from "preact";
import { ApiError, api } from "../api.ts";
import type { Session } from "../main.tsx";

export function LoginPage(props: { onLogin: (s: Session) => void }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: TargetedEvent<HTMLFormElement>) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const s = await api<Session>("POST", "/api/v3/ui/login", { body: { Name: name, Password: password }, quiet401: true });
      setPassword("");
      props.onLogin(s);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login" id="main" tabIndex={-1}>
      <h1>Socle</h1>
      <form onSubmit={submit} aria-describedby="login-error">
        <label>
          User name
          <input name="username" autocomplete="username" value={name} onInput={(e) => setName(e.currentTarget.value)} required autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
        </label>
        <button class="primary" type="submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
        <div id="login-error" aria-live="assertive">
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
        </div>
      </form>
    </main>
  );
}
