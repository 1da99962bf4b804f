import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { ModelObject } from "../model/object.ts";
import { createLogger } from "../log/logger.ts";
import { FileStore, openFileStore, segmentName, type FileStoreOptions } from "./file-store.ts";
import { runStoreContract } from "./contract.ts";
import { refusal } from "./test-util.ts";

runStoreContract("file store", async (layer) => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "socle-store-"));
  return {
    store: await openFileStore({ dir, layer }),
    reopen: () => openFileStore({ dir, layer }),
    cleanup: () => fsp.rm(dir, { recursive: true, force: true }),
  };
});

// Compaction on every few writes: the same contract must hold while snapshots run all the time.
runStoreContract("file store, compacting every 3 entries", async (layer) => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "socle-store-"));
  return {
    store: await openFileStore({ dir, layer, compactEntries: 3 }),
    reopen: () => openFileStore({ dir, layer, compactEntries: 3 }),
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
    const entries = fs
      .readFileSync(path.join(storeDir(dir), segs[0] as string), "utf8")
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
    const goodSize = fs.statSync(seg).size;
    fs.appendFileSync(seg, '{"Crc":"00000000","Seq":6,"Time":"2026-0');
    const { lines, log } = logSink();
    const s = await open({ dir, log });
    expect(s.seq).toBe(5);
    expect(s.count("machines")).toBe(5);
    expect(fs.statSync(seg).size).toBe(goodSize);
    const warnings = lines.filter((l) => l.includes("WARN"));
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toContain("torn");
    expect((await s.put("machines", "m6", {})).Seq).toBe(6);
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

  test("many concurrent writes share fdatasyncs (group commit)", async () => {
    const dir = tmp();
    const s = await open({ dir });
    await Promise.all(Array.from({ length: 2000 }, (_, i) => s.put("leases", `l${i}`, { I: i })));
    expect(s.seq).toBe(2000);
    expect(s.stats().syncs).toBe(1); // all issued in one turn: one write() + one fdatasync
    const before = s.stats().syncs;
    for (let i = 0; i < 5; i++) await s.put("leases", `x${i}`, {});
    expect(s.stats().syncs - before).toBe(5); // sequential writes cannot share
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
