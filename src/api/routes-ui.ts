// The web UI's session: a login that puts a user token in a cookie the page's scripts cannot read,
// and a logout that ends it.
//
//   POST /api/v3/ui/login   {Name, Password}  -> {Name, Roles}; Set-Cookie: __Host-socle-session
//   POST /api/v3/ui/logout                    -> 204; the cookie cleared, its token refused from now
//   GET  /api/v3/ui/session                   -> {Name, Roles} of the caller (401 when logged out)
//
// The cookie: __Host- (the browser takes it only over HTTPS, for this host alone, Path=/), Secure,
// HttpOnly (no script reads it: an XSS cannot carry the token away), SameSite=Strict (no other
// site's page sends it). Its lifetime is the uiSessionTimeout pref, at most maxTokenTtl.
//
// How app.ts treats it (uiSession below): a request without an Authorization header but with the
// cookie is authenticated by the token in it, which must be a user's. A write (anything but GET
// and HEAD) with the cookie also needs the header X-Socle-UI: 1, which a form or an image of
// another site cannot send: with SameSite that is two locks on cross-site writes. A 401 to a
// request of the UI (the cookie or that header) has no WWW-Authenticate, or the browser would
// open its Basic password dialog over the page.

import type { Context, Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, principalOf } from "./access.ts";
import { clientAddress, json, readJson } from "./http-util.ts";
import { SocleError, badRequest } from "../model/errors.ts";
import type { Principal } from "../auth/claims.ts";
import { AUTHENTICATION_FAILED } from "./authn.ts";

export const SESSION_COOKIE = "__Host-socle-session";
export const UI_HEADER = "x-socle-ui";
export const UI_LOGIN_PATH = "/api/v3/ui/login";
export const UI_LOGOUT_PATH = "/api/v3/ui/logout";

/** The session cookie's value in a Cookie header, or undefined. */
export function sessionCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const v = part.slice(eq + 1).trim();
    return v === "" ? undefined : v;
  }
  return undefined;
}

/** Whether a request comes from the web UI: it carries the session cookie or X-Socle-UI. */
export function isUiRequest(c: Context): boolean {
  return c.req.header(UI_HEADER) !== undefined || sessionCookie(c.req.header("cookie")) !== undefined;
}

const SAFE_METHODS = new Set(["GET", "HEAD"]);

/**
 * The principal of a request authenticated by the session cookie `token` (app.ts calls this when
 * there is no Authorization header). A write without X-Socle-UI: 1 is refused before the token is
 * looked at.
 */
export function uiSession(deps: ApiDeps, c: Context, token: string, remoteOf: () => string): Principal {
  if (!SAFE_METHODS.has(c.req.method) && c.req.header(UI_HEADER) !== "1") {
    throw new SocleError("Forbidden", "ui", "", [
      `${c.req.method} with the web UI's session cookie needs the header "X-Socle-UI: 1" (a page of another site cannot send it)`,
    ]);
  }
  return deps.authn.authenticateSession(token, remoteOf);
}

function setCookie(token: string, maxAge: number): string {
  return `${SESSION_COOKIE}=${token}; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`;
}

const NO_STORE = { "Cache-Control": "no-store" };

export function uiRoutes(app: Hono<ApiEnv>, deps: ApiDeps, remoteOf: (req: Request) => string): void {
  const rolesOf = (name: string): string[] => {
    const user = deps.store.get("users", name);
    return Array.isArray(user?.Roles) ? (user.Roles as unknown[]).filter((r): r is string => typeof r === "string") : [];
  };

  // Open (app.ts): no credentials yet. The password is checked as a Basic header's is.
  app.post(UI_LOGIN_PATH, async (c) => {
    const body = (await readJson(c, { model: "ui", limit: 16 * 1024 })) as Record<string, unknown> | null;
    const name = body?.Name;
    const password = body?.Password;
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("ui", "", "login: the body must be a JSON object {Name, Password}");
    if (typeof name !== "string" || name === "") throw badRequest("ui", "", "Name: expected a non-empty string");
    if (typeof password !== "string") throw badRequest("ui", name, "Password: expected a string");
    const remote = clientAddress(c) || remoteOf(c.req.raw);
    const p = await deps.authn.login(name, password, remote);
    const user = deps.store.get("users", p.name);
    if (!user) throw new SocleError("Unauthorized", "auth", "", AUTHENTICATION_FAILED); // deleted meanwhile
    const ttl = deps.prefs.tokenTtl("uiSessionTimeout");
    const { token, expiresAt } = deps.authn.tokenForUser(user, ttl);
    deps.log.info("web UI login", { user: p.name, remote });
    return json({ Name: p.name, Roles: rolesOf(p.name), Expires: new Date(expiresAt).toISOString() }, 200, { ...NO_STORE, "Set-Cookie": setCookie(token, ttl) });
  });

  // Open too (app.ts), so that a session that expired can still clear its cookie. A valid token in
  // the cookie is put on the deny-list; a write rule as for every cookie request.
  app.post(UI_LOGOUT_PATH, (c) => {
    const token = sessionCookie(c.req.header("cookie"));
    if (token !== undefined) {
      if (c.req.header(UI_HEADER) !== "1") {
        throw new SocleError("Forbidden", "ui", "", [`POST with the web UI's session cookie needs the header "X-Socle-UI: 1" (a page of another site cannot send it)`]);
      }
      try {
        const p = deps.authn.authenticateSession(token, () => remoteOf(c.req.raw));
        deps.authn.revokeToken(token);
        deps.log.info("web UI logout", { user: p.name, remote: remoteOf(c.req.raw) });
      } catch (err) {
        if (!(err instanceof SocleError) || err.type !== "Unauthorized") throw err;
      }
    }
    return new Response(null, { status: 204, headers: { ...NO_STORE, "Set-Cookie": setCookie("", 0) } });
  });

  app.get("/api/v3/ui/session", (c) => {
    const p = principalOf(c);
    if (p.kind !== "user") throw new SocleError("Forbidden", "ui", "", [`a ${p.kind} token has no web UI session`]);
    return json({ Name: p.name, Roles: rolesOf(p.name) }, 200, NO_STORE);
  });
}
