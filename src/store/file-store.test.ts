import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { Change, ModelObject } from "../model/object.ts";
import { createLogger } from "../log/logger.ts";
import { FileStore, openFileStore, segmentName, type FileStoreOptions } from "./file-store.ts";
import { runStoreContract } from "./contract.ts";
import { refusal } from "./test-util.ts";
import { encodeEntry, writtenEnd } from "./journal-codec.ts";
import type { StoreSnapshot } from "./replica.ts";

runStoreContract("file store", async (layer, opts = {}) => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "socle-store-"));
  if (opts.snapshot) await FileStore.importSnapshot(dir, opts.snapshot);
  const store = await openFileStore({ dir, layer, historyLimit: opts.historyLimit });
  return {
    store,
    reopen: () => openFileStore({ dir, layer, historyLimit: opts.historyLimit }),
    compact: async () => {
      await store.compact();
    },
    keepsJournal: true,
    cleanup: () => fsp.rm(dir, { recursive: true, force: true }),
  };
});

// Compaction on every few writes: the same contract must hold while snapshots run all the time.
runStoreContract("file store, compacting every 3 entries", async (layer, opts = {}) => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "socle-store-"));
  if (opts.snapshot) await FileStore.importSnapshot(dir, opts.snapshot);
  const store = await openFileStore({ dir, layer, compactEntries: 3, historyLimit: opts.historyLimit });
  return {
    store,
    reopen: () => openFileStore({ dir, layer, compactEntries: 3, historyLimit: opts.historyLimit }),
    // The first call may join a compaction already running at an earlier Seq.
    compact: async () => {
      await store.compact();
      await store.compact();
    },
    cleanup: () => fsp.rm(dir, { recursive: true, force: true }),
  };
});

const dirs: string[] = [];
const stores: FileStore[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "socle-fs-"));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function open(opts: FileStoreOptions): Promise<FileStore> {
  const s = await openFileStore(opts);
  stores.push(s);
  return s;
}

function logSink() {
  const lines: string[] = [];
  return { lines, log: createLogger({ sink: (l) => lines.push(l) }) };
}

const storeDir = (dir: string) => path.join(dir, "store");
/** A segment's lines, without the zeros preallocated after them. */
const journalText = (file: string) => {
  const bytes = fs.readFileSync(file);
  return bytes.subarray(0, writtenEnd(bytes)).toString("utf8");
};
const segments = (dir: string) => fs.readdirSync(storeDir(dir)).filter((n) => n.startsWith("journal-")).sort();

/** Write n puts and close without compaction by copying the files while open (a crash image). */
async function crashImage(n: number): Promise<string> {
  const live = tmp();
  const s = await open({ dir: live });
  for (let i = 1; i <= n; i++) await s.put("machines", `m${i}`, { I: i });
  const image = tmp();
  fs.cpSync(storeDir(live), storeDir(image), { recursive: true });
  return image;
}

describe("file store", () => {
  test("a second opener of the same data dir is refused, naming the dir and the PID", async () => {
    const dir = tmp();
    await open({ dir });
    const e = await refusal(openFileStore({ dir }));
    expect(e.type).toBe("Unavailable");
    expect(e.message).toContain(`"${dir}"`);
    expect(e.message).toContain(`PID ${process.pid}`);
    await stores.pop()?.close();
    await open({ dir }); // released by close
  });

  test("files are readable JSON: snapshot and every journal line", async () => {
    const dir = tmp();
    const s = await open({ dir });
    for (let i = 0; i < 10; i++) await s.put("machines", `m${i}`, { Name: `m${i}` });
    await s.compact();
    await s.put("leases", "198.51.100.1", { Addr: "198.51.100.1" });
    await s.delete("machines", "m3");
    const snap = JSON.parse(fs.readFileSync(path.join(storeDir(dir), "snapshot.json"), "utf8"));
    expect(snap.Seq).toBe(10);
    expect(snap.Objects.machines.length).toBe(10);
    expect(snap.Objects.machines[0]).toEqual(["m0", { Name: "m0" }]);
    const segs = segments(dir);
    expect(segs).toEqual([segmentName(11)]);
    const entries = journalText(path.join(storeDir(dir), segs[0] as string))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(entries.map((e) => [e.Seq, e.Action, e.Key])).toEqual([
      [11, "create", "198.51.100.1"],
      [12, "delete", "m3"],
    ]);
  });

  test("a torn journal tail is truncated with one warning; acknowledged writes survive", async () => {
    const dir = await crashImage(5);
    const seg = path.join(storeDir(dir), segments(dir)[0] as string);
    const good = journalText(seg);
    // The crash cut the next write short, in place over the preallocated zeros.
    const fd = fs.openSync(seg, "r+");
    fs.writeSync(fd, '{"Crc":"00000000","Seq":6,"Time":"2026-0', Buffer.byteLength(good));
    fs.closeSync(fd);
    const { lines, log } = logSink();
    const s = await open({ dir, log });
    expect(s.seq).toBe(5);
    expect(s.count("machines")).toBe(5);
    expect(journalText(seg)).toBe(good);
    const warnings = lines.filter((l) => l.includes("WARN"));
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toContain("torn");
    expect((await s.put("machines", "m6", {})).Seq).toBe(6);
    // Garbage after the zeros (appended by a tool, say) is a torn tail too, not data.
    await s.close();
    stores.pop();
    const newest = path.join(storeDir(dir), segments(dir).at(-1) as string); // close compacted
    fs.appendFileSync(newest, "garbage");
    const again = await open({ dir });
    expect(again.count("machines")).toBe(6);
    expect(journalText(newest)).toBe("");
    expect((await again.put("machines", "m7", {})).Seq).toBe(7);
  });

  test("objects loaded at open are frozen in the background only after freezeDelayMs, out of the start-up's way", async () => {
    const dir = tmp();
    const first = await open({ dir });
    await first.put("machines", "m", { Name: "m", HardwareAddrs: ["52:54:00:00:00:01"] });
    await first.close();
    stores.pop();
    const unfrozen = (s: FileStore) => {
      let v: unknown;
      s.scanField("machines", "HardwareAddrs", (_k, addrs) => (v = addrs), { freeze: false });
      return !Object.isFrozen(v);
    };
    const opened = performance.now();
    const s = await open({ dir, freezeDelayMs: 300 });
    expect(unfrozen(s)).toBe(true);
    // Frozen by the background pass, and not before the delay.
    while (unfrozen(s) && performance.now() - opened < 5_000) await Bun.sleep(10);
    expect(unfrozen(s)).toBe(false);
    expect(performance.now() - opened).toBeGreaterThanOrEqual(300);
    expect(s.get("machines", "m")).toEqual({ Name: "m", HardwareAddrs: ["52:54:00:00:00:01"] });
    // freezeLoaded: at once, on demand (what a memory measurement waits for).
    await s.close();
    stores.pop();
    const again = await open({ dir, freezeDelayMs: 60_000 });
    expect(unfrozen(again)).toBe(true);
    await again.freezeLoaded();
    expect(unfrozen(again)).toBe(false);
  });

  test("a power cut inside a write in place (zeros, then its later lines whole) is a torn tail, with one warning", async () => {
    const dir = await crashImage(3);
    const seg = path.join(storeDir(dir), segments(dir)[0] as string);
    const good = journalText(seg);
    const time = "2026-01-01T00:00:00.000Z";
    const first = encodeEntry({ Seq: 4, Time: time, Type: "machines", Action: "create", Key: "m4" }, "{}");
    const rest = encodeEntry({ Seq: 5, Time: time, Type: "machines", Action: "create", Key: "m5" }, "{}");
    // The write of Seq 4 and 5: its first 10 bytes (the page they were on) never landed.
    const fd = fs.openSync(seg, "r+");
    fs.writeSync(fd, first.slice(10) + rest, Buffer.byteLength(good) + 10);
    fs.closeSync(fd);
    const { lines, log } = logSink();
    const s = await open({ dir, log });
    expect(s.seq).toBe(3);
    expect(s.get("machines", "m5")).toBeUndefined();
    expect(journalText(seg)).toBe(good);
    expect(lines.filter((l) => l.includes("WARN")).length).toBe(1);
    expect((await s.put("machines", "m4", {})).Seq).toBe(4);
  });

  test("a reader of the segment being written decodes only what completed writes hold", async () => {
    // History from the journal (a ring of 1), while bytes past the last completed write look like
    // a write in progress: zeros, then a whole line.
    const dir = tmp();
    const s = await open({ dir, historyLimit: 1 });
    for (let i = 1; i <= 4; i++) await s.put("machines", `m${i}`, { I: i });
    const seg = path.join(storeDir(dir), segments(dir)[0] as string);
    const end = Buffer.byteLength(journalText(seg));
    const time = "2026-01-01T00:00:00.000Z";
    // A write's later bytes visible before its first ones: the end of a line, then a whole one.
    const fd = fs.openSync(seg, "r+");
    fs.writeSync(fd, 'ject":{}}\n' + encodeEntry({ Seq: 6, Time: time, Type: "machines", Action: "create", Key: "x" }, "{}"), end + 200);
    fs.closeSync(fd);
    const got = await s.changesSince(0);
    expect(got?.map((c) => c.Seq)).toEqual([1, 2, 3, 4]);
  });

  test("an empty segment left by a rotation that did not finish is removed, not written on under a wrong Seq", async () => {
    const dir = await crashImage(5);
    // The rotation at Seq 2 created journal-3 and crashed; the writes went on in journal-1.
    const orphan = path.join(storeDir(dir), segmentName(3));
    fs.writeFileSync(orphan, new Uint8Array(4096));
    const { lines, log } = logSink();
    const s = await open({ dir, log });
    expect(s.seq).toBe(5);
    expect(fs.existsSync(orphan)).toBe(false);
    expect(lines.some((l) => l.includes("rotation that did not finish"))).toBe(true);
    await s.put("machines", "m6", {});
    await s.close();
    stores.pop();
    const again = await open({ dir });
    expect(again.seq).toBe(6);
    expect(again.count("machines")).toBe(6);
  });

  test("journal lines are written in place over preallocated zeros: a write never grows the file", async () => {
    // Growing the file would make every O_DSYNC write commit the filesystem journal too (the header).
    const dir = tmp();
    const unit = 4096;
    const s = await open({ dir, journalPrealloc: unit });
    const seg = () => path.join(storeDir(dir), segments(dir).at(-1) as string);
    let grew = 0;
    for (let i = 0; i < 200; i++) {
      const before = fs.statSync(seg()).size;
      await s.put("leases", `l${i}`, { I: i, Pad: "x".repeat(100) }); // ~30 KB in all: several units
      const after = fs.statSync(seg()).size;
      if (after !== before) grew++;
      expect(after % unit).toBe(0);
      expect(after - Buffer.byteLength(journalText(seg()))).toBeGreaterThan(0); // zeros remain ahead
    }
    // Extensions happen off the write path, ahead of need (a few of the 200 writes saw one land):
    // ~30 KB in 4 KiB units would make about 8 writes wait if each extended when it ran out.
    expect(grew).toBeLessThan(20);
    expect(s.stats().extensionWaits).toBeLessThanOrEqual(2);
    await s.compact(); // a new segment starts preallocated
    expect(fs.statSync(seg()).size).toBe(unit);
    await s.put("leases", "after", {});
    await s.close();
    stores.pop();
    const again = await open({ dir, journalPrealloc: unit });
    expect(again.count("leases")).toBe(201);
    expect(again.seq).toBe(201);
  });

  test("a journal written before preallocation (appended, no zeros) opens and continues after its last line", async () => {
    const dir = tmp();
    const seg = path.join(storeDir(dir), segmentName(1));
    fs.mkdirSync(storeDir(dir), { recursive: true });
    const time = "2026-01-01T00:00:00.000Z";
    const old =
      encodeEntry({ Seq: 1, Time: time, Type: "machines", Action: "create", Key: "a" }, "{}") +
      encodeEntry({ Seq: 2, Time: time, Type: "machines", Action: "create", Key: "b" }, "{}");
    fs.writeFileSync(seg, old);
    const s = await open({ dir });
    expect(s.seq).toBe(2);
    await s.put("machines", "c", {});
    expect(journalText(seg).startsWith(old)).toBe(true);
    expect(journalText(seg).split("\n").length).toBe(4);
    await s.close();
    stores.pop();
    const again = await open({ dir });
    expect(again.list("machines").map((m) => m.Name ?? "")).toHaveLength(3);
    expect(again.seq).toBe(3);
  });

  test("a damaged line in the middle refuses to start, naming file and line", async () => {
    const dir = await crashImage(5);
    const seg = path.join(storeDir(dir), segments(dir)[0] as string);
    const text = fs.readFileSync(seg, "utf8");
    const at = text.indexOf('"m2"') + 2;
    fs.writeFileSync(seg, text.slice(0, at) + "X" + text.slice(at + 1));
    const e = await refusal(openFileStore({ dir }));
    expect(e.message).toContain(seg);
    expect(e.message).toContain("line 2");
    expect(e.message).toContain("checksum mismatch");
    // The lock was released: after repair (truncate as the message says) the store opens.
    const offset = Number(/truncate the file to (\d+) bytes/.exec(e.message)?.[1]);
    fs.truncateSync(seg, offset);
    const s = await open({ dir });
    expect(s.seq).toBe(1);
  });

  test("missing changes between snapshot and journal refuse to start", async () => {
    const dir = tmp();
    const s = await open({ dir, compactEntries: 1_000_000 });
    for (let i = 0; i < 3; i++) await s.put("machines", `a${i}`, {});
    await s.compact(); // snapshot at 3, segment 4..
    for (let i = 0; i < 3; i++) await s.put("machines", `b${i}`, {});
    const image = tmp();
    fs.cpSync(storeDir(dir), storeDir(image), { recursive: true });
    fs.writeFileSync(path.join(storeDir(image), "snapshot.json"), JSON.stringify({ Seq: 1, Objects: {} }));
    const e = await refusal(openFileStore({ dir: image }));
    expect(e.message).toContain("changes 2..3 are missing");
  });

  test("an unreadable snapshot refuses to start, naming it", async () => {
    const dir = tmp();
    fs.mkdirSync(storeDir(dir), { recursive: true });
    fs.writeFileSync(path.join(storeDir(dir), "snapshot.json"), '{"Seq":3,"Objects":{"machines":');
    const e = await refusal(openFileStore({ dir }));
    expect(e.message).toContain(path.join(storeDir(dir), "snapshot.json"));
    expect(e.message).toContain("not JSON");
  });

  test("leftovers of an interrupted compaction are cleaned up: temp snapshot, covered segments", async () => {
    const dir = tmp();
    const s = await open({ dir, compactEntries: 1_000_000 });
    for (let i = 0; i < 4; i++) await s.put("machines", `m${i}`, { I: i });
    const old = segments(dir);
    const oldCopy = fs.readFileSync(path.join(storeDir(dir), old[0] as string));
    await s.compact();
    await s.put("machines", "m9", { I: 9 });
    await s.close();
    stores.pop();
    // As if the crash hit after the snapshot rename but before old segments were removed,
    // while a later snapshot was being written.
    fs.writeFileSync(path.join(storeDir(dir), old[0] as string), oldCopy);
    fs.writeFileSync(path.join(storeDir(dir), "snapshot.json.tmp"), "{half");
    fs.writeFileSync(path.join(storeDir(dir), ".socle-write-00ff.part"), "{half"); // files/atomic-write.ts
    const again = await open({ dir });
    expect(again.seq).toBe(5);
    expect(again.get("machines", "m9")).toEqual({ I: 9 });
    expect(fs.existsSync(path.join(storeDir(dir), "snapshot.json.tmp"))).toBe(false);
    expect(fs.existsSync(path.join(storeDir(dir), ".socle-write-00ff.part"))).toBe(false);
    expect(segments(dir)).not.toContain(old[0]);
  });

  test("compaction while writes continue loses nothing and reorders nothing", async () => {
    const dir = tmp();
    const s = await open({ dir, compactEntries: 50, snapshot: { sliceMs: 0, chunkChars: 64 } });
    const model = new Map<string, ModelObject>();
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 600; i++) {
      const key = `m${(i * 31) % 97}`;
      if (i % 5 === 4 && model.has(key)) {
        model.delete(key);
        writes.push(s.delete("machines", key));
      } else {
        const obj = { I: i, Pad: "x".repeat(i % 50) };
        model.set(key, obj);
        writes.push(s.put("machines", key, obj));
      }
      if (i % 40 === 0) await Promise.all(writes.splice(0));
    }
    await Promise.all(writes);
    const seq = s.seq;
    await s.close();
    stores.pop();
    const again = await open({ dir });
    expect(again.seq).toBe(seq);
    expect(again.count("machines")).toBe(model.size);
    for (const [k, v] of model) expect(again.get("machines", k)).toEqual(v);
  });

  test("the journal is compacted automatically past the entry limit", async () => {
    const dir = tmp();
    const s = await open({ dir, compactEntries: 20 });
    for (let i = 0; i < 25; i++) await s.put("machines", `m${i % 5}`, { I: i });
    await Bun.sleep(20);
    expect(fs.existsSync(path.join(storeDir(dir), "snapshot.json"))).toBe(true);
    expect(s.stats().journalEntries).toBeLessThan(20);
    expect(segments(dir).length).toBe(1);
  });

  test("writable objects hidden by newly shipped content are kept and reported", async () => {
    const dir = tmp();
    const s = await open({ dir });
    await s.put("bootenvs", "fedora", { Name: "fedora", Mine: true });
    await s.close();
    stores.pop();
    const { lines, log } = logSink();
    const layer = { objects: new Map([["bootenvs", new Map([["fedora", { Name: "fedora" } as ModelObject]])]]) };
    const again = await open({ dir, layer, log });
    expect(again.get("bootenvs", "fedora")).toEqual({ Name: "fedora", ReadOnly: true });
    expect(again.count("bootenvs")).toBe(1);
    expect(lines.some((l) => l.includes("hidden by read-only content") && l.includes("fedora"))).toBe(true);
    await again.close();
    stores.pop();
    const without = await open({ dir });
    expect(without.get("bootenvs", "fedora")).toEqual({ Name: "fedora", Mine: true });
  });

  test.skipIf(process.platform !== "linux")("every journal segment is open O_DSYNC, also after rotation and reopen", async () => {
    // The write that resolves a put is the only sync: without O_DSYNC on the descriptor an
    // acknowledged change could be lost to a power cut. /proc/self/fdinfo shows the open flags (octal).
    const dir = tmp();
    const journalFlags = () => {
      const out: number[] = [];
      for (const fd of fs.readdirSync("/proc/self/fd")) {
        let target = "";
        try {
          target = fs.readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          continue; // closed meanwhile (the readdir's own descriptor)
        }
        if (!target.startsWith(path.join(dir, "store", "journal-"))) continue;
        const flags = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1];
        out.push(Number.parseInt(flags ?? "0", 8));
      }
      return out;
    };
    const O_DSYNC = fs.constants.O_DSYNC;
    const s = await open({ dir });
    await s.put("leases", "a", {});
    expect(journalFlags().length).toBe(1);
    for (const f of journalFlags()) expect(f & O_DSYNC).toBe(O_DSYNC);
    await s.compact(); // rotates to a new segment
    await s.put("leases", "b", {});
    expect(journalFlags().length).toBe(1);
    for (const f of journalFlags()) expect(f & O_DSYNC).toBe(O_DSYNC);
    await s.close();
    stores.pop();
    expect(journalFlags()).toEqual([]);
    const again = await open({ dir }); // recovery reopens the newest segment
    await again.put("leases", "c", {});
    expect(journalFlags().length).toBe(1);
    for (const f of journalFlags()) expect(f & O_DSYNC).toBe(O_DSYNC);
    expect(again.get("leases", "b")).toEqual({});
  });

  test("many concurrent writes share one durable write (group commit)", async () => {
    const dir = tmp();
    const s = await open({ dir });
    await Promise.all(Array.from({ length: 2000 }, (_, i) => s.put("leases", `l${i}`, { I: i })));
    expect(s.seq).toBe(2000);
    expect(s.stats().syncs).toBe(1); // all issued in one turn: one O_DSYNC write()
    const before = s.stats().syncs;
    for (let i = 0; i < 5; i++) await s.put("leases", `x${i}`, {});
    expect(s.stats().syncs - before).toBe(5); // sequential writes cannot share
  });

  test("onSync hears every durable write: its duration, and the changes and bytes it made durable", async () => {
    const dir = tmp();
    const syncs: [number, number, number][] = [];
    const s = await open({ dir, onSync: (sec, n, bytes) => syncs.push([sec, n, bytes]) });
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.put("leases", `l${i}`, { I: i })));
    await s.put("leases", "last", {});
    expect(syncs.length).toBe(s.stats().syncs);
    expect(syncs.reduce((n, x) => n + x[1], 0)).toBe(51);
    expect(syncs.reduce((n, x) => n + x[2], 0)).toBe(s.stats().journalBytes);
    for (const [sec] of syncs) expect(sec >= 0 && sec < 10).toBe(true);
  });

  test("open is refused twice on one object, and the data dir is private", async () => {
    const dir = path.join(tmp(), "data");
    const s = new FileStore({ dir });
    await s.open();
    stores.push(s);
    await expect(s.open()).rejects.toThrow("opens once");
    expect(fs.statSync(storeDir(dir)).mode & 0o777).toBe(0o700);
  });
});

describe("file store open failures", () => {
  test("an unusable data dir is an Unavailable error naming it", async () => {
    const parent = tmp();
    const file = path.join(parent, "not-a-dir");
    fs.writeFileSync(file, "x");
    const e = await refusal(openFileStore({ dir: file }));
    expect(e.type).toBe("Unavailable");
    expect(e.message).toContain(`cannot open data directory "${file}"`);
  });
});

describe("file store: history and snapshots for replicas", () => {
  test("after a restart (empty ring), changes come back from the journal exactly as published, deletes with their object", async () => {
    const dir = tmp();
    const s = await open({ dir });
    const published: Change[] = [];
    s.subscribe((c) => published.push(c));
    await s.put("machines", "m1", { Name: "m1", Params: { a: [1, "x"] } });
    await s.put("leases", "198.51.100.9", { Addr: "198.51.100.9" });
    await s.delete("machines", "m1");
    await s.applyReplicated([{ Seq: 4, Time: "2020-02-03T04:05:06.789Z", Type: "machines", Action: "create", Key: "r", Object: { R: 1 } }]);
    const image = tmp();
    fs.cpSync(storeDir(dir), storeDir(image), { recursive: true }); // as if it crashed: no snapshot
    const again = await open({ dir: image });
    expect(again.seq).toBe(4);
    const read = await again.changesSince(0);
    expect(read).toEqual(published);
    expect(read?.[2]?.Object).toEqual({ Name: "m1", Params: { a: [1, "x"] } });
    expect(read?.[3]?.Time).toBe("2020-02-03T04:05:06.789Z");
    expect(await again.changesSince(2, 1)).toEqual(published.slice(2, 3));
  });

  test("history spans journal segments, and a compacted segment's changes are gone", async () => {
    const dir = tmp();
    const s = await open({ dir, historyLimit: 1, compactEntries: 1_000_000 });
    const published: Change[] = [];
    s.subscribe((c) => published.push(c));
    for (let i = 0; i < 5; i++) await s.put("machines", `a${i}`, { I: i });
    await s.compact(); // snapshot at 5, segment 6..
    for (let i = 0; i < 5; i++) await s.put("machines", `b${i}`, { I: i });
    expect(await s.changesSince(0)).toBeUndefined();
    expect(await s.changesSince(4)).toBeUndefined();
    expect(await s.changesSince(5)).toEqual(published.slice(5));
    expect(await s.changesSince(7, 2)).toEqual(published.slice(7, 9));
  });

  test("a delete line from before deletes carried their object cannot be replayed: undefined", async () => {
    const dir = tmp();
    const seg = path.join(storeDir(dir), segmentName(1));
    fs.mkdirSync(storeDir(dir), { recursive: true });
    const time = "2026-01-01T00:00:00.000Z";
    fs.writeFileSync(
      seg,
      encodeEntry({ Seq: 1, Time: time, Type: "machines", Action: "create", Key: "a" }, "{}") +
        encodeEntry({ Seq: 2, Time: time, Type: "machines", Action: "delete", Key: "a" }, null) +
        encodeEntry({ Seq: 3, Time: time, Type: "machines", Action: "create", Key: "b" }, "{}"),
    );
    const s = await open({ dir });
    expect(s.seq).toBe(3);
    expect(await s.changesSince(0, 1)).toEqual([{ Seq: 1, Time: time, Type: "machines", Action: "create", Key: "a", Object: {} }]);
    expect(await s.changesSince(0)).toBeUndefined();
    expect(await s.changesSince(2)).toEqual([{ Seq: 3, Time: time, Type: "machines", Action: "create", Key: "b", Object: {} }]);
  });

  test("importSnapshot replaces a store with a longer journal; open starts at the snapshot's Seq", async () => {
    const dir = tmp();
    const s = await open({ dir, compactEntries: 1_000_000 });
    for (let i = 0; i < 20; i++) await s.put("machines", `old${i}`, { I: i });
    const e = await refusal(FileStore.importSnapshot(dir, { seq: 7, entries: [] }));
    expect(e.type).toBe("Unavailable");
    expect(e.message).toContain("in use by");
    await s.close();
    stores.pop();
    expect(segments(dir).length).toBe(1);
    const snap: StoreSnapshot = {
      seq: 7,
      entries: [
        { Type: "machines", Key: "z", Object: { Z: 1 } },
        { Type: "leases", Key: "198.51.100.3", Object: { Addr: "198.51.100.3" } },
        { Type: "machines", Key: "a", Object: { A: [1, 2] } },
      ],
    };
    await FileStore.importSnapshot(dir, snap);
    expect(fs.readdirSync(dir).sort()).toEqual(["LOCK", "store"]);
    expect(fs.readdirSync(storeDir(dir))).toEqual(["snapshot.json"]);
    const again = await open({ dir });
    expect(again.seq).toBe(7);
    expect(again.list("machines")).toEqual([{ A: [1, 2] }, { Z: 1 }]);
    expect(again.count("leases")).toBe(1);
    expect((await again.put("machines", "n", {})).Seq).toBe(8);
    expect(segments(dir)).toEqual([segmentName(8)]);
  });

  test("importSnapshot into a fresh data dir, and bad snapshots refused naming the field", async () => {
    const dir = path.join(tmp(), "new-node");
    await FileStore.importSnapshot(dir, { seq: 3, entries: [{ Type: "profiles", Key: "p", Object: { Name: "p" } }] });
    const s = await open({ dir });
    expect(s.seq).toBe(3);
    expect(s.get("profiles", "p")).toEqual({ Name: "p" });
    const bad: Array<[unknown, string]> = [
      [{ seq: -1, entries: [] }, '"seq" -1 is not a non-negative integer'],
      [{ seq: 1 }, '"entries" is not a list'],
      [{ seq: 1, entries: [{ Type: "Bad Type", Key: "k", Object: {} }] }, 'entry #1: "Type": invalid store type "Bad Type"'],
      [{ seq: 1, entries: [{ Type: "machines", Key: "", Object: {} }] }, 'entry #1: "Key": invalid key ""'],
      [{ seq: 1, entries: [{ Type: "machines", Key: "k", Object: [] }] }, 'entry #1 (machines "k"): "Object" is not a JSON object'],
      [{ seq: 1, entries: [{ Type: "machines", Key: "k", Object: {} }, { Type: "machines", Key: "k", Object: {} }] }, 'entry #2: machines "k" appears twice'],
    ];
    const other = tmp();
    for (const [snap, msg] of bad) {
      const e = await refusal(FileStore.importSnapshot(other, snap as StoreSnapshot));
      expect(e.type).toBe("BadRequest");
      expect(e.message).toContain(msg);
    }
    expect(fs.readdirSync(other)).toEqual([]);
  });

  describe("an import interrupted by a crash leaves the old store or the new one", () => {
    /** A data dir holding an old store at Seq 2 and, beside it, a complete import at Seq 9. */
    async function halfway(): Promise<string> {
      const dir = tmp();
      const s = await open({ dir });
      await s.put("machines", "old", {});
      await s.put("machines", "old2", {});
      await s.close();
      stores.pop();
      const next = tmp();
      await FileStore.importSnapshot(next, { seq: 9, entries: [{ Type: "machines", Key: "new", Object: {} }] });
      fs.cpSync(storeDir(next), path.join(dir, "store.importing"), { recursive: true });
      return dir;
    }

    test("before the old store was set aside: the old store, the import dropped", async () => {
      const dir = await halfway();
      const s = await open({ dir });
      expect(s.seq).toBe(2);
      expect(s.get("machines", "old")).toEqual({});
      expect(fs.existsSync(path.join(dir, "store.importing"))).toBe(false);
    });

    test("an incomplete import (no snapshot.json yet): dropped, even with no old store", async () => {
      const dir = await halfway();
      fs.rmSync(path.join(dir, "store.importing", "snapshot.json"));
      fs.writeFileSync(path.join(dir, "store.importing", ".socle-write-00aa.part"), '{"Seq":9,');
      fs.renameSync(storeDir(dir), path.join(dir, "store.replaced"));
      const s = await open({ dir });
      expect(s.seq).toBe(2); // the old store, put back
      expect(fs.readdirSync(dir).sort()).toEqual(["LOCK", "store"]);
    });

    test("after the old store was set aside: the new store", async () => {
      const dir = await halfway();
      fs.renameSync(storeDir(dir), path.join(dir, "store.replaced"));
      const s = await open({ dir });
      expect(s.seq).toBe(9);
      expect(s.list("machines")).toEqual([{}]);
      expect(s.get("machines", "new")).toEqual({});
      expect(fs.readdirSync(dir).sort()).toEqual(["LOCK", "store"]);
    });

    test("after the swap, before the old store was removed: the new store, the old one removed", async () => {
      const dir = await halfway();
      fs.renameSync(storeDir(dir), path.join(dir, "store.replaced"));
      fs.renameSync(path.join(dir, "store.importing"), storeDir(dir));
      const s = await open({ dir });
      expect(s.seq).toBe(9);
      expect(fs.readdirSync(dir).sort()).toEqual(["LOCK", "store"]);
    });

    test("a second import finishes the interrupted one first, then replaces it", async () => {
      const dir = await halfway();
      fs.renameSync(storeDir(dir), path.join(dir, "store.replaced"));
      await FileStore.importSnapshot(dir, { seq: 12, entries: [] });
      const s = await open({ dir });
      expect(s.seq).toBe(12);
      expect(s.count("machines")).toBe(0);
      expect(fs.readdirSync(dir).sort()).toEqual(["LOCK", "store"]);
    });
  });
});

describe("file store: importSnapshot under kill -9", () => {
  /** The snapshot a child imports as its round `s`: object count and content depend on `s` only. */
  const IMPORTER = `
    import { FileStore } from ${JSON.stringify(path.join(import.meta.dir, "file-store.ts"))};
    const dir = process.argv[1];
    for (let s = Number(process.argv[2]); ; s++) {
      const n = 300 + (s % 5) * 200;
      const entries = Array.from({ length: n }, (_, i) => ({ Type: "machines", Key: "k" + i, Object: { S: s, I: i, Pad: "x".repeat(200) } }));
      await FileStore.importSnapshot(dir, { seq: s, entries });
      process.stdout.write("imported " + s + "\\n");
    }
  `;

  test("a kill at any moment leaves the store of the last finished import or of the one in flight, whole", async () => {
    const dir = tmp();
    let next = 1;
    for (let trial = 0; trial < 12; trial++) {
      const child = Bun.spawn([process.execPath, "-e", IMPORTER, dir, String(next)], { stdout: "pipe", stderr: "pipe" });
      // Once the child is past its start-up (one import done), kill it a few ms into the next ones.
      const reader = child.stdout.getReader();
      let out = "";
      while (!out.includes("\n")) {
        const r = await reader.read();
        if (r.done) throw new Error(`importer exited early: ${await new Response(child.stderr).text()}`);
        out += new TextDecoder().decode(r.value);
      }
      await Bun.sleep((trial * 7) % 13);
      child.kill(9);
      await child.exited;
      for (let r = await reader.read(); !r.done; r = await reader.read()) out += new TextDecoder().decode(r.value);
      const done = [...out.matchAll(/imported (\d+)/g)].map((m) => Number(m[1]));
      const last = done.at(-1) ?? next - 1;
      const s = await open({ dir });
      const seq = s.seq;
      // Whatever finished is there; at most the import in flight got further.
      expect([last, last + 1]).toContain(seq);
      const objs = s.list("machines");
      expect(objs.length).toBe(seq === 0 ? 0 : 300 + (seq % 5) * 200);
      expect(objs.every((o) => o.S === seq)).toBe(true);
      expect(fs.readdirSync(dir).sort()).toEqual(["LOCK", "store"]);
      await s.close();
      stores.pop();
      next = seq + 1;
    }
  }, 60_000);
});
