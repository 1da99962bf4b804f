// Webhooks against a real Socle on loopback and real receivers (Bun.serve on 127.0.0.1): signed,
// in order per object, retried with growing gaps, dead-lettered, not held up by a slow receiver,
// resumed after a restart under the same delivery ids; and the attacker's side: SSRF targets,
// the Secret never shown, principals without the claims turned away. 127.0.0.1/32 is allowed by
// --webhook-allow-cidrs (loopback is refused otherwise, which one test checks too).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac, timingSafeEqual } from "node:crypto";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli } from "../src/cli/main.ts";
import { readSse } from "./helpers/sse.ts";
import { ADMIN_PASSWORD, basic, startTestSocle, type TestSocle } from "./helpers/socle.ts";

interface Got {
  headers: Headers;
  body: string;
  at: number;
}

interface Receiver {
  url: string;
  got: Got[];
  stop(): void;
}

function receiver(answer: (n: number) => Response | Promise<Response>): Receiver {
  const got: Got[] = [];
  const srv = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 30,
    fetch: async (req) => {
      got.push({ headers: req.headers, body: await req.text(), at: Date.now() });
      return answer(got.length);
    },
  });
  return { url: `http://127.0.0.1:${srv.port}/hook`, got, stop: () => srv.stop(true) };
}

/** The receiver's side of the signature check, written from the README's description. */
function verified(secret: string, g: Got): boolean {
  const ts = g.headers.get("socle-timestamp") ?? "";
  const id = g.headers.get("socle-delivery") ?? "";
  const sig = g.headers.get("socle-signature") ?? "";
  const want = Buffer.from(`v1=${createHmac("sha256", secret).update(`v1:${ts}:${id}:${g.body}`).digest("hex")}`);
  const have = Buffer.from(sig);
  return have.length === want.length && timingSafeEqual(have, want) && Math.abs(Date.now() / 1000 - Number(ts)) < 300;
}

async function waitFor(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

const SECRET = "receiver-secret-0123456789";
let s: TestSocle;
const receivers: Receiver[] = [];
const hooks: string[] = [];

beforeAll(async () => {
  s = await startTestSocle(["--webhook-allow-cidrs", "127.0.0.1/32"], undefined, { webhooks: { backoffBaseMs: 100, backoffCapMs: 2000 } });
});
afterAll(async () => {
  for (const r of receivers) r.stop();
  await s.stop();
});

function listen(answer: (n: number) => Response | Promise<Response>): Receiver {
  const r = receiver(answer);
  receivers.push(r);
  return r;
}

async function createHook(body: Record<string, unknown>): Promise<any> {
  const res = await s.call("POST", "/api/v3/webhooks", { body: { Secret: SECRET, ...body } });
  expect(res.status).toBe(201);
  hooks.push(String(body.Name));
  return res.body;
}

async function deliveries(name: string): Promise<any[]> {
  const res = await s.call("GET", `/api/v3/webhooks/${name}/deliveries?limit=1000`);
  expect(res.status).toBe(200);
  return res.body;
}

/** Wait (bounded) until the hook's delivery log satisfies `cond`. */
async function logged(name: string, cond: (log: any[]) => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond(await deliveries(name))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${name}'s delivery log`);
    await Bun.sleep(50);
  }
}

const bodyOf = (g: Got) => JSON.parse(g.body);

describe("deliveries", () => {
  test("(a) a good receiver gets each matching change once, in order, signed, under a stable id", async () => {
    const r = listen(() => new Response("ok"));
    await createHook({ Name: "good", Url: r.url, Events: ["machines.*"] });
    await s.call("POST", "/api/v3/profiles", { body: { Name: "not-for-the-hook" } });
    const m = (await s.call("POST", "/api/v3/machines", { body: { Name: "wh-a" } })).body;
    for (const d of ["one", "two", "three"]) {
      expect((await s.call("PATCH", `/api/v3/machines/${m.Uuid}`, { type: "application/json-patch+json", body: [{ op: "add", path: "/Description", value: d }] })).status).toBe(200);
    }
    expect((await s.call("DELETE", `/api/v3/machines/${m.Uuid}`)).status).toBe(200);
    await waitFor("5 deliveries", () => r.got.length >= 5);
    await Bun.sleep(300);
    expect(r.got.length).toBe(5);
    const bodies = r.got.map(bodyOf);
    expect(bodies.map((b) => `${b.Type}.${b.Action}`)).toEqual(["machines.create", "machines.update", "machines.update", "machines.update", "machines.delete"]);
    expect(bodies.slice(1, 4).map((b) => b.Object.Description)).toEqual(["one", "two", "three"]);
    for (let i = 0; i < r.got.length; i++) {
      const g = r.got[i]!;
      const b = bodies[i];
      expect(verified(SECRET, g)).toBe(true);
      expect(verified("another-secret-0123456789", g)).toBe(false);
      expect(g.headers.get("socle-webhook")).toBe("good");
      expect(g.headers.get("socle-event")).toBe(`${b.Type}.${b.Action}`);
      expect(g.headers.get("socle-delivery")).toBe(`good-${b.Seq}`);
      expect(g.headers.get("content-type")).toBe("application/json");
      expect(Object.keys(b).sort()).toEqual(["Action", "Key", "Object", "Seq", "Time", "Type"]);
      expect(b.Key).toBe(m.Uuid);
      expect(b.Object.Secret).toBeUndefined(); // the machine's own secret, redacted as the event stream does
      if (i > 0) expect(b.Seq).toBeGreaterThan(bodies[i - 1].Seq);
    }
    const log = await deliveries("good");
    expect(log.length).toBe(5);
    expect(log.every((e) => e.State === "delivered" && e.Status === 200 && e.Attempt === 1)).toBe(true);
    expect(log[0].Id).toBe(`good-${bodies[4].Seq}`); // newest first
    expect((await s.call("GET", "/api/v3/webhooks/good/deliveries?limit=2")).body.length).toBe(2);
    const file = join(s.dir, "webhooks", "good.jsonl");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  test("(b) 500 twice then 200: retried with growing gaps, then delivered", async () => {
    const r = listen((n) => new Response("", { status: n <= 2 ? 500 : 200 }));
    await createHook({ Name: "flaky", Url: r.url, Events: ["profiles.create"] });
    await s.call("POST", "/api/v3/profiles", { body: { Name: "wh-b" } });
    await waitFor("3 attempts", () => r.got.length >= 3);
    await Bun.sleep(400);
    expect(r.got.length).toBe(3);
    const ids = new Set(r.got.map((g) => g.headers.get("socle-delivery")));
    expect(ids.size).toBe(1);
    expect(r.got.every((g) => verified(SECRET, g))).toBe(true);
    const gap1 = r.got[1]!.at - r.got[0]!.at;
    const gap2 = r.got[2]!.at - r.got[1]!.at;
    expect(gap1).toBeGreaterThanOrEqual(45); // [50, 100] ms with base 100
    expect(gap2).toBeGreaterThanOrEqual(gap1 - 15);
    expect(gap2).toBeGreaterThanOrEqual(95); // [100, 200] ms
    const log = await deliveries("flaky");
    expect(log.map((e) => `${e.Attempt}:${e.Status}:${e.State}`)).toEqual(["3:200:delivered", "2:500:retrying", "1:500:retrying"]);
  });

  test("(c) always failing: dead after MaxAttempts; redeliver queues it again", async () => {
    let fixed = false;
    const r = listen(() => new Response("", { status: fixed ? 204 : 503 }));
    await createHook({ Name: "broken", Url: r.url, Events: ["profiles.create"], MaxAttempts: 3 });
    await s.call("POST", "/api/v3/profiles", { body: { Name: "wh-c" } });
    await waitFor("a dead letter", () => r.got.length >= 3);
    await Bun.sleep(500);
    expect(r.got.length).toBe(3);
    const log = await deliveries("broken");
    expect(log[0]).toMatchObject({ Attempt: 3, Status: 503, State: "dead" });
    const id = log[0].Id;
    // Redelivering something that is not in the log, or of another hook, is a 404; a bad body 400.
    expect((await s.call("POST", "/api/v3/webhooks/broken/redeliver", { body: { Id: "good-1" } })).status).toBe(404);
    expect((await s.call("POST", "/api/v3/webhooks/broken/redeliver", { body: { Id: "broken-999999" } })).status).toBe(404);
    expect((await s.call("POST", "/api/v3/webhooks/broken/redeliver", { body: {} })).status).toBe(400);
    fixed = true;
    const again = await s.call("POST", "/api/v3/webhooks/broken/redeliver", { body: { Id: id } });
    expect(again.status).toBe(202);
    await waitFor("the redelivery", () => r.got.length >= 4);
    expect(r.got[3]!.headers.get("socle-delivery")).toBe(id);
    await logged("broken", (log) => log[0]?.State === "delivered");
    expect((await deliveries("broken"))[0]).toMatchObject({ Id: id, Attempt: 1, Status: 204, State: "delivered" });
  });

  test("(d) a slow receiver times out and is retried; another hook is not delayed by it", async () => {
    const slow = listen(async (n) => {
      if (n === 1) await Bun.sleep(2500);
      return new Response("ok");
    });
    const fast = listen(() => new Response("ok"));
    await createHook({ Name: "slow", Url: slow.url, Events: ["profiles.create"], TimeoutSeconds: 1 });
    await createHook({ Name: "fast", Url: fast.url, Events: ["profiles.create"] });
    const t0 = Date.now();
    await s.call("POST", "/api/v3/profiles", { body: { Name: "wh-d" } });
    await waitFor("the fast hook", () => fast.got.length >= 1, 5000);
    expect(Date.now() - t0).toBeLessThan(800);
    await waitFor("the slow hook's retry", () => slow.got.length >= 2, 10_000);
    await Bun.sleep(200);
    const log = await deliveries("slow");
    expect(log.map((e) => e.State)).toEqual(["delivered", "retrying"]);
    expect(log[1].Error).toContain("timed out after 1 s");
    expect(log[1].Ms).toBeGreaterThanOrEqual(950);
    expect(slow.got[0]!.headers.get("socle-delivery")).toBe(slow.got[1]!.headers.get("socle-delivery"));
  });

  test("(e) 410 and 404 are dead at once; a 302 is not followed", async () => {
    const redirected = listen(() => new Response("should never be reached"));
    for (const [name, status] of [["gone", 410], ["missing", 404], ["moved", 302]] as const) {
      const r = listen(() => new Response("", { status, headers: status === 302 ? { Location: redirected.url } : {} }));
      await createHook({ Name: name, Url: r.url, Events: ["profiles.create"] });
    }
    await s.call("POST", "/api/v3/profiles", { body: { Name: "wh-e" } });
    for (const [name, status] of [["gone", 410], ["missing", 404], ["moved", 302]] as const) {
      await logged(name, (log) => log.length > 0);
      await Bun.sleep(300);
      const log = await deliveries(name);
      expect(log.length).toBe(1);
      expect(log[0]).toMatchObject({ Attempt: 1, Status: status, State: "dead" });
    }
    expect(redirected.got.length).toBe(0);
  });

  test("ping sends a signed test event and answers how it went", async () => {
    const r = listen(() => new Response("pong"));
    await createHook({ Name: "pinged", Url: r.url, Events: ["jobs.update"] });
    const res = await s.call("POST", "/api/v3/webhooks/pinged/ping");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ Event: "webhooks.ping", Status: 200, State: "delivered" });
    expect(r.got.length).toBe(1);
    expect(verified(SECRET, r.got[0]!)).toBe(true);
    expect(bodyOf(r.got[0]!)).toMatchObject({ Type: "webhooks", Action: "ping", Key: "pinged" });
  });

  test("disabled or deleted: stops at once", async () => {
    const r = listen(() => new Response("", { status: 500 }));
    await createHook({ Name: "stopper", Url: r.url, Events: ["profiles.create"], MaxAttempts: 50 });
    await s.call("POST", "/api/v3/profiles", { body: { Name: "wh-stop" } });
    await waitFor("a first attempt", () => r.got.length >= 1);
    expect((await s.call("PATCH", "/api/v3/webhooks/stopper", { type: "application/json-patch+json", body: [{ op: "replace", path: "/Enabled", value: false }] })).status).toBe(200);
    const seen = r.got.length;
    await Bun.sleep(800);
    expect(r.got.length).toBeLessThanOrEqual(seen + 1); // at most one attempt that was in flight
    const after = r.got.length;
    await s.call("POST", "/api/v3/profiles", { body: { Name: "wh-stop-2" } });
    await Bun.sleep(400);
    expect(r.got.length).toBe(after);
    expect((await s.call("POST", "/api/v3/webhooks/stopper/ping")).status).toBe(409); // a disabled hook sends nothing, ping included
    expect(r.got.length).toBe(after);
    expect((await s.call("DELETE", "/api/v3/webhooks/stopper")).status).toBe(200);
    expect((await s.call("GET", "/api/v3/webhooks/stopper/deliveries")).status).toBe(404);
  });

  test("(f) a restart in the middle: undelivered changes arrive afterwards under the same ids", async () => {
    let up = false;
    const r = listen(() => new Response("", { status: up ? 200 : 503 }));
    await createHook({ Name: "resume", Url: r.url, Events: ["profiles.create"], MaxAttempts: 50 });
    // A user's change pending too: the spool holds it as it would be sent, never its password hash.
    const usersReceiver = listen(() => new Response("", { status: 503 }));
    await createHook({ Name: "resume-users", Url: usersReceiver.url, Events: ["users.create"], MaxAttempts: 50 });
    expect((await s.call("POST", "/api/v3/users", { body: { Name: "wh-spooled", Password: "spooled-password-1" } })).status).toBe(201);
    await s.call("POST", "/api/v3/profiles", { body: { Name: "wh-f1" } });
    await s.call("POST", "/api/v3/profiles", { body: { Name: "wh-f2" } });
    await waitFor("failed attempts of both", () => new Set(r.got.map((g) => g.headers.get("socle-delivery"))).size >= 2);
    const before = [...new Set(r.got.map((g) => g.headers.get("socle-delivery")))].sort();
    await s.restart();
    // The store compacted its journal as it closed: the pending deliveries came back from the spool.
    const state = JSON.parse(await readFile(join(s.dir, "webhooks", "state.json"), "utf8"));
    const seqs = before.map((id) => Number(id!.split("-")[1]));
    expect(state.Spooled.resume).toEqual(seqs);
    expect(state.Hooks.resume).toBeGreaterThanOrEqual(Math.max(...seqs));
    expect((await stat(join(s.dir, "webhooks", "pending.spool"))).mode & 0o777).toBe(0o600);
    const spool = await readFile(join(s.dir, "webhooks", "pending.spool"), "utf8");
    expect(spool).toContain("wh-spooled");
    expect(spool).not.toContain("argon2");
    expect(spool).not.toContain("PasswordHash");
    const mark = r.got.length;
    up = true;
    await waitFor("deliveries after the restart", () => r.got.slice(mark).filter((g) => g.headers.get("socle-delivery") !== null).length >= 2);
    await Bun.sleep(300);
    const after = r.got.slice(mark);
    expect([...new Set(after.map((g) => g.headers.get("socle-delivery")))].sort()).toEqual(before);
    expect(after.every((g) => verified(SECRET, g))).toBe(true);
    // Two objects: sent side by side, so in either order (order holds per object only).
    expect(after.map((g) => bodyOf(g).Key).sort()).toEqual(["wh-f1", "wh-f2"]);
  });
});

describe("attacker and misuse", () => {
  test("(g) SSRF targets are refused at write time, naming the field and the address", async () => {
    expect((await s.call("POST", "/api/v3/subnets", { body: { Name: "wh-served", Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.100", ActiveEnd: "198.51.100.150" } })).status).toBe(201);
    const cases: Array<[string, string]> = [
      ["http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"],
      ["http://127.0.0.2/hook", "127.0.0.2 is loopback"],
      ["http://2130706434/hook", "127.0.0.2 is loopback"],
      ["http://[::1]/hook", "::1 is loopback"],
      ["http://[::ffff:169.254.169.254]/", "169.254.169.254 is link-local"],
      ["http://198.51.100.20/hook", "a subnet Socle serves"],
      ["http://224.0.0.1/", "multicast"],
      ["http://0.0.0.0:8092/", "0.0.0.0/8"],
      ["http://hooks.example.test/", "plain http is allowed only to an IP address"],
      ["file:///etc/passwd", "scheme must be https"],
    ];
    for (const [url, why] of cases) {
      const res = await s.call("POST", "/api/v3/webhooks", { body: { Name: "ssrf", Url: url, Events: ["*"] } });
      expect(res.status).toBe(422);
      expect(res.body.Messages.join("\n")).toContain("Url: ");
      expect(res.body.Messages.join("\n")).toContain(why);
    }
    // Without --webhook-allow-cidrs, 127.0.0.1 itself is refused.
    const strict = await startTestSocle();
    try {
      const res = await strict.call("POST", "/api/v3/webhooks", { body: { Name: "local", Url: "http://127.0.0.1:8080/hook", Events: ["*"] } });
      expect(res.status).toBe(422);
      expect(res.body.Messages.join()).toContain("Url: refused: 127.0.0.1 is loopback");
    } finally {
      await strict.stop();
    }
    // An update to a refused Url is refused the same way.
    const r = listen(() => new Response("ok"));
    await createHook({ Name: "moving", Url: r.url, Events: ["jobs.update"] });
    const put = await s.call("PUT", "/api/v3/webhooks/moving", { body: { Name: "moving", Url: "http://169.254.169.254/", Events: ["jobs.update"] } });
    expect(put.status).toBe(422);
    expect(put.body.Messages.join()).toContain("link-local");
    // Bad fields besides the Url: all named at once.
    const bad = await s.call("POST", "/api/v3/webhooks", { body: { Name: "bad", Url: r.url, Events: ["gizmos.*"], Secret: "short", MaxAttempts: 0, TimeoutSeconds: 61 } });
    expect(bad.status).toBe(422);
    const text = bad.body.Messages.join("\n");
    for (const part of ['Events[0]: "gizmos.*": unknown type "gizmos"', "Secret: must be 16 to 512 characters", "MaxAttempts", "TimeoutSeconds"]) expect(text).toContain(part);
    expect(text).not.toContain("short");
  });

  test("(g) a generated Secret is shown once; reads show (set); never in lists, events, logs or the store", async () => {
    const r = listen(() => new Response("ok"));
    const events = await s.req("GET", "/api/v3/events?type=webhooks");
    const reading = readSse(events, 1);
    await Bun.sleep(50);
    const created = await s.call("POST", "/api/v3/webhooks", { body: { Name: "generated", Url: r.url, Events: ["roles.*"] } });
    hooks.push("generated");
    expect(created.status).toBe(201);
    const secret = created.body.Secret as string;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    const [event] = await reading;
    expect(event.Key).toBe("generated");
    expect(JSON.stringify(event)).not.toContain(secret);
    expect(event.Object.Secret).toBeUndefined();
    const one = await s.call("GET", "/api/v3/webhooks/generated");
    expect(one.body.Secret).toBe("(set)");
    const list = await s.call("GET", "/api/v3/webhooks");
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(list.body.find((w: any) => w.Name === "generated").Secret).toBe("(set)");
    // PUT of what was read keeps the secret; the admin (getSecure) reads it back.
    expect((await s.call("PUT", "/api/v3/webhooks/generated", { body: { ...one.body, Description: "kept" } })).status).toBe(200);
    const opened = await s.call("GET", "/api/v3/webhooks/generated/secret");
    expect(opened.body.Secret).toBe(secret);
    await s.call("POST", "/api/v3/roles", { body: { Name: "wh-role-probe", Claims: [] } });
    await waitFor("a delivery", () => r.got.length >= 1);
    expect(verified(secret, r.got[0]!)).toBe(true);
    // A new secret by PUT: the next delivery is signed with it.
    const next = "rotated-secret-abcdefghijkl";
    expect((await s.call("PUT", "/api/v3/webhooks/generated", { body: { ...one.body, Secret: next } })).status).toBe(200);
    await s.call("DELETE", "/api/v3/roles/wh-role-probe");
    await waitFor("a second delivery", () => r.got.length >= 2);
    expect(verified(next, r.got[1]!)).toBe(true);
    expect(s.lines.join("\n")).not.toContain(secret);
    expect(s.lines.join("\n")).not.toContain(SECRET);
    for (const f of await readdir(s.dir, { recursive: true })) {
      const p = join(s.dir, f);
      if (!(await stat(p)).isFile()) continue;
      const text = await readFile(p, "latin1");
      expect({ f, has: text.includes(secret) || text.includes(next) || text.includes(SECRET) }).toEqual({ f, has: false });
    }
  });

  test("(g) principals without webhooks rights: 403 (or the 404 of a hidden object); a machine token gets nothing", async () => {
    expect((await s.call("POST", "/api/v3/roles", { body: { Name: "wh-machines-only", Claims: [{ Scope: "machines", Action: "*", Specific: "*" }] } })).status).toBe(201);
    expect((await s.call("POST", "/api/v3/roles", { body: { Name: "wh-reader", Claims: [{ Scope: "webhooks", Action: "list,get", Specific: "*" }] } })).status).toBe(201);
    expect((await s.call("POST", "/api/v3/users", { body: { Name: "wh-op", Password: "operator-password", Roles: ["wh-machines-only"] } })).status).toBe(201);
    expect((await s.call("POST", "/api/v3/users", { body: { Name: "wh-ro", Password: "readonly-password", Roles: ["wh-reader"] } })).status).toBe(201);
    const op = basic("wh-op", "operator-password");
    const ro = basic("wh-ro", "readonly-password");
    const body = { Name: "intruder", Url: "http://127.0.0.1:9/", Events: ["*"] };
    expect((await s.call("GET", "/api/v3/webhooks", { auth: op })).status).toBe(403);
    expect((await s.call("POST", "/api/v3/webhooks", { auth: op, body })).status).toBe(403);
    expect((await s.call("GET", "/api/v3/webhooks/good", { auth: op })).status).toBe(404);
    expect((await s.call("GET", "/api/v3/webhooks/good/secret", { auth: op })).status).toBe(404);
    expect((await s.call("GET", "/api/v3/webhooks/good/deliveries", { auth: op })).status).toBe(404);
    expect((await s.call("POST", "/api/v3/webhooks/good/ping", { auth: op })).status).toBe(404);
    expect((await s.call("DELETE", "/api/v3/webhooks/good", { auth: op })).status).toBe(404);
    // A reader sees the hook (Secret "(set)") but may not open its secret, its log, or act on it.
    const seen = await s.call("GET", "/api/v3/webhooks/good", { auth: ro });
    expect(seen.status).toBe(200);
    expect(seen.body.Secret).toBe("(set)");
    expect((await s.call("GET", "/api/v3/webhooks/good/secret", { auth: ro })).status).toBe(403);
    expect((await s.call("GET", "/api/v3/webhooks/good/deliveries", { auth: ro })).status).toBe(403);
    expect((await s.call("POST", "/api/v3/webhooks/good/redeliver", { auth: ro, body: { Id: "good-1" } })).status).toBe(403);
    expect((await s.call("POST", "/api/v3/webhooks/good/ping", { auth: ro })).status).toBe(403);
    expect((await s.call("PUT", "/api/v3/webhooks/good", { auth: ro, body: { ...seen.body, Url: "http://127.0.0.1:9/" } })).status).toBe(403);
    expect((await s.call("POST", "/api/v3/webhooks", { auth: ro, body })).status).toBe(403);
    // A writer of webhooks who may read machines only: a machines hook yes; "*" or users no (a
    // hook would carry them to a receiver of the writer's choosing).
    expect((await s.call("POST", "/api/v3/roles", { body: { Name: "wh-writer", Claims: [{ Scope: "webhooks", Action: "*", Specific: "*" }, { Scope: "machines", Action: "get,list", Specific: "*" }] } })).status).toBe(201);
    expect((await s.call("POST", "/api/v3/users", { body: { Name: "wh-w", Password: "writer-password", Roles: ["wh-writer"] } })).status).toBe(201);
    const w = basic("wh-w", "writer-password");
    for (const events of [["*"], ["users.*"], ["*.create"], ["machines.*", "jobs.update"]]) {
      const r = await s.call("POST", "/api/v3/webhooks", { auth: w, body: { ...body, Name: "w-wide", Events: events } });
      expect({ events, status: r.status }).toEqual({ events, status: 403 });
      expect(r.body.Messages.join(" ")).toContain("may not read");
    }
    const narrow = await s.call("POST", "/api/v3/webhooks", { auth: w, body: { ...body, Name: "w-narrow", Events: ["machines.*"] } });
    expect(narrow.status).toBe(201);
    expect((await s.call("PATCH", "/api/v3/webhooks/w-narrow", { auth: w, type: "application/json-patch+json", body: [{ op: "replace", path: "/Events", value: ["*"] }] })).status).toBe(403);
    expect((await s.call("DELETE", "/api/v3/webhooks/w-narrow", { auth: w })).status).toBe(200);
    // A machine's token.
    const m = (await s.call("POST", "/api/v3/machines", { body: { Name: "wh-token" } })).body;
    const token = `Bearer ${(await s.call("GET", `/api/v3/machines/${m.Uuid}/token`)).body.Token}`;
    expect((await s.call("GET", "/api/v3/webhooks", { auth: token })).status).toBe(403);
    expect((await s.call("POST", "/api/v3/webhooks", { auth: token, body })).status).toBe(403);
    expect((await s.call("GET", "/api/v3/webhooks/good/secret", { auth: token })).status).toBe(404);
    expect((await s.call("GET", "/api/v3/webhooks/good", { auth: null })).status).toBe(401);
    expect((await s.call("GET", "/api/v3/webhooks", { auth: null })).status).toBe(401);
  });

  test("a client cannot smuggle a sealed envelope, nor read one back", async () => {
    const r = listen(() => new Response("ok"));
    const res = await s.call("POST", "/api/v3/webhooks", { body: { Name: "smuggle", Url: r.url, Events: ["*"], Secret: { "$socle-secure": "v1:AAAA:BBBB" } } });
    expect(res.status).toBe(422);
    expect(res.body.Messages.join()).toContain("Secret: expected a string");
    const set = await s.call("POST", "/api/v3/webhooks", { body: { Name: "smuggle", Url: r.url, Events: ["*"], Secret: "(set)" } });
    expect(set.status).toBe(422);
  });
});

describe("the CLI", () => {
  async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const caFile = join(s.dir, "cli-ca.pem");
    await writeFile(caFile, s.socle.caCertPem);
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(["-E", s.base, "--ca-file", caFile, "-U", "admin", "-P", ADMIN_PASSWORD, ...argv], { SOCLE_DATA_DIR: join(s.dir, "no-client-data") }, {
      out: (x) => out.push(x),
      err: (x) => err.push(x),
      writeBytes: async () => {},
    }, { serve: async () => 0 });
    return { code, out: out.join("\n"), err: err.join("\n") };
  }

  test("create, list, show, update, ping, deliveries, redeliver, secret, destroy", async () => {
    let fail = true;
    const r = listen(() => new Response("", { status: fail ? 404 : 200 }));
    const created = await cli("webhooks", "create", JSON.stringify({ Name: "cli", Url: r.url, Events: ["tasks.*"] }));
    expect(created.code).toBe(0);
    const secret = JSON.parse(created.out).Secret as string;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const shown = await cli("webhooks", "show", "cli");
    expect(JSON.parse(shown.out)).toMatchObject({ Name: "cli", Secret: "(set)", Enabled: true, MaxAttempts: 8, TimeoutSeconds: 10 });
    const listed = await cli("webhooks", "list", "-o", "table");
    expect(listed.code).toBe(0);
    expect(listed.out).toContain("cli");
    expect(listed.out).not.toContain(secret);
    expect((await cli("webhooks", "update", "cli", JSON.stringify({ ...JSON.parse(shown.out), Description: "from the CLI" }))).code).toBe(0);
    expect((await cli("webhooks", "secret", "cli")).out).toContain(secret);
    // A 404 from the receiver: ping exits 1 and prints the attempt.
    const pinged = await cli("webhooks", "ping", "cli");
    expect(pinged.code).toBe(1);
    expect(JSON.parse(pinged.out)).toMatchObject({ Status: 404, State: "dead" });
    await s.call("POST", "/api/v3/tasks", { body: { Name: "wh-cli-task" } });
    await logged("cli", (log) => log.some((e) => e.Event === "tasks.create"));
    const log = JSON.parse((await cli("webhooks", "deliveries", "cli", "--limit", "5")).out);
    const dead = log.find((e: any) => e.Event === "tasks.create");
    expect(dead).toMatchObject({ State: "dead", Status: 404 });
    fail = false;
    expect((await cli("webhooks", "redeliver", "cli", dead.Id)).code).toBe(0);
    await logged("cli", (l) => l[0]?.Id === dead.Id && l[0]?.State === "delivered");
    expect(verified(secret, r.got.at(-1)!)).toBe(true);
    const bad = await cli("webhooks", "redeliver", "cli", "cli-123456789");
    expect(bad.code).not.toBe(0);
    expect((await cli("webhooks", "destroy", "cli")).code).toBe(0);
    expect((await cli("webhooks", "show", "cli")).code).not.toBe(0);
  });
});
