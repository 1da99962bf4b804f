import { afterEach, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore } from "../store/file-store.ts";
import type { ReplicaStore } from "../store/replica.ts";
import { SocleError } from "../model/errors.ts";
import { nullLogger } from "../log/logger.ts";
import { Feeder } from "./feeder.ts";
import { Applier } from "./applier.ts";
import { ReplicatedStore, type SyncMode } from "./replicated-store.ts";
import { readPeerMessage } from "./messages.ts";
import { TestLink } from "./test-link.ts";

const dirs: string[] = [];
const stores: FileStore[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => {});
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function openStore(dir?: string, compactEntries?: number): Promise<FileStore> {
  const d = dir ?? (await mkdtemp(join(tmpdir(), "socle-ha-repl-")));
  if (!dir) dirs.push(d);
  // A small compaction limit comes with a small in-memory history, so compaction really drops changes.
  const s = new FileStore({ dir: d, ...(compactEntries ? { compactEntries, historyLimit: compactEntries } : {}) });
  await s.open();
  stores.push(s);
  return s;
}

/** An active store with a feeder and a standby store with an applier, joined by `link`. */
function pair(active: FileStore, standby: FileStore, opts: { timeoutMs?: number; link?: TestLink; tail?: boolean } = {}) {
  const link = opts.link ?? new TestLink();
  const feeder = new Feeder({ store: active, log: nullLogger, batch: 100, snapChunk: 50 });
  const modes: SyncMode[] = [];
  const front = new ReplicatedStore(active, { feeder, timeoutMs: () => opts.timeoutMs ?? 2000, onMode: (m) => modes.push(m) });
  const state = { standby: standby as ReplicaStore, failures: [] as string[] };
  const applier = new Applier({
    store: () => state.standby,
    replace: async (snap) => {
      const dir = (state.standby as FileStore).dir;
      await state.standby.close();
      await FileStore.importSnapshot(dir, snap);
      const reopened = await openStore(dir);
      state.standby = reopened;
      return reopened;
    },
    ack: (seq) => link.b.send({ T: "Ack", seq }),
    fail: (reason) => state.failures.push(reason),
    log: nullLogger,
  });
  link.b.onMessage((h) => {
    const m = readPeerMessage(h);
    if (m instanceof Error) throw m;
    if (m.T === "Changes" || m.T === "Snap") applier.handle(m);
  });
  link.a.onMessage((h) => {
    const m = readPeerMessage(h);
    if (m instanceof Error) throw m;
    if (m.T === "Ack") feeder.onAck(m.seq);
  });
  link.a.onClose((why) => feeder.detach(why));
  return { link, feeder, front, applier, state, modes, attach: () => feeder.attach(link.a, state.standby.seq, { snapshot: opts.tail === true }) };
}

function dump(s: ReplicaStore, types: string[]): string {
  return JSON.stringify(types.map((t) => s.list(t)));
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(5);
  }
}

describe("replication between two file stores", () => {
  test("catch-up then 2000 concurrent writes: each resolves only once the standby has it; both end identical", async () => {
    const active = await openStore();
    const standby = await openStore();
    for (let i = 0; i < 120; i++) await active.put("profiles", `p${i}`, { Name: `p${i}`, N: i });
    await active.delete("profiles", "p7");
    const p = pair(active, standby);
    await p.attach();
    await until(() => p.feeder.synced);
    expect(p.state.standby.seq).toBe(active.seq);

    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 2000; i++) {
      const w = i % 10 === 9 ? p.front.delete("profiles", `p${i % 120}`).catch(() => null) : p.front.put("machines", `m${i % 300}`, { Uuid: `m${i % 300}`, V: i });
      writes.push(
        w.then((c) => {
          // Sync before answer: when a write resolves, the standby holds it durably.
          if (c && typeof c === "object" && "Seq" in c) expect(p.state.standby.seq).toBeGreaterThanOrEqual((c as { Seq: number }).Seq);
        }),
      );
    }
    await Promise.all(writes);
    expect(p.state.standby.seq).toBe(active.seq);
    expect(dump(p.state.standby, ["profiles", "machines"])).toBe(dump(active, ["profiles", "machines"]));
    expect(p.feeder.lag().seq).toBe(0);
    expect(p.state.failures).toEqual([]);
    // The replicated Seq numbers are the active's, and they survive a restart of the standby.
    const dir = (p.state.standby as FileStore).dir;
    const seq = p.state.standby.seq;
    await p.state.standby.close();
    const again = await openStore(dir);
    expect(again.seq).toBe(seq);
    expect(dump(again, ["profiles", "machines"])).toBe(dump(active, ["profiles", "machines"]));
  });

  test("a write waits for the standby; past the timeout it fails Unavailable and the node goes solo, then back to sync", async () => {
    const active = await openStore();
    const standby = await openStore();
    const p = pair(active, standby, { timeoutMs: 150 });
    await p.attach();
    await until(() => p.feeder.synced);

    p.link.paused = true;
    let resolved = false;
    const slow = p.front.put("leases", "198.51.100.101", { Addr: "198.51.100.101" }).then(
      () => (resolved = true),
      (e: unknown) => e,
    );
    await Bun.sleep(60);
    expect(resolved).toBe(false);
    const err = await slow;
    expect(err).toBeInstanceOf(SocleError);
    expect((err as SocleError).type).toBe("Unavailable");
    expect((err as SocleError).message).toContain("not confirmed by the HA partner within 150 ms");
    expect(p.front.mode).toBe("solo");
    expect(p.modes).toEqual(["solo"]);
    // Solo: the next write resolves once durable here, without the standby.
    const t0 = performance.now();
    await p.front.put("leases", "198.51.100.102", { Addr: "198.51.100.102" });
    expect(performance.now() - t0).toBeLessThan(100);
    // The standby catches up and confirms everything: writes wait for it again.
    p.link.resume();
    await until(() => p.feeder.synced);
    await p.front.put("leases", "198.51.100.103", { Addr: "198.51.100.103" });
    expect(p.front.mode).toBe("sync");
    expect(p.modes).toEqual(["solo", "sync"]);
    expect(p.state.standby.get("leases", "198.51.100.103")).toBeDefined();
    expect(p.front.timeouts).toBe(1);
  });

  test("a standby whose Seq was compacted away gets the whole store as a snapshot, then streams", async () => {
    const active = await openStore(undefined, 50);
    for (let i = 0; i < 400; i++) await active.put("profiles", `p${i}`, { Name: `p${i}` });
    await until(() => active.stats().journalEntries < 400);
    const standby = await openStore();
    const p = pair(active, standby);
    await p.attach();
    await until(() => p.feeder.synced);
    expect(p.feeder.snapshotsSent).toBe(1);
    expect(p.applier.snapshotsReceived).toBe(1);
    await p.front.put("profiles", "after", { Name: "after" });
    expect(p.state.standby.get("profiles", "after")).toBeDefined();
    expect(dump(p.state.standby, ["profiles"])).toBe(dump(active, ["profiles"]));
    expect(p.state.standby.seq).toBe(active.seq);
  });

  test("a standby with a tail of its own (written alone, never confirmed) at a lower Seq is replaced too", async () => {
    const active = await openStore();
    for (let i = 0; i < 20; i++) await active.put("profiles", `a${i}`, { Name: `a${i}` });
    const standby = await openStore();
    await standby.put("profiles", "only-here", { Name: "only-here" });
    const p = pair(active, standby, { tail: true });
    await p.attach();
    await until(() => p.feeder.synced);
    expect(p.feeder.snapshotsSent).toBe(1);
    expect(p.state.standby.get("profiles", "only-here")).toBeUndefined();
    expect(dump(p.state.standby, ["profiles"])).toBe(dump(active, ["profiles"]));
  });

  test("a standby ahead of the active (a tail nobody acknowledged) is replaced, not merged", async () => {
    const active = await openStore();
    const standby = await openStore();
    for (let i = 0; i < 5; i++) await active.put("profiles", `a${i}`, { Name: `a${i}` });
    for (let i = 0; i < 9; i++) await standby.put("profiles", `b${i}`, { Name: `b${i}` });
    const p = pair(active, standby);
    await p.attach();
    await until(() => p.feeder.synced);
    expect(p.feeder.snapshotsSent).toBe(1);
    expect(p.state.standby.seq).toBe(active.seq);
    expect(p.state.standby.list("profiles").map((o) => o.Name)).toEqual(["a0", "a1", "a2", "a3", "a4"]);
  });

  test("the standby goes away mid-write: the write resolves locally (detached) instead of waiting out the timeout", async () => {
    const active = await openStore();
    const standby = await openStore();
    const p = pair(active, standby, { timeoutMs: 5000 });
    await p.attach();
    await until(() => p.feeder.synced);
    p.link.paused = true;
    const w = p.front.put("profiles", "x", { Name: "x" });
    await Bun.sleep(20);
    const t0 = performance.now();
    p.link.a.close("heartbeats lost");
    await w;
    expect(performance.now() - t0).toBeLessThan(200);
    expect(p.front.mode).toBe("solo");
  });

  test("a reconnect resumes from the standby's own Seq: overlap skipped, nothing missing", async () => {
    const active = await openStore();
    const standby = await openStore();
    const first = pair(active, standby);
    await first.attach();
    await until(() => first.feeder.synced);
    for (let i = 0; i < 50; i++) await first.front.put("profiles", `p${i}`, { Name: `p${i}` });
    first.link.cut = true;
    first.link.a.close("cable pulled");
    // Written while the standby was away.
    for (let i = 50; i < 80; i++) await first.front.put("profiles", `p${i}`, { Name: `p${i}` });
    const second = pair(active, first.state.standby as FileStore);
    await second.attach();
    await until(() => second.feeder.synced);
    expect(second.feeder.snapshotsSent).toBe(0);
    expect(dump(second.state.standby, ["profiles"])).toBe(dump(active, ["profiles"]));
  });

  test("a frame with a gap stops replication with a reason naming both Seq numbers", async () => {
    const standby = await openStore();
    const failures: string[] = [];
    const applier = new Applier({
      store: () => standby,
      replace: async () => standby,
      ack: () => {},
      fail: (r) => failures.push(r),
      log: nullLogger,
    });
    applier.handle({ T: "Changes", list: [{ Seq: 3, Time: new Date().toISOString(), Type: "profiles", Action: "create", Key: "x", Object: { Name: "x" } }] });
    await applier.idle();
    expect(failures.length).toBe(1);
    expect(failures[0]).toContain("3");
    expect(standby.seq).toBe(0);
    expect(standby.get("profiles", "x")).toBeUndefined();
  });
});

describe("readPeerMessage", () => {
  test("refuses malformed frames naming the field", () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ T: "Ack", seq: -1 }, "Ack.seq"],
      [{ T: "Ack", seq: "3" }, "Ack.seq"],
      [{ T: "Hello", node: "a", cluster: "c", version: "1", seq: 1, term: 1, state: "boss", hasData: true, streaming: false, tail: false, follow: true }, "Hello.state"],
      [{ T: "Hb", t: 1, seq: 1, term: 1, state: "standby", hasData: "yes", streaming: false, tail: false }, "Hb.hasData"],
      [{ T: "Changes", list: {} }, "Changes.list"],
      [{ T: "Changes", list: [{ Seq: 1, Time: "x", Type: "t", Action: "create", Key: "k", Object: {} }] }, "Changes.list[0].Time"],
      [{ T: "Changes", list: [{ Seq: 1, Time: "2026-01-01T00:00:00Z", Type: "t", Action: "zap", Key: "k", Object: {} }] }, "Changes.list[0].Action"],
      [
        {
          T: "Changes",
          list: [
            { Seq: 1, Time: "2026-01-01T00:00:00Z", Type: "t", Action: "create", Key: "k", Object: {} },
            { Seq: 3, Time: "2026-01-01T00:00:00Z", Type: "t", Action: "create", Key: "j", Object: {} },
          ],
        },
        "Changes.list[1].Seq",
      ],
      [{ T: "Snap", seq: 1, part: 0, entries: [{ Type: "t", Key: "k", Object: null }], last: true }, "Snap.entries[0].Object"],
      [{ T: "Nope" }, "unknown message type"],
    ];
    for (const [frame, want] of cases) {
      const r = readPeerMessage(frame as never);
      expect(r).toBeInstanceOf(Error);
      expect((r as Error).message).toContain(want);
    }
  });
});
