// Long-polling one object over real HTTPS: GET /api/v3/<type>/<key> with If-None-Match and
// Prefer: wait= (src/api/long-poll.ts). 304 at once without a wait; with one, 200 as soon as the
// object changes (whoever changed it), 304 when the wait ends, 404 when it is deleted; a client
// that goes away frees its waiter; access is checked before the wait and again before the answer.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { pendingLongPolls } from "../src/api/long-poll.ts";
import { startTestSocle, type TestSocle } from "./helpers/socle.ts";

let s: TestSocle;

beforeAll(async () => {
  s = await startTestSocle();
});

afterAll(async () => {
  await s.stop();
});

let n = 0;
async function newMachine(): Promise<{ Uuid: string; Name: string }> {
  const r = await s.call("POST", "/api/v3/machines", { body: { Name: `lp${++n}` } });
  expect(r.status).toBe(201);
  return r.body;
}

async function etagOf(path: string, auth?: string): Promise<string> {
  const r = await s.req("GET", path, auth ? { auth } : {});
  expect(r.status).toBe(200);
  await r.text();
  return r.headers.get("etag")!;
}

/** A long-poll started now, with when its answer arrived. */
function longPoll(path: string, etag: string, wait: string, opts: { auth?: string; signal?: AbortSignal } = {}) {
  const started = performance.now();
  const headers = { "If-None-Match": etag, Prefer: `wait=${wait}` };
  const res = fetch(`${s.base}${path}`, {
    headers: { ...headers, Authorization: opts.auth ?? `Basic ${btoa(`admin:correct-horse-battery`)}` },
    signal: opts.signal,
    tls: { ca: s.socle.caCertPem },
  } as RequestInit).then(async (r) => {
    const text = await r.text();
    return { status: r.status, headers: r.headers, text, at: performance.now(), ms: performance.now() - started };
  });
  return res;
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(5);
  }
}

const sleep = (ms: number) => Bun.sleep(ms);

describe("ETag and If-None-Match", () => {
  test("every GET of one object carries a strong ETag; a match without a wait is 304 at once", async () => {
    const m = await newMachine();
    const path = `/api/v3/machines/${m.Uuid}`;
    const etag = await etagOf(path);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    const head = await s.req("HEAD", path);
    expect(head.headers.get("etag")).toBe(etag);
    const started = performance.now();
    const again = await s.req("GET", path, { headers: { "If-None-Match": etag } });
    expect(again.status).toBe(304);
    expect(performance.now() - started).toBeLessThan(500);
    expect(again.headers.get("etag")).toBe(etag);
    expect(again.headers.get("preference-applied")).toBeNull();
    // The weak form of the same tag matches too (RFC 9110's weak comparison for If-None-Match).
    expect((await s.req("GET", path, { headers: { "If-None-Match": `W/${etag}` } })).status).toBe(304);
    // Any other tag: the object, with a wait asked for or not.
    const other = await s.req("GET", path, { headers: { "If-None-Match": '"nope"', Prefer: "wait=5s" } });
    expect(other.status).toBe(200);
    expect(((await other.json()) as { Uuid: string }).Uuid).toBe(m.Uuid);
    expect(other.headers.get("preference-applied")).toBeNull();
  });

  test("the ETag changes with the object and with nothing else", async () => {
    const m = await newMachine();
    const path = `/api/v3/machines/${m.Uuid}`;
    const before = await etagOf(path);
    expect(await etagOf(path)).toBe(before);
    await s.call("PATCH", path, { raw: '[{"op":"replace","path":"/Description","value":"x"}]', type: "application/json-patch+json" });
    expect(await etagOf(path)).not.toBe(before);
  });
});

describe("Prefer: wait", () => {
  test("a change ends the wait at once: 200 with the new object and its ETag", async () => {
    const m = await newMachine();
    const path = `/api/v3/machines/${m.Uuid}`;
    const etag = await etagOf(path);
    const poll = longPoll(path, etag, "10s");
    await sleep(300);
    const patched = await s.call("PATCH", path, { raw: '[{"op":"replace","path":"/Description","value":"changed"}]', type: "application/json-patch+json" });
    expect(patched.status).toBe(200);
    const changedAt = performance.now();
    const r = await poll;
    expect(r.status).toBe(200);
    expect(r.at - changedAt).toBeLessThan(100);
    expect(r.ms).toBeGreaterThan(250);
    expect(JSON.parse(r.text).Description).toBe("changed");
    expect(r.headers.get("preference-applied")).toBe("wait=10");
    expect(r.headers.get("etag")).toBe(await etagOf(path));
    expect(r.headers.get("etag")).not.toBe(etag);
  });

  test("a change made inside the server (as the job scheduler makes them) ends the wait too", async () => {
    const m = await newMachine();
    const path = `/api/v3/machines/${m.Uuid}`;
    const poll = longPoll(path, await etagOf(path), "10s");
    await sleep(200);
    const stored = s.socle.store.get("machines", m.Uuid)!;
    await s.socle.store.put("machines", m.Uuid, { ...structuredClone(stored), WorkflowComplete: true });
    const r = await poll;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).WorkflowComplete).toBe(true);
  });

  test("nothing changes: 304 when the wait ends, not before", async () => {
    const m = await newMachine();
    const path = `/api/v3/machines/${m.Uuid}`;
    const etag = await etagOf(path);
    const r = await longPoll(path, etag, "1s");
    expect(r.status).toBe(304);
    expect(r.ms).toBeGreaterThan(950);
    expect(r.ms).toBeLessThan(2500);
    expect(r.headers.get("etag")).toBe(etag);
    expect(r.headers.get("preference-applied")).toBe("wait=1");
  });

  test("a change the reader cannot see (another object, a secret field) does not end the wait", async () => {
    const m = await newMachine();
    const other = await newMachine();
    const path = `/api/v3/machines/${m.Uuid}`;
    const poll = longPoll(path, await etagOf(path), "1s");
    await sleep(200);
    await s.call("PATCH", `/api/v3/machines/${other.Uuid}`, { raw: '[{"op":"replace","path":"/Description","value":"y"}]', type: "application/json-patch+json" });
    const stored = s.socle.store.get("machines", m.Uuid)!;
    await s.socle.store.put("machines", m.Uuid, { ...structuredClone(stored), Secret: "a-new-secret-of-the-machine-0123" });
    const r = await poll;
    expect(r.status).toBe(304);
    expect(r.ms).toBeGreaterThan(950);
  });

  test("deleted while waiting: 404", async () => {
    const m = await newMachine();
    const path = `/api/v3/machines/${m.Uuid}`;
    const poll = longPoll(path, await etagOf(path), "10s");
    await sleep(200);
    expect((await s.call("DELETE", path)).status).toBe(200);
    const r = await poll;
    expect(r.status).toBe(404);
    expect(JSON.parse(r.text)).toMatchObject({ Type: "NotFound", Model: "machines" });
    expect(r.ms).toBeLessThan(5000);
  });

  test("malformed is 400 naming the header and value; longer than 10 minutes is cut; other preferences are ignored", async () => {
    const m = await newMachine();
    const path = `/api/v3/machines/${m.Uuid}`;
    for (const bad of ["soon", "-5", "1d", "", "10 s"]) {
      const r = await s.call("GET", path, { headers: { "If-None-Match": await etagOf(path), Prefer: `wait=${bad}` } });
      expect(r.status).toBe(400);
      expect(r.body.Messages[0]).toContain(`Prefer: invalid wait "${bad}"`);
    }
    // Bad even when there is nothing to wait for: the request is wrong either way.
    expect((await s.call("GET", path, { headers: { Prefer: "wait=soon" } })).status).toBe(400);
    // Other preferences are ignored; the first wait counts.
    const poll = longPoll(path, await etagOf(path), "2h, wait=1");
    await sleep(200);
    await s.call("PATCH", path, { raw: '[{"op":"replace","path":"/Description","value":"z"}]', type: "application/json-patch+json" });
    const r = await poll;
    expect(r.status).toBe(200);
    expect(r.headers.get("preference-applied")).toBe("wait=600");
    const plain = await s.req("GET", path, { headers: { "If-None-Match": r.headers.get("etag")!, Prefer: "respond-async, wait=1" } });
    expect(plain.status).toBe(304);
    expect(plain.headers.get("preference-applied")).toBe("wait=1");
  });

  test("a client that goes away frees its waiter", async () => {
    const m = await newMachine();
    const path = `/api/v3/machines/${m.Uuid}`;
    const etag = await etagOf(path);
    const before = pendingLongPolls();
    const ctl = new AbortController();
    const polls = [longPoll(path, etag, "10m", { signal: ctl.signal }), longPoll(path, etag, "10m", { signal: ctl.signal })];
    await until(() => pendingLongPolls() === before + 2);
    ctl.abort();
    for (const p of polls) await p.catch(() => undefined);
    await until(() => pendingLongPolls() === before);
  });

  test("many waiters on one object: one change answers them all, and none is left behind", async () => {
    const m = await newMachine();
    const path = `/api/v3/machines/${m.Uuid}`;
    const etag = await etagOf(path);
    const before = pendingLongPolls();
    const polls = Array.from({ length: 100 }, () => longPoll(path, etag, "30s"));
    await until(() => pendingLongPolls() === before + 100, 10_000);
    await s.call("PATCH", path, { raw: '[{"op":"replace","path":"/Description","value":"all of you"}]', type: "application/json-patch+json" });
    const changedAt = performance.now();
    const answers = await Promise.all(polls);
    expect(answers.every((a) => a.status === 200 && JSON.parse(a.text).Description === "all of you")).toBe(true);
    expect(Math.max(...answers.map((a) => a.at)) - changedAt).toBeLessThan(1000);
    expect(pendingLongPolls()).toBe(before);
  });
});

describe("access", () => {
  test("a machine's token long-polls its own machine, and gets 404 for another one, at once", async () => {
    const a = await newMachine();
    const b = await newMachine();
    const token = `Bearer ${(await s.call("GET", `/api/v3/machines/${a.Uuid}/token`)).body.Token}`;
    const own = `/api/v3/machines/${a.Uuid}`;
    const poll = longPoll(own, await etagOf(own, token), "10s", { auth: token });
    await sleep(200);
    await s.call("PATCH", own, { raw: '[{"op":"replace","path":"/Description","value":"mine"}]', type: "application/json-patch+json" });
    const r = await poll;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).Secret).toBeUndefined();

    const theirs = `/api/v3/machines/${b.Uuid}`;
    const refused = await longPoll(theirs, await etagOf(theirs), "10s", { auth: token });
    expect(refused.status).toBe(404);
    expect(refused.ms).toBeLessThan(2000);
  });

  test("a token revoked while waiting does not receive the object", async () => {
    const m = await newMachine();
    const path = `/api/v3/machines/${m.Uuid}`;
    await s.call("POST", "/api/v3/users", { body: { Name: "watcher", Password: "watcher-password-1", Roles: ["superuser"] } });
    const token = `Bearer ${(await s.call("GET", "/api/v3/users/watcher/token")).body.Token}`;
    const poll = longPoll(path, await etagOf(path, token), "10s", { auth: token });
    await sleep(200);
    expect((await s.call("POST", "/api/v3/users/watcher/revoke")).status).toBeLessThan(300);
    await s.call("PATCH", path, { raw: '[{"op":"replace","path":"/Description","value":"secret plans"}]', type: "application/json-patch+json" });
    const r = await poll;
    expect(r.status).toBe(401);
    expect(r.text).not.toContain("secret plans");
  });

  test("a role taken away while waiting: 404, not the object", async () => {
    const m = await newMachine();
    const path = `/api/v3/machines/${m.Uuid}`;
    await s.call("POST", "/api/v3/roles", { body: { Name: "peek", Claims: [{ Scope: "machines", Action: "get", Specific: "*" }] } });
    await s.call("POST", "/api/v3/users", { body: { Name: "peeker", Password: "peeker-password-1", Roles: ["peek"] } });
    const auth = `Basic ${btoa("peeker:peeker-password-1")}`;
    const poll = longPoll(path, await etagOf(path, auth), "10s", { auth });
    await sleep(200);
    const user = (await s.call("GET", "/api/v3/users/peeker")).body;
    expect((await s.call("PUT", "/api/v3/users/peeker", { body: { ...user, Roles: [] } })).status).toBe(200);
    await s.call("PATCH", path, { raw: '[{"op":"replace","path":"/Description","value":"hidden"}]', type: "application/json-patch+json" });
    const r = await poll;
    expect(r.status).toBe(404);
    expect(r.text).not.toContain("hidden");
  });
});

describe("limits", () => {
  test("attacker: a machine's token holds at most 8 waits at once; the 9th is 429 with Retry-After, at once; a freed slot is usable again", async () => {
    const m = await newMachine();
    const token = `Bearer ${(await s.call("GET", `/api/v3/machines/${m.Uuid}/token`)).body.Token}`;
    const path = `/api/v3/machines/${m.Uuid}`;
    const etag = await etagOf(path, token);
    const aborts = Array.from({ length: 8 }, () => new AbortController());
    const before = pendingLongPolls();
    const held = aborts.map((a) => longPoll(path, etag, "30s", { auth: token, signal: a.signal }).catch(() => undefined));
    await until(() => pendingLongPolls() === before + 8);
    const ninth = await longPoll(path, etag, "30s", { auth: token });
    expect(ninth.status).toBe(429);
    expect(ninth.headers.get("retry-after")).toBe("1");
    expect(ninth.text).toContain("at most 8");
    expect(ninth.ms).toBeLessThan(2000);
    // Without a wait (a plain GET, a 304 at once) nothing is limited.
    expect((await longPoll(path, etag, "0s", { auth: token })).status).toBe(304);
    aborts[0]!.abort();
    await until(() => pendingLongPolls() === before + 7);
    const again = longPoll(path, etag, "30s", { auth: token });
    await until(() => pendingLongPolls() === before + 8);
    await s.call("PATCH", path, { raw: '[{"op":"replace","path":"/Description","value":"freed"}]', type: "application/json-patch+json" });
    expect((await again).status).toBe(200);
    for (const a of aborts) a.abort();
    await Promise.all(held);
  });
});
