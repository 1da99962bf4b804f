// The machine-trust issue, "How it is shown": an OpenAPI-driven sweep that calls every route with
// no credentials, a registration token, a machine token, a user token narrowed to one claim, and
// the admin as the control, and checks each answer against a table of what each may do.
//
// The table is access-sweep-table.ts (its header says who may do what, and why). Each principal
// gets a Socle of its own (API and boot file server on port 0, loopback), seeded the same way:
// machines A (with the machine token) and B, a param, a profile, a template, a boot environment,
// a subnet, a reservation, a lease, a role with one claim and the user `narrow`, a file, an ISO,
// and a webhook posting to a receiver on loopback, with one delivery in its log. Its sweep runs
// the rows in phases, reads, writes, secret rotations, deletes, so that the writes it may make do
// not take away what later rows name; writes change nothing the rows rely on (a machine's
// inventory, a Description, a pref set to its own value).
//
// What it pins:
// - Every answer: a row's principals get a 2xx (or the row's status); everyone else 401 without
//   credentials, 403 or 404 with.
// - A refusal does not tell a machine that exists from one that does not: B by Name or by MAC is
//   refused as a Name or MAC that no machine has is; the same for a webhook's name.
// - No answer to anyone holds a Secret (a webhook's: but the admin's GET of it), a password
//   hash, a server secret or a private key; no answer to a principal other than the admin holds
//   machine B's Uuid, Name, MAC, Address or parameter value (unless the request itself carried
//   it), or a token of anyone else.
// - Coverage: every operation of the OpenAPI document has rows, and so has every route the API
//   serves (read from the Hono app itself: boot-local, /params/<name>, /files, /ws... are served
//   but not in the document). A route added later without rows fails here, naming it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { randomBytes } from "node:crypto";
import { ADMIN_PASSWORD, basic, type TestSocle } from "../helpers/socle.ts";
import { registrationToken, startWithBootServer } from "./discovery-boot.ts";
import { NARROW_PASSWORD, NARROW_ROLE, PRINCIPALS, ROWS, SEED, phaseOf, type Fixtures, type Phase, type Row, type Who } from "./access-sweep-table.ts";
import { createApi } from "../../src/api/app.ts";
import type { ApiDeps } from "../../src/api/deps.ts";
import { createLogger } from "../../src/log/logger.ts";
import { MODELS } from "../../src/model/registry.ts";
import { peekToken } from "../../src/auth/tokens.ts";
import { ENVELOPE_FIELD, ParamCipher, isEnvelope } from "../../src/model/secure-params.ts";
import { openWebhookSecret } from "../../src/hooks/sender.ts";

const ADMIN = basic("admin", ADMIN_PASSWORD);
const PHASES: readonly Phase[] = ["read", "write", "rotate", "delete"];
const METHODS = ["get", "head", "post", "put", "patch", "delete", "options", "trace"];
/** How every token begins: base64url of its fixed JWT header (src/auth/tokens.ts). */
const TOKEN_HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
const TOKEN = new RegExp(`${TOKEN_HEADER}\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+`, "g");

interface Answer {
  status: number;
  /** Body and headers as received, for the leak scan. */
  text: string;
  body: any;
}

interface Sweep {
  who: Who;
  s: TestSocle;
  f: Fixtures;
  /** What the request did not match in the table, one line each. */
  mismatches: string[];
  /** What an answer carried that it should not have, one line each. */
  leaks: string[];
  /** Status of every row, by "METHOD /path @target". */
  statuses: Map<string, number>;
  /** The admin's sweep only: what the scan finds in its answers as if they went to machine A. */
  control: string[];
}

const must = async (s: TestSocle, method: string, path: string, body?: unknown) => {
  const r = await s.call(method, `/api/v3${path}`, { auth: ADMIN, ...(body !== undefined ? { body } : {}) });
  if (r.status >= 300) throw new Error(`seed: ${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

async function upload(s: TestSocle, path: string, text: string) {
  const r = await s.req("PUT", `/api/v3/${path}`, { auth: ADMIN, raw: text, type: "application/octet-stream" });
  if (r.status >= 300) throw new Error(`seed: PUT ${path}: ${r.status} ${await r.text()}`);
}

/** The Id of the seeded webhook's delivery of `event`, once delivered (the sender posts on its own). */
async function delivered(s: TestSocle, event: string): Promise<string> {
  for (const end = Date.now() + 10_000; Date.now() < end; await Bun.sleep(50)) {
    const log = (await must(s, "GET", `/webhooks/${SEED.webhook}/deliveries`)) as Array<{ Id: string; Event: string; State: string }>;
    const done = log.find((e) => e.Event === event && e.State === "delivered");
    if (done) return done.Id;
  }
  throw new Error(`seed: no delivered ${event} in the log of webhook ${SEED.webhook} after 10 s`);
}

/** The same objects on every server; returns what rows name. */
async function seed(s: TestSocle, hookUrl: string): Promise<Fixtures> {
  await must(s, "POST", "/params", { Name: SEED.param, Schema: { type: "string" } });
  await must(s, "POST", "/profiles", { Name: SEED.profile, Params: { [SEED.param]: "profile-value" } });
  await must(s, "POST", "/tasks", { Name: SEED.task, Templates: [{ Name: "run", Contents: "echo sweep task\n" }] });
  await must(s, "POST", "/stages", { Name: SEED.stage, Tasks: [SEED.task] });
  await must(s, "POST", "/workflows", { Name: SEED.workflow, Stages: [SEED.stage] });
  // A Stage, not a Workflow: under a Workflow BootEnv is read-only, and A's boot-local row sets it.
  const a = await must(s, "POST", "/machines", { Name: SEED.a.name, HardwareAddrs: [SEED.a.mac], BootEnv: "discovery", Stage: SEED.stage, Profiles: [SEED.profile], Params: { [SEED.param]: "a-value" } });
  const b = await must(s, "POST", "/machines", { Name: SEED.b.name, HardwareAddrs: [SEED.b.mac], Address: SEED.b.address, BootEnv: "local", Stage: SEED.stage, Params: { [SEED.param]: SEED.b.value } });
  const jobA = (await must(s, "POST", "/jobs", { Machine: a.Uuid, BootEnv: "discovery" })).Uuid;
  const jobB = (await must(s, "POST", "/jobs", { Machine: b.Uuid, BootEnv: "local" })).Uuid;
  // The webhook before the template, whose create is then the one delivery in its log.
  await must(s, "POST", "/webhooks", { Name: SEED.webhook, Url: hookUrl, Events: ["templates.create"], Secret: SEED.webhookSecret, MaxAttempts: 1, TimeoutSeconds: 5 });
  await must(s, "POST", "/templates", { ID: SEED.template, Contents: "sweep template\n" });
  const hookDelivery = await delivered(s, "templates.create");
  await must(s, "POST", "/bootenvs", { Name: SEED.bootenv });
  await must(s, "POST", "/subnets", { Name: SEED.subnet, Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.100", ActiveEnd: "198.51.100.199" });
  await must(s, "POST", "/reservations", { Addr: SEED.reservation, Token: SEED.reservationMac });
  // Leases are the DHCP server's to write; this one goes into the store as the lease engine would.
  const lease = MODELS.leases!.prepare({ Addr: SEED.lease, Token: SEED.leaseMac, Strategy: "MAC", State: "ACK", ExpireTime: new Date(Date.now() + 3_600_000).toISOString() });
  await s.socle.store.put("leases", SEED.lease, lease);
  await must(s, "POST", "/roles", { Name: NARROW_ROLE, Claims: [{ Scope: "machines", Action: "get", Specific: a.Uuid }] });
  await must(s, "POST", "/users", { Name: "narrow", Password: NARROW_PASSWORD, Roles: [NARROW_ROLE, "superuser"] });
  await upload(s, `files/${SEED.file}`, "sweep file\n");
  await upload(s, `isos/${SEED.iso}`, "sweep iso\n");
  return { aUuid: a.Uuid, bUuid: b.Uuid, jobA, jobB, hookUrl, hookDelivery, current: (path) => must(s, "GET", path) };
}

/** The Authorization header of `who` now (a new token each call). */
async function credential(who: Who, s: TestSocle, f: Fixtures, bootPort: number): Promise<string | null> {
  switch (who) {
    case "none":
      return null;
    case "admin":
      return ADMIN;
    case "registration":
      return `Bearer ${await registrationToken(bootPort, SEED.newMac)}`;
    case "machine":
      return `Bearer ${(await must(s, "GET", `/machines/${f.aUuid}/token`)).Token}`;
    case "narrow": {
      const t = await must(s, "GET", `/users/narrow/token?roles=${NARROW_ROLE}`);
      if (JSON.stringify(t.Info.Roles) !== JSON.stringify([NARROW_ROLE])) throw new Error(`narrow token not narrowed: ${JSON.stringify(t.Info)}`);
      return `Bearer ${t.Token}`;
    }
  }
}

function pathOf(row: Row, f: Fixtures): string {
  const values = row.params?.(f) ?? {};
  const template = row.op.slice(row.op.indexOf(" ") + 1);
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`row ${row.op} @${row.target}: no value for {${name}}`);
    return v;
  });
  return `/api/v3${path}${row.query ? `?${row.query}` : ""}`;
}

const headerText = (h: Headers) => [...h.entries()].map(([k, v]) => `${k}: ${v}`).join("\n");

/** A websocket handshake over TLS, as a browser sends it; the answer's status and head. */
function wsHandshake(s: TestSocle, path: string, auth: string | null): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const sock = connect({ host: "127.0.0.1", port: s.socle.apiPort, ca: s.socle.caCertPem });
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(buf)?.[1] ?? 0), text: buf, body: undefined });
    };
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`websocket handshake ${path}: no answer in 5 s`));
    }, 5000);
    sock.on("secureConnect", () => {
      const lines = [
        `GET ${path} HTTP/1.1`,
        `Host: 127.0.0.1:${s.socle.apiPort}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
        "Sec-WebSocket-Version: 13",
        ...(auth ? [`Authorization: ${auth}`] : []),
      ];
      sock.write(`${lines.join("\r\n")}\r\n\r\n`);
    });
    sock.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      if (buf.startsWith("HTTP/1.1 101")) return finish();
      const len = /\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end));
      if (!len || buf.length - end - 4 >= Number(len[1])) finish();
    });
    sock.on("close", finish);
    sock.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function send(s: TestSocle, row: Row, path: string, auth: string | null, body: unknown): Promise<Answer> {
  const method = row.op.slice(0, row.op.indexOf(" "));
  if (row.kind === "websocket") return wsHandshake(s, path, auth);
  const opts =
    row.raw !== undefined
      ? { auth, raw: row.raw, type: "application/octet-stream" }
      : body !== undefined
        ? { auth, body, ...(method === "PATCH" ? { type: "application/json-patch+json" } : {}) }
        : { auth };
  const res = await s.req(method, path, opts);
  let text: string;
  if (row.kind === "sse" && res.status === 200) {
    // An event stream does not end: its first bytes, then hang up.
    const reader = res.body!.getReader();
    const first = await Promise.race([reader.read(), Bun.sleep(2000).then(() => undefined)]);
    text = first?.value ? new TextDecoder().decode(first.value) : "";
    await reader.cancel().catch(() => {});
  } else text = await res.text();
  let parsed: any = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: res.status, text: `${headerText(res.headers)}\n\n${text}`, body: parsed };
}

/** What no answer to anyone may hold: secrets, hashes, server secrets (read now: they rotate). */
function secretsNow(s: TestSocle): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const u of s.socle.store.list("users")) {
    if (typeof u.Secret === "string" && u.Secret) out.push([u.Secret, `user ${String(u.Name)}'s Secret`]);
    if (typeof u.PasswordHash === "string" && u.PasswordHash) out.push([u.PasswordHash, `user ${String(u.Name)}'s PasswordHash`]);
  }
  for (const m of s.socle.store.list("machines")) {
    if (typeof m.Secret === "string" && m.Secret) out.push([m.Secret, `machine ${String(m.Name)}'s Secret`]);
  }
  const settings = JSON.parse(readFileSync(join(s.dir, "settings.json"), "utf8")) as { secrets: Record<string, string> };
  for (const [name, value] of Object.entries(settings.secrets)) out.push([value, `the server secret ${name}`]);
  // A webhook's Secret is stored sealed: the scan looks for it in clear and for its envelope.
  const cipher = new ParamCipher(settings.secrets.secureParamKey!);
  for (const h of s.socle.store.list("webhooks")) {
    if (!isEnvelope(h.Secret)) continue;
    out.push([openWebhookSecret(cipher, h), `webhook ${String(h.Name)}'s Secret`]);
    out.push([h.Secret[ENVELOPE_FIELD], `webhook ${String(h.Name)}'s sealed Secret`]);
  }
  return out;
}

/** Everything an answer to `who` carries that is not its to see. */
function leaksOf(sw: Sweep, row: Row, sent: string, a: Answer): string[] {
  const out: string[] = [];
  const has = (v: string) => v !== "" && a.text.includes(v) && !sent.includes(v);
  // The one answer that holds a webhook's Secret: GET .../secret of that hook, to who may read it.
  const opened = row.op === "GET /webhooks/{key}/secret" && row.may.includes(sw.who) ? `webhook ${row.params?.(sw.f).key}'s Secret` : undefined;
  for (const [value, what] of secretsNow(sw.s)) if (what !== opened && has(value)) out.push(what);
  if (a.text.includes("$argon2")) out.push("a password hash ($argon2...)");
  if (a.text.includes("PRIVATE KEY")) out.push("a private key");
  if (sw.who !== "admin") {
    const b: Array<[string, string]> = [
      [sw.f.bUuid, "B's Uuid"],
      [SEED.b.name, "B's Name"],
      [SEED.b.mac, "B's MAC"],
      [SEED.b.address, "B's Address"],
      [SEED.b.value, "B's parameter value"],
    ];
    for (const [value, what] of b) if (has(value)) out.push(what);
    for (const token of a.text.match(TOKEN) ?? []) {
      if (sent.includes(token)) continue;
      const p = peekToken(token);
      const ownNew = row.op === "POST /register" && p.kind === "machine" && p.sub === a.body?.Machine?.Uuid;
      const own =
        (sw.who === "machine" && p.kind === "machine" && p.sub === sw.f.aUuid) ||
        (sw.who === "narrow" && p.kind === "user" && p.sub === "narrow" && JSON.stringify(p.roles) === JSON.stringify([NARROW_ROLE]));
      if (!own && !ownNew) out.push(`a ${p.kind} token for "${p.sub}"${p.roles ? ` (roles ${p.roles.join(",")})` : ""}`);
    }
  }
  return out;
}

/** The statuses a row's answer may have for `who`. */
function expectedOf(row: Row, who: Who): { text: string; ok: (status: number) => boolean } {
  const exact = (n: number) => ({ text: String(n), ok: (status: number) => status === n });
  if (row.may.includes(who)) {
    const status = row.status?.[who];
    return status !== undefined ? exact(status) : { text: "2xx", ok: (n) => n >= 200 && n < 300 };
  }
  return who === "none" ? exact(401) : { text: "403 or 404", ok: (n) => n === 403 || n === 404 };
}

const labelOf = (row: Row) => `${row.op} @${row.target}`;

/** Every server started, so that afterAll stops them whatever failed. */
const servers: TestSocle[] = [];

/** Where every server's webhooks post (allowed by --webhook-allow-cidrs): takes all, answers 204. */
let receiver: ReturnType<typeof Bun.serve> | undefined;

async function runSweep(who: Who, hookUrl: string): Promise<Sweep> {
  const { s, bootPort } = await startWithBootServer({}, ["--webhook-allow-cidrs", "127.0.0.1/32"]);
  servers.push(s);
  const f = await seed(s, hookUrl);
  let auth = await credential(who, s, f, bootPort);
  const sw: Sweep = { who, s, f, mismatches: [], leaks: [], statuses: new Map(), control: [] };
  for (const phase of PHASES) {
    for (const row of ROWS.filter((r) => phaseOf(r) === phase)) {
      const path = pathOf(row, f);
      const body = row.body ? await row.body(f) : undefined;
      const a = await send(s, row, path, auth, body);
      sw.statuses.set(labelOf(row), a.status);
      const want = expectedOf(row, who);
      const where = `${who} ${labelOf(row)}`;
      if (!want.ok(a.status)) sw.mismatches.push(`${where}: expected ${want.text}, got ${a.status} ${a.text.slice(a.text.indexOf("\n\n") + 2).slice(0, 240)}`);
      const sent = `${decodeURIComponent(path)}\n${body === undefined ? "" : JSON.stringify(body)}\n${auth ?? ""}`;
      for (const leak of leaksOf(sw, row, sent, a)) sw.leaks.push(`${where} (${a.status}): the answer holds ${leak}`);
      if (who === "admin") sw.control.push(...leaksOf({ ...sw, who: "machine" }, row, sent, a));
      // A rotation may have revoked the principal's own token (narrow may revoke its own).
      if (phase === "rotate" && (who === "machine" || who === "narrow")) auth = await credential(who, s, f, bootPort);
    }
  }
  return sw;
}

const sweeps = new Map<Who, Sweep>();
let sweepMs = 0;

beforeAll(async () => {
  const started = performance.now();
  receiver = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(null, { status: 204 }) });
  const hookUrl = `http://127.0.0.1:${receiver.port}/hook`;
  const done = await Promise.all(PRINCIPALS.map((who) => runSweep(who, hookUrl)));
  for (const sw of done) sweeps.set(sw.who, sw);
  sweepMs = performance.now() - started;
}, 50_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await receiver?.stop(true);
});

describe("the sweep covers every route", () => {
  const opPath = (op: string) => op.slice(op.indexOf(" ") + 1);
  const rowOps = new Set(ROWS.map((r) => r.op));

  test("every operation of the OpenAPI document has rows", async () => {
    const doc = await sweeps.get("admin")!.s.call("GET", "/api/v3/openapi.json", { auth: ADMIN });
    expect(doc.status).toBe(200);
    const ops: string[] = [];
    for (const [path, item] of Object.entries(doc.body.paths as Record<string, Record<string, unknown>>)) {
      for (const m of METHODS) if (item[m] !== undefined) ops.push(`${m.toUpperCase()} ${path}`);
    }
    expect(ops.length).toBeGreaterThan(50);
    expect(ops.filter((op) => !rowOps.has(op))).toEqual([]);
  });

  test("every route the API serves has rows; every row names a served route", () => {
    const app = createApi({ log: createLogger({ level: "error", sink: () => {} }), dataDir: "/nonexistent" } as unknown as ApiDeps);
    const served = [...new Set(app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path}`))];
    const pattern = (route: string) => {
      const [method, path] = route.split(" ") as [string, string];
      const re = new RegExp(`^${path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:\w+/g, "[^/]+").replace(/\*/g, ".+")}$`);
      return (op: string) => op.startsWith(`${method} `) && re.test(`/api/v3${opPath(op)}`);
    };
    const matchers = served.map((route) => ({ route, matches: pattern(route) }));
    expect(matchers.filter((m) => ![...rowOps].some(m.matches)).map((m) => m.route)).toEqual([]);
    expect([...rowOps].filter((op) => !matchers.some((m) => m.matches(op)))).toEqual([]);
  });

  test("the sweep ran every row for every principal, in bounded time", () => {
    const labels = new Set(ROWS.map(labelOf));
    expect(labels.size).toBe(ROWS.length); // each row names a distinct request
    for (const who of PRINCIPALS) expect(sweeps.get(who)!.statuses.size).toBe(ROWS.length);
    expect(sweepMs).toBeLessThan(40_000);
  });

  test("the scan sees what it looks for: the admin's answers, read as machine A's, hold all of it", () => {
    const seen = new Set(sweeps.get("admin")!.control);
    for (const what of ["B's Uuid", "B's Name", "B's MAC", "B's Address", "B's parameter value"]) expect(seen).toContain(what);
    const bUuid = sweeps.get("admin")!.f.bUuid;
    expect(seen).toContain(`a machine token for "${bUuid}"`);
    expect(seen).toContain('a user token for "admin"');
    expect(seen).toContain(`webhook ${SEED.webhook}'s Secret`);
  });
});

/** Pairs of rows a principal without the claim must not be able to tell apart. */
const TWINS: Array<[string, string]> = [
  ...["GET", "HEAD"].flatMap((m) => [
    [`${m} /machines/{key} @B by Name`, `${m} /machines/{key} @nobody's Name`],
    [`${m} /machines/{key} @B by MAC`, `${m} /machines/{key} @nobody's MAC`],
    [`${m} /jobs/{key} @B's job`, `${m} /jobs/{key} @nobody's job`],
  ]),
  ["GET /jobs/{key}/log @B's job", "GET /jobs/{key}/log @nobody's job"],
  ["POST /jobs @B's next", "POST /jobs @nobody's"],
  [`GET /webhooks/{key} @${SEED.webhook}`, "GET /webhooks/{key} @nobody's hook"],
  [`HEAD /webhooks/{key} @${SEED.webhook}`, "HEAD /webhooks/{key} @nobody's hook"],
  [`GET /webhooks/{key}/secret @${SEED.webhook}`, "GET /webhooks/{key}/secret @nobody's hook"],
  [`POST /webhooks/{key}/ping @${SEED.webhook}`, "POST /webhooks/{key}/ping @nobody's hook"],
] as Array<[string, string]>;

for (const who of PRINCIPALS) {
  describe(`principal ${who}`, () => {
    test("every answer is what the table says", () => {
      expect(sweeps.get(who)!.mismatches).toEqual([]);
    });
    test("no answer holds what is not its to see", () => {
      expect(sweeps.get(who)!.leaks).toEqual([]);
    });
    if (who !== "admin") {
      test("a refusal does not tell a machine (or webhook) that exists from one that does not", () => {
        const st = sweeps.get(who)!.statuses;
        expect(TWINS.filter(([b, nobody]) => st.get(b) !== st.get(nobody)).map(([b, nobody]) => `${b}: ${st.get(b)}, ${nobody}: ${st.get(nobody)}`)).toEqual([]);
      });
    }
  });
}
