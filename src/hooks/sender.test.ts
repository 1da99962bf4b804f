// The sender over a memory store and local receivers: the limits on attempts in flight, the order
// per object, the queue bound, and the replay from the store's history after a crash (a sender
// that never stopped cleanly, so there is no spool).

import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nullLogger } from "../log/logger.ts";
import { webhooks } from "../model/schemas/webhooks.ts";
import { ParamCipher } from "../model/secure-params.ts";
import { MemoryStore } from "../store/memory-store.ts";
import { AddressPolicy } from "./address-policy.ts";
import { WebhookSender, type WebhookTuning } from "./sender.ts";

const cipher = new ParamCipher(ParamCipher.generateKey());
const dirs: string[] = [];
const cleanup: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface Hit {
  id: string;
  key: string;
  start: number;
  end: number;
}

function slowReceiver(ms: number) {
  const hits: Hit[] = [];
  let inFlight = 0;
  let most = 0;
  const srv = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (req) => {
      const start = Date.now();
      inFlight++;
      most = Math.max(most, inFlight);
      const body = (await req.json()) as { Key: string };
      await Bun.sleep(ms);
      inFlight--;
      hits.push({ id: req.headers.get("socle-delivery") ?? "", key: body.Key, start, end: Date.now() });
      return new Response("ok");
    },
  });
  cleanup.push(() => srv.stop(true));
  return { url: `http://127.0.0.1:${srv.port}/`, hits, most: () => most };
}

async function setup(tuning: Partial<WebhookTuning> = {}) {
  const dir = await mkdtemp(join(tmpdir(), "socle-sender-"));
  dirs.push(dir);
  const store = new MemoryStore();
  await store.open();
  const make = (policy = new AddressPolicy({ allow: ["127.0.0.1/32"] })) =>
    new WebhookSender({
      store,
      changesSince: (seq, limit) => store.changesSince(seq, limit),
      dataDir: dir,
      cipher,
      redact: (_t, o) => o,
      policy,
      log: nullLogger,
      version: "test",
      tuning: { backoffBaseMs: 50, backoffCapMs: 500, ...tuning },
    });
  const addHook = (name: string, url: string, events: string[]) =>
    store.put("webhooks", name, webhooks.prepare({ Name: name, Url: url, Events: events, Secret: cipher.seal({ type: "webhooks", key: name }, "Secret", "a-secret-of-sixteen+") }));
  return { dir, store, make, addHook };
}

async function waitFor(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

test("at most 4 attempts in flight per hook and 16 in all; changes of one object in Seq order", async () => {
  const { store, make, addHook } = await setup();
  const receivers = [0, 1, 2, 3, 4].map(() => slowReceiver(150));
  for (let i = 0; i < 5; i++) await addHook(`h${i}`, receivers[i]!.url, ["profiles.*"]);
  const sender = make();
  await sender.start();
  cleanup.push(() => sender.stop());
  // 8 objects, each changed twice: 16 deliveries per hook, 80 in all.
  for (let round = 0; round < 2; round++) {
    for (let k = 0; k < 8; k++) await store.put("profiles", `p${k}`, { Name: `p${k}`, Description: String(round) });
  }
  await waitFor("every delivery", () => receivers.every((r) => r.hits.length === 16));
  for (const r of receivers) expect(r.most()).toBeLessThanOrEqual(4);
  // All five hooks at 4 at once would be 20: the total cap holds it at 16.
  const events = receivers.flatMap((r) => r.hits.flatMap((h) => [[h.start, 1] as const, [h.end, -1] as const]));
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let peak = 0;
  for (const [, d] of events) peak = Math.max(peak, (now += d));
  expect(peak).toBeLessThanOrEqual(16);
  expect(peak).toBeGreaterThan(4);
  for (const r of receivers) {
    for (let k = 0; k < 8; k++) {
      const mine = r.hits.filter((h) => h.key === `p${k}`);
      expect(mine.length).toBe(2);
      const [first, second] = mine.sort((a, b) => a.start - b.start);
      expect(Number(first!.id.split("-")[1])).toBeLessThan(Number(second!.id.split("-")[1]));
      expect(second!.start).toBeGreaterThanOrEqual(first!.end);
    }
  }
});

test("beyond the queue bound a change is a dead letter, \"queue full\"", async () => {
  const { store, make, addHook } = await setup({ queueLimit: 3, perHook: 1 });
  const r = slowReceiver(300);
  await addHook("small", r.url, ["profiles.create"]);
  const sender = make();
  await sender.start();
  cleanup.push(() => sender.stop());
  for (let k = 0; k < 6; k++) await store.put("profiles", `q${k}`, { Name: `q${k}` });
  await waitFor("3 deliveries", () => r.hits.length === 3);
  await Bun.sleep(100);
  const log = await sender.deliveries("small", 100);
  expect(log.filter((e) => e.State === "dead").map((e) => [e.Error, e.Attempt])).toEqual([
    ["queue full", 0],
    ["queue full", 0],
    ["queue full", 0],
  ]);
  expect(log.filter((e) => e.State === "delivered").length).toBe(3);
  expect(r.hits.map((h) => h.key)).toEqual(["q0", "q1", "q2"]);
});

test("after a crash (no clean stop) the replay from the saved position delivers what was pending, same ids", async () => {
  const { store, make, addHook } = await setup();
  let up = false;
  const got: string[] = [];
  const srv = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => (got.push(req.headers.get("socle-delivery") ?? ""), new Response("", { status: up ? 200 : 503 })) });
  cleanup.push(() => srv.stop(true));
  await addHook("crash", `http://127.0.0.1:${srv.port}/`, ["profiles.create"]);
  const first = make();
  await first.start();
  await store.put("profiles", "c1", { Name: "c1" });
  await store.put("profiles", "c2", { Name: "c2" });
  await waitFor("failed attempts", () => new Set(got).size === 2);
  await Bun.sleep(300); // the position is saved 200 ms after a change
  const ids = [...new Set(got)].sort();
  // The crash: the first sender is abandoned without stop() (it is silenced so it does not retry).
  (first as unknown as { stopped: boolean }).stopped = true;
  up = true;
  got.length = 0;
  const second = make();
  await second.start();
  cleanup.push(() => second.stop());
  await waitFor("the replay", () => got.length >= 2);
  expect([...new Set(got)].sort()).toEqual(ids);
});

test("the address is checked again on every attempt: a Url that became refused is dead at once, nothing sent", async () => {
  const { store, make, addHook } = await setup();
  const r = slowReceiver(0);
  // Written straight to the store (the API would refuse it): a loopback Url, and no override here.
  const strict = make(new AddressPolicy());
  await addHook("inside", r.url, ["profiles.*"]);
  await strict.start();
  cleanup.push(() => strict.stop());
  await store.put("profiles", "x", { Name: "x" });
  let log: Awaited<ReturnType<WebhookSender["deliveries"]>> = [];
  await waitFor("the dead letter", () => {
    void strict.deliveries("inside", 10).then((l) => (log = l));
    return log.length > 0;
  });
  expect(log[0]).toMatchObject({ Attempt: 1, State: "dead" });
  expect(log[0]!.Error).toContain("refused: 127.0.0.1 is loopback");
  expect(r.hits.length).toBe(0);
});
