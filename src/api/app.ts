// The operator REST API (/api/v3): authentication, routes, and the one place where typed
// errors become HTTP status codes.

import { Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import type { ApiEnv } from "./access.ts";
import { errorResponse, json } from "./http-util.ts";
import { SocleError } from "../model/errors.ts";
import { systemRoutes } from "./routes-system.ts";
import { userRoutes } from "./routes-users.ts";
import { paramRoutes } from "./routes-params.ts";
import { objectRoutes } from "./routes-objects.ts";
import { fileRoutes } from "./routes-files.ts";
import { isoFetchRoutes } from "./routes-iso-fetch.ts";
import { renderRoutes } from "./routes-render.ts";
import { registerRoutes } from "./routes-register.ts";
import { jobRoutes } from "./routes-jobs.ts";
import { CRL_PATH, pkiRoutes } from "./routes-pki.ts";
import { haRoutes, infoWithHa } from "./routes-ha.ts";
import { timelineRoutes } from "./routes-timeline.ts";
import { webhookRoutes } from "./routes-webhooks.ts";
import { metricsRoutes } from "./routes-metrics.ts";
import { UI_LOGIN_PATH, UI_LOGOUT_PATH, isUiRequest, sessionCookie, uiRoutes, uiSession } from "./routes-ui.ts";
import { createUiHandler } from "../ui/serve.ts";
import { isOwnOrigin } from "./origin.ts";

/**
 * Routes that hand out credentials or secrets which outlive a session (bearer tokens, machine
 * certificates, a webhook's signing key, an HA enrolment secret): never to the web UI's session
 * cookie, so script running in a page (a bug, an injected script) cannot turn a session into a
 * credential that logout does not end. The CLI, with the user's own password or token, can.
 */
const NOT_FOR_SESSIONS = [
  /^\/api\/v3\/users\/[^/]+\/token$/,
  /^\/api\/v3\/machines\/[^/]+\/token$/,
  /^\/api\/v3\/machines\/[^/]+\/csr$/,
  /^\/api\/v3\/webhooks\/[^/]+\/secret$/,
  /^\/api\/v3\/ha\/enrolment$/,
];

/** Routes anyone may call without credentials. */
const OPEN_ROUTES = new Set(["/api/v3/info", CRL_PATH, UI_LOGIN_PATH, UI_LOGOUT_PATH]);

export function createApi(deps: ApiDeps, remoteOf: (req: Request) => string = () => ""): Hono<ApiEnv> {
  const log = deps.log;
  const app = new Hono<ApiEnv>();

  // One debug line per request; nothing gathered (the client's address is a system call) when
  // debug lines are not written.
  app.use("*", async (c, next) => {
    if (!log.enabled("debug")) return next();
    const started = performance.now();
    await next();
    log.debug("request", {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      remote: remoteOf(c.req.raw),
    });
  });

  // Writes from another site are refused whatever credential comes with them: a browser attaches
  // Basic credentials it has cached (and would attach a cookie) to a form posted from any page,
  // and some write routes take any body (file uploads). Browsers say where a request comes from
  // (Sec-Fetch-Site, Origin); the CLI, agents and scripts send neither.
  app.use("/api/v3/*", async (c, next) => {
    const m = c.req.method;
    if (m === "GET" || m === "HEAD") return next();
    const site = c.req.header("sec-fetch-site");
    const origin = c.req.header("origin");
    if (site === "cross-site" || site === "same-site" || (origin !== undefined && !isOwnOrigin(origin, c.req.header("host")))) {
      throw new SocleError("Forbidden", "api", c.req.path, [
        `${m} from another site refused (${origin !== undefined ? `Origin "${origin.slice(0, 200)}"` : `Sec-Fetch-Site ${site}`}): only pages of this server and clients that are not browsers may write`,
      ]);
    }
    return next();
  });

  // Credentials and secrets are never kept by a cache on the way or in the browser.
  app.use("/api/v3/*", async (c, next) => {
    await next();
    if (NOT_FOR_SESSIONS.some((re) => re.test(c.req.path))) c.res.headers.set("Cache-Control", "no-store");
  });

  app.use("/api/v3/*", async (c, next) => {
    if (OPEN_ROUTES.has(c.req.path)) return next();
    // The client-certificate listener (mtls-server.ts) passes the verified certificate as env.
    const clientCert = (c.env as { clientCert?: Uint8Array } | undefined)?.clientCert;
    const header = c.req.header("authorization") ?? null;
    // The web UI's session cookie, when no header speaks for the request (routes-ui.ts).
    const session = header === null && !clientCert ? sessionCookie(c.req.header("cookie")) : undefined;
    if (session !== undefined) {
      if (NOT_FOR_SESSIONS.some((re) => re.test(c.req.path))) {
        throw new SocleError("Forbidden", "ui", "", [`${c.req.path} hands out a credential that would outlive the web UI's session: ask for it with the CLI (socle ... with your password or token)`]);
      }
      c.set("principal", uiSession(deps, c, session, () => remoteOf(c.req.raw)));
      return next();
    }
    const principal = clientCert
      ? await deps.authn.authenticateClientCert(clientCert, header, () => remoteOf(c.req.raw))
      : await deps.authn.authenticate(header, () => remoteOf(c.req.raw));
    c.set("principal", principal);
    return next();
  });

  // First: its guard confines registration tokens to POST /api/v3/register.
  registerRoutes(app, deps, remoteOf);
  systemRoutes(app, deps.ha ? { ...deps, info: infoWithHa(deps.info, deps.ha) } : deps);
  userRoutes(app, deps);
  paramRoutes(app, deps);
  renderRoutes(app, deps);
  fileRoutes(app, deps); // before objectRoutes, whose /api/v3/:type would take "files"
  isoFetchRoutes(app, deps);
  pkiRoutes(app, deps);
  haRoutes(app, deps); // before objectRoutes, whose /api/v3/:type would take "ha"
  timelineRoutes(app, deps); // before objectRoutes: /api/v3/timeline and /api/v3/machines/:id/timeline
  jobRoutes(app, deps); // before objectRoutes: the scheduler owns POST /jobs, and jobs change by their own rules
  uiRoutes(app, deps, remoteOf); // before objectRoutes, whose /api/v3/:type would take "ui"
  webhookRoutes(app, deps); // before objectRoutes: the Secret is written as a string and stored sealed
  objectRoutes(app, deps);
  metricsRoutes(app, deps, remoteOf); // GET /metrics: outside /api/v3 and its middleware; authenticates itself

  // The web UI (ui/serve.ts): its pages and bundle, outside /api/v3 and its authentication.
  const ui = createUiHandler();
  app.get("*", async (c, next) => (await ui(c.req.raw)) ?? next());

  app.notFound((c) =>
    json(new SocleError("NotFound", "api", c.req.path, `no route for ${c.req.method} ${c.req.path}`).toJSON(), 404),
  );

  app.onError((err, c) => {
    if (err instanceof SocleError) {
      if (err.type === "TooManyRequests") {
        // The throttles say when in their message ("retry in 8 s"); Retry-After says the same.
        const res = errorResponse(err);
        const wait = /retry in (\d+) s/.exec(err.messages.join(" "))?.[1];
        res.headers.set("Retry-After", wait ?? "5");
        return res;
      }
      const res = errorResponse(err);
      // No Basic dialog over the UI, nor for a page opened in a browser tab: a browser that has
      // cached Basic credentials sends them with any site's forms.
      if (isUiRequest(c) || c.req.header("sec-fetch-mode") === "navigate") res.headers.delete("WWW-Authenticate");
      return res;
    }
    // A bug, not bad input: log it with the route, answer a generic 500.
    log.error("internal error", { method: c.req.method, path: c.req.path, error: (err as Error)?.stack ?? String(err) });
    return json(new SocleError("Unavailable", "api", c.req.path, "internal error; see the server log").toJSON(), 500);
  });

  return app;
}
