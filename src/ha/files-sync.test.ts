import { afterEach, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { appendFile, chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, nullLogger } from "../log/logger.ts";
import type { HaMessage } from "./protocol.ts";
import { FileSyncSource, FileSyncTarget, readFileMessage, syncPathProblem, type FileSyncSourceOptions } from "./files-sync.ts";
import { TestLink } from "./test-link.ts";

const dirs: string[] = [];
const sources: FileSyncSource[] = [];
const targets: FileSyncTarget[] = [];

afterEach(async () => {
  for (const s of sources.splice(0)) s.detach("test over");
  for (const t of targets.splice(0)) {
    t.reset("test over");
    await t.idle();
  }
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "socle-ha-files-"));
  dirs.push(d);
  return d;
}

async function put(dir: string, rel: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const abs = join(dir, rel);
  await mkdir(join(abs, ".."), { recursive: true });
  await writeFile(abs, data);
  await chmod(abs, mode);
}

interface Seen {
  /** Bytes of FileChunk bodies per path. */
  chunkBytes: Map<string, number>;
  frames: HaMessage[];
}

/** Two data dirs, the active's source and the standby's target, joined by a TestLink. */
async function pair(opts: Partial<FileSyncSourceOptions> = {}, prepare?: (active: string) => Promise<void>) {
  const active = await tempDir();
  const standby = await tempDir();
  if (prepare) await prepare(active);
  const link = new TestLink();
  const seen: Seen = { chunkBytes: new Map(), frames: [] };
  const target = new FileSyncTarget({ dataDir: standby, log: nullLogger, send: (m, body) => link.b.send(m, body) });
  targets.push(target);
  link.b.onMessage((h, body) => {
    seen.frames.push(h);
    if (h.T === "FileChunk") seen.chunkBytes.set(String(h.path), (seen.chunkBytes.get(String(h.path)) ?? 0) + (body?.length ?? 0));
  });
  link.b.onMessage((h, body) => target.handle(h, body));
  link.b.onClose((why) => target.reset(why));
  const source = new FileSyncSource({ dataDir: active, log: nullLogger, scanIntervalMs: 60_000, ...opts });
  sources.push(source);
  return { active, standby, link, source, target, seen, attach: () => source.attach(link.a) };
}

type Tree = Record<string, { sha: string; mode: string; mtime: number } | "symlink" | "dir">;

/** Every entry under `dir` (files hashed, with mode and whole-ms mtime), by relative path. */
async function tree(dir: string, withDirs = false): Promise<Tree> {
  const out: Tree = {};
  // Files may come and go while this reads (temporary files being renamed): what vanished is skipped.
  const gone = (e: unknown) => {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    return undefined;
  };
  async function walk(rel: string): Promise<void> {
    for (const d of (await readdir(join(dir, rel), { withFileTypes: true }).catch(gone)) ?? []) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isSymbolicLink()) out[r] = "symlink";
      else if (d.isDirectory()) {
        if (withDirs) out[r] = "dir";
        await walk(r);
      } else {
        const st = await lstat(join(dir, r)).catch(gone);
        const data = await readFile(join(dir, r)).catch(gone);
        if (st && data) out[r] = { sha: createHash("sha256").update(data).digest("hex"), mode: (st.mode & 0o7777).toString(8), mtime: Math.round(st.mtimeMs) };
      }
    }
  }
  await walk("");
  return out;
}

/** The part of the active's tree that is replicated. */
function replicated(t: Tree): Tree {
  return Object.fromEntries(Object.entries(t).filter(([p, v]) => v !== "symlink" && syncPathProblem(p) === undefined));
}

/** Files only (symlinks are compared with links()). */
function noLinks(t: Tree): Tree {
  return Object.fromEntries(Object.entries(t).filter(([, v]) => v !== "symlink"));
}

/** Every symlink under `dir` (not followed) with its target, by relative path. */
async function links(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(rel: string): Promise<void> {
    for (const d of await readdir(join(dir, rel), { withFileTypes: true }).catch(() => [])) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isSymbolicLink()) {
        // A link may be renamed away while this reads (a temporary one put in place): skipped.
        const target = await readlink(join(dir, r)).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== "ENOENT") throw e;
          return undefined;
        });
        if (target !== undefined) out[r] = target;
      } else if (d.isDirectory()) await walk(r);
    }
  }
  await walk("");
  return out;
}

async function until(cond: () => Promise<boolean> | boolean, ms = 3000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await Bun.sleep(10);
  }
}

async function sameTrees(active: string, standby: string, ms = 3000): Promise<void> {
  let last = "";
  try {
    await until(async () => {
      const [a, b] = [replicated(await tree(active)), noLinks(await tree(standby))];
      last = `active ${JSON.stringify(Object.keys(a).sort())}\nstandby ${JSON.stringify(Object.keys(b).sort())}`;
      return Bun.deepEquals(a, b);
    }, ms, "trees equal");
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${last}`);
  }
}

describe("syncPathProblem and readFileMessage", () => {
  test("paths inside the areas pass; everything else names its problem", () => {
    for (const ok of ["files/a", "files/env/install/.treeinfo", "isos/x.iso", "job-logs/ab/abc.log", "pki/ca-key.pem", "settings.json"]) expect(syncPathProblem(ok)).toBeUndefined();
    const bad: Record<string, string> = {
      "../x": '".."',
      "/etc/passwd": "absolute",
      "files/../../x": '".."',
      "files/./x": "normal form",
      "files//x": "normal form",
      "files\\x": "normal form",
      "store/journal": "outside the replicated areas",
      "ha/pair.json": "outside",
      LOCK: "not a replicated file",
      "initial-admin-password": "not a replicated file",
      files: "not a replicated file",
      "files/a\u0000b": "control character",
      "files/.socle-upload-ab12.part": "temporary",
      "files/x/.socle-explode-ff.part/y": "temporary",
      "C:/files/x": "drive",
    };
    for (const [p, why] of Object.entries(bad)) expect(syncPathProblem(p)).toContain(why);
  });

  test("a bad frame is an Error naming the field and value", () => {
    const err = (h: Record<string, unknown>) => {
      const r = readFileMessage(h as HaMessage);
      expect(r).toBeInstanceOf(Error);
      return (r as Error).message;
    };
    expect(err({ T: "FileWant", path: "../x", from: 0 })).toContain('FileWant.path: "../x" refused');
    expect(err({ T: "FileDone", path: "files/x", size: 1, mtimeMs: 1, mode: 0o6755, changed: false })).toContain("no setuid, setgid or sticky");
    expect(err({ T: "FileWant", path: "files/a", from: -1 })).toContain("FileWant.from");
    expect(err({ T: "FileChunk", path: "files/a", offset: 1.5, last: false })).toContain("FileChunk.offset");
    expect(err({ T: "FileDone", path: "files/a", size: 1, mtimeMs: 1, mode: 0o10000, changed: false })).toContain("FileDone.mode");
    expect(err({ T: "FileManifest", full: true, part: 0, last: true, entries: [{ path: "files/a", size: 1, mtimeMs: 1, mode: 0o644 }, { path: "store/journal", size: 1, mtimeMs: 1, mode: 0o644 }] })).toContain("FileManifest.entries[1].path");
    expect(err({ T: "FileManifest", full: "yes", part: 0, last: true, entries: [] })).toContain("FileManifest.full");
    expect(err({ T: "FileGone", paths: ["files/a", "/etc/passwd"] })).toContain("FileGone.paths[1]");
    expect(err({ T: "FileNope" })).toContain("not a file message");
    const linkEntry = (o: Record<string, unknown>) => ({ T: "FileManifest", full: false, part: 0, last: true, entries: [{ path: "files/l", size: 0, mtimeMs: 1, mode: 0o777, ...o }] });
    expect(err(linkEntry({ link: 5 }))).toContain("FileManifest.entries[0].link: want a symlink target of 1 to 4095 characters, got number");
    expect(err(linkEntry({ link: "" }))).toContain("FileManifest.entries[0].link");
    expect(err(linkEntry({ link: "x", size: 3 }))).toContain("FileManifest.entries[0].size: a symlink's entry has size 0, got 3");
    // An unsafe target is not a malformed frame: it is refused per entry when placed.
    expect(readFileMessage(linkEntry({ link: "/etc/passwd" }) as HaMessage)).toMatchObject({ entries: [{ path: "files/l", link: "/etc/passwd" }] });
    expect(readFileMessage({ T: "FileWant", path: "job-logs/ab/x.log", from: 10 })).toEqual({ T: "FileWant", path: "job-logs/ab/x.log", from: 10 });
  });
});

describe("file sync between two data dirs", () => {
  test("initial full sync: nested dirs, an empty file, 20 MiB, 0600 keys, settings; nothing else", async () => {
    const big = randomBytes(20 << 20);
    const p = await pair({}, async (a) => {
      await put(a, "files/env/install/images/pxeboot/vmlinuz", randomBytes(300_000));
      await put(a, "files/env/install/.treeinfo", "[general]\n");
      await put(a, "files/empty", "");
      await put(a, "isos/big.iso", big);
      await put(a, "pki/ca-key.pem", "KEY", 0o600);
      await put(a, "pki/server-key.pem", "KEY2", 0o600);
      await put(a, "pki/ca.pem", "CERT");
      await put(a, "job-logs/ab/ab12.log", "line 1\n");
      await put(a, "settings.json", '{"tokenKey":"x"}', 0o600);
      await put(a, "store/journal-000000000001.jsonl", "{}");
      await put(a, "LOCK", "");
      await put(a, "ha/pair.json", "{}");
      await put(a, "initial-admin-password", "pw", 0o600);
      await utimes(join(a, "files/empty"), new Date("2020-01-02T03:04:05.678Z"), new Date("2020-01-02T03:04:05.678Z"));
    });
    p.attach();
    await sameTrees(p.active, p.standby, 5000);
    await p.target.idle();
    const b = await tree(p.standby);
    expect(Object.keys(b).sort()).toEqual(["files/empty", "files/env/install/.treeinfo", "files/env/install/images/pxeboot/vmlinuz", "isos/big.iso", "job-logs/ab/ab12.log", "pki/ca-key.pem", "pki/ca.pem", "pki/server-key.pem", "settings.json"]);
    expect(b["pki/ca-key.pem"]).toMatchObject({ mode: "600" });
    expect(b["settings.json"]).toMatchObject({ mode: "600" });
    expect(b["files/empty"]).toMatchObject({ mtime: Date.parse("2020-01-02T03:04:05.678Z") });
    expect(Buffer.compare(await readFile(join(p.standby, "isos/big.iso")), big)).toBe(0);
    expect(p.seen.chunkBytes.get("isos/big.iso")).toBe(20 << 20);
    expect(p.target.pendingFiles).toBe(0);
    expect(p.target.pendingBytes).toBe(0);
    // Frames of at most 1 MiB of body, and the manifest sent in parts.
    expect(p.seen.frames.filter((f) => f.T === "FileChunk" && f.path === "isos/big.iso").length).toBe(20);
  }, 15_000);

  test("a full manifest is sent in parts of 2,000 entries", async () => {
    const active = await tempDir();
    await mkdir(join(active, "files/many"), { recursive: true });
    await Promise.all(Array.from({ length: 4001 }, (_, i) => writeFile(join(active, `files/many/f${i}`), String(i))));
    const link = new TestLink();
    const parts: HaMessage[] = [];
    link.b.onMessage((h) => void (h.T === "FileManifest" && parts.push(h)));
    const source = new FileSyncSource({ dataDir: active, log: nullLogger, scanIntervalMs: 60_000, watch: false });
    sources.push(source);
    source.attach(link.a);
    await until(() => parts.length === 3, 10_000);
    const paths = new Set(parts.flatMap((f) => (f.entries as { path: string }[]).map((e) => e.path)));
    expect(paths.size).toBe(4001);
    expect(parts.map((f) => [f.full, f.part, f.last, (f.entries as unknown[]).length])).toEqual([
      [true, 0, false, 2000],
      [true, 1, false, 2000],
      [true, 2, true, 1],
    ]);
  }, 15_000);

  test("while attached: a change, a new file, a deletion and a new subtree arrive within a second", async () => {
    const p = await pair({}, async (a) => {
      await put(a, "files/keep", "keep");
      await put(a, "files/change", "old");
      await put(a, "files/dir/gone", "bye");
      await put(a, "isos/old.iso", "iso");
    });
    p.attach();
    await sameTrees(p.active, p.standby);
    await Bun.sleep(20); // mtimes of the edits below differ from the originals
    const t0 = Date.now();
    await put(p.active, "files/change", "new and longer");
    await put(p.active, "files/new", "fresh", 0o600);
    await rm(join(p.active, "files/dir/gone"));
    await rm(join(p.active, "isos/old.iso"));
    await mkdir(join(p.active, "files/tree/a/b"), { recursive: true });
    await put(p.active, "files/tree/a/b/c", "deep");
    await put(p.active, "files/tree/top", "top");
    await sameTrees(p.active, p.standby, 1500);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(p.source.stats.fullScans).toBe(1); // the watcher did it, not a rescan
  }, 15_000);

  test("a job log appended three times: only the new bytes travel", async () => {
    const log = "job-logs/3f/3f2a.log";
    const p = await pair({}, async (a) => put(a, log, "start\n"));
    p.attach();
    await sameTrees(p.active, p.standby);
    let total = "start\n".length;
    for (const add of ["a".repeat(1000) + "\n", "b".repeat(5000) + "\n", "c".repeat(300_000) + "\n"]) {
      await Bun.sleep(5);
      await appendFile(join(p.active, log), add);
      total += add.length;
      await sameTrees(p.active, p.standby, 1500);
    }
    expect(p.seen.chunkBytes.get(log)).toBe(total);
  }, 15_000);

  test("a file rewritten while it is being sent ends correct", async () => {
    const first = randomBytes(4 << 20);
    const second = randomBytes((4 << 20) + 12345);
    // No watcher: only the changed flag can bring the right bytes (a rescan is a minute away).
    const p = await pair({ chunkBytes: 256 << 10, highWaterBytes: 1, watch: false }, async (a) => put(a, "isos/moving.iso", first));
    let rewritten = false;
    p.link.b.onMessage((h) => {
      if (rewritten || h.T !== "FileChunk" || h.path !== "isos/moving.iso") return;
      // Hold the link after the first chunk: the source waits for its send queue to drain, with
      // the file open, while the file is rewritten in place.
      rewritten = true;
      p.link.paused = true;
      writeFileSync(join(p.active, "isos/moving.iso"), second);
      setTimeout(() => p.link.resume(), 50);
    });
    p.attach();
    await until(async () => {
      const got = await readFile(join(p.standby, "isos/moving.iso")).catch(() => Buffer.alloc(0));
      return Buffer.compare(got, second) === 0;
    }, 5000, "the rewritten file on the standby");
    expect(rewritten).toBe(true);
    expect(p.seen.frames.some((f) => f.T === "FileDone" && f.path === "isos/moving.iso" && f.changed === true)).toBe(true);
    await p.target.idle();
    await sameTrees(p.active, p.standby); // and no temporary file left behind
  }, 15_000);

  test("the periodic scan catches what the watcher never reported (no watcher)", async () => {
    const p = await pair({ watch: false, scanIntervalMs: 200 }, async (a) => {
      await put(a, "files/a", "a");
      await put(a, "files/sub/b", "b");
    });
    p.attach();
    await sameTrees(p.active, p.standby);
    await Bun.sleep(10);
    await put(p.active, "files/a", "changed");
    await put(p.active, "files/c", "new");
    await rm(join(p.active, "files/sub"), { recursive: true });
    await sameTrees(p.active, p.standby, 1500);
    expect(p.source.stats.fullScans).toBeGreaterThan(1);
    // The directory emptied by the removal went too.
    expect(await lstat(join(p.standby, "files/sub")).catch(() => null)).toBeNull();
  }, 15_000);

  test("the periodic scan catches changes whose frames were lost while the link was cut", async () => {
    const p = await pair({ scanIntervalMs: 400 }, async (a) => {
      await put(a, "files/a", "a");
      await put(a, "pki/machine-certs.json", "[]", 0o600);
    });
    p.attach();
    await sameTrees(p.active, p.standby);
    p.link.cut = true;
    await put(p.active, "files/a", "changed while cut");
    await put(p.active, "files/new", "new while cut");
    await rm(join(p.active, "pki/machine-certs.json"));
    await Bun.sleep(250); // the watcher's manifest and FileGone go out, and are lost
    const scans = p.source.stats.fullScans;
    p.link.cut = false;
    await sameTrees(p.active, p.standby, 2000);
    expect(p.source.stats.fullScans).toBeGreaterThan(scans);
  }, 15_000);

  test("temporary names and symlinks are not sent", async () => {
    const outside = await tempDir();
    await writeFile(join(outside, "secret"), "outside");
    const p = await pair({}, async (a) => {
      await put(a, "files/real", "real");
      await put(a, "files/.socle-upload-ab12.part", "half an upload");
      await put(a, "files/env/.socle-explode-ff00.part/inner", "half a tree");
      await put(a, "pki/.socle-write-0a.part", "half a key");
      await symlink(join(outside, "secret"), join(a, "files/link"));
      await symlink(outside, join(a, "files/dirlink"));
    });
    p.attach();
    await sameTrees(p.active, p.standby);
    expect(Object.keys(await tree(p.standby, true)).sort()).toEqual(["files", "files/real"]);
    const listed = p.seen.frames.flatMap((f) => (f.T === "FileManifest" ? (f.entries as { path: string }[]).map((e) => e.path) : []));
    expect(listed).toEqual(["files/real"]);
    expect(p.source.stats.skippedSymlinks).toBe(2);
    expect(p.source.stats.skippedTemp).toBe(3);
    // A symlink made while attached is not sent either (it is treated as gone).
    await symlink(join(outside, "secret"), join(p.active, "files/later"));
    await Bun.sleep(300);
    expect(await lstat(join(p.standby, "files/later")).catch(() => null)).toBeNull();
  }, 15_000);

  test("attacker paths are refused, one log line each, and nothing outside the areas is written", async () => {
    const standby = await tempDir();
    const outside = await tempDir();
    await writeFile(join(outside, "keep"), "keep");
    await mkdir(join(standby, "files"), { recursive: true });
    await symlink(outside, join(standby, "files/evil"));
    const lines: string[] = [];
    const log = createLogger({ level: "warn", sink: (l) => lines.push(l) });
    const sent: HaMessage[] = [];
    const target = new FileSyncTarget({ dataDir: standby, log, send: (m) => sent.push(m) });
    const escape = `socle-escape-${randomBytes(6).toString("hex")}`;
    const entry = (path: string) => ({ path, size: 4, mtimeMs: Date.now(), mode: 0o644 });
    const frames: HaMessage[] = [
      { T: "FileManifest", full: false, part: 0, last: true, entries: [entry(`../${escape}`)] },
      { T: "FileManifest", full: false, part: 0, last: true, entries: [entry("/etc/passwd")] },
      { T: "FileManifest", full: false, part: 0, last: true, entries: [entry(`files/../../${escape}`)] },
      { T: "FileManifest", full: false, part: 0, last: true, entries: [entry("store/journal")] },
      { T: "FileManifest", full: false, part: 0, last: true, entries: [entry("files/evil/x")] },
      { T: "FileGone", paths: ["files/evil/keep"] },
      { T: "FileGone", paths: [`../${escape}`] },
      { T: "FileChunk", path: "files/never-asked", offset: 0, last: true },
      { T: "FileDone", path: "files/never-asked", size: 4, mtimeMs: 1, mode: 0o644, changed: false },
      { T: "FileChunk", path: "/etc/passwd", offset: 0, last: true },
    ];
    for (const f of frames) expect(target.handle(f, new TextEncoder().encode("evil"))).toBe(true);
    expect(target.handle({ T: "Hb" })).toBe(false);
    await target.idle();
    expect(sent).toEqual([]); // not even asked for
    expect(lines.length).toBe(frames.length);
    expect(lines.join("\n")).toContain("files/evil is a symlink");
    expect(lines.join("\n")).toContain("not asked for");
    expect(await tree(outside)).toMatchObject({ keep: { sha: createHash("sha256").update("keep").digest("hex") } });
    expect(Object.keys(await tree(outside))).toEqual(["keep"]);
    expect(Object.keys(await tree(standby, true)).sort()).toEqual(["files", "files/evil"]);
    expect(await lstat(join(standby, "..", escape)).catch(() => null)).toBeNull();

    // The active refuses to read through a symlink or outside the areas for a FileWant.
    const active = await tempDir();
    await mkdir(join(active, "files"), { recursive: true });
    await symlink(outside, join(active, "files/evil"));
    await put(active, "store/journal", "journal");
    const link = new TestLink();
    const got: HaMessage[] = [];
    link.b.onMessage((h) => got.push(h));
    const source = new FileSyncSource({ dataDir: active, log: nullLogger, scanIntervalMs: 60_000, watch: false });
    sources.push(source);
    source.attach(link.a);
    for (const path of ["files/evil/keep", "../x", "store/journal", "files/../store/journal"]) link.b.send({ T: "FileWant", path, from: 0 });
    await until(() => got.some((h) => h.T === "FileGone"));
    await Bun.sleep(50);
    expect(got.filter((h) => h.T === "FileChunk")).toEqual([]);
    expect(got.filter((h) => h.T === "FileGone")).toEqual([{ T: "FileGone", paths: ["files/evil/keep"] }]);
  }, 15_000);

  test("a connection that ends mid-transfer leaves no temporary file, and the next one completes", async () => {
    const data = randomBytes(3 << 20);
    const p = await pair({ chunkBytes: 256 << 10, highWaterBytes: 1 }, async (a) => put(a, "isos/x.iso", data));
    let cut = false;
    p.link.b.onMessage((h) => {
      if (!cut && h.T === "FileChunk") {
        cut = true;
        p.link.a.close("cable pulled");
      }
    });
    p.attach();
    await until(() => cut);
    await p.target.idle();
    expect(Object.keys(await tree(p.standby, true))).toEqual(["isos"]);
    // A new connection: a fresh source end and target wiring.
    const link2 = new TestLink();
    const t2 = new FileSyncTarget({ dataDir: p.standby, log: nullLogger, send: (m, b) => link2.b.send(m, b) });
    link2.b.onMessage((h, body) => t2.handle(h, body));
    p.source.attach(link2.a);
    await sameTrees(p.active, p.standby, 3000);
  }, 15_000);
});

describe("symlinks", () => {
  /** A log that keeps its lines, and a target fed by hand (the active's frames are whatever the test says). */
  async function bareTarget(standby: string) {
    const lines: string[] = [];
    const log = createLogger({ level: "warn", sink: (l) => lines.push(l) });
    const sent: HaMessage[] = [];
    const target = new FileSyncTarget({ dataDir: standby, log, send: (m) => sent.push(m) });
    targets.push(target);
    const feed = async (...frames: HaMessage[]) => {
      for (const f of frames) expect(target.handle(f)).toBe(true);
      await target.idle();
    };
    return { target, lines, sent, feed };
  }
  const linkEntry = (path: string, link: string) => ({ path, size: 0, mtimeMs: Date.now(), mode: 0o777, link });
  const manifest = (...entries: unknown[]): HaMessage => ({ T: "FileManifest", full: false, part: 0, last: true, entries });

  test("a tree with relative links (to files, to directories, through links) arrives identical; escaping links are not sent", async () => {
    const p = await pair({}, async (a) => {
      await put(a, "files/env/install/images/pxeboot/vmlinuz", "kernel bytes");
      await put(a, "isos/x.iso", "iso");
      await symlink("images/pxeboot/vmlinuz", join(a, "files/env/install/kernel"));
      await symlink("install", join(a, "files/env/current"));
      await symlink("../current/kernel", join(a, "files/env/install/again"));
      await symlink("../..", join(a, "files/env/install/root"));
      await symlink("./env/install/images/", join(a, "files/images"));
      await symlink("x.iso", join(a, "isos/latest.iso"));
      await symlink("/etc/passwd", join(a, "files/abs"));
      await symlink("../../../etc", join(a, "files/env/escape"));
      await symlink("files/images", join(a, "settings.json"));
    });
    p.attach();
    await sameTrees(p.active, p.standby);
    const want = await links(p.active);
    for (const refused of ["files/abs", "files/env/escape", "settings.json"]) delete want[refused];
    want["files/images"] = "env/install/images"; // written normalised
    await until(async () => Bun.deepEquals(await links(p.standby), want), 3000, "links equal");
    expect(Object.keys(want).length).toBe(6);
    expect(p.source.stats.skippedSymlinks).toBe(3);
    // The links work on the standby: through a directory link, then a file link.
    expect(await readFile(join(p.standby, "files/env/install/again"), "utf8")).toBe("kernel bytes");
    expect(await readFile(join(p.standby, "files/env/install/root/images/pxeboot/vmlinuz"), "utf8")).toBe("kernel bytes");
    const listed = p.seen.frames.flatMap((f) => (f.T === "FileManifest" ? (f.entries as { path: string; size: number; link?: string }[]) : []));
    expect(listed.find((e) => e.path === "files/env/current")).toMatchObject({ size: 0, link: "install" });
    expect(listed.map((e) => e.path)).not.toContain("files/abs");
    expect(p.target.stats.linksPlaced).toBe(6);
    expect(p.seen.frames.filter((f) => f.T === "FileWant" && String(f.path) in want)).toEqual([]);
  }, 15_000);

  for (const watching of [true, false]) {
    test(`links changed, removed, and swapped with files and directories on the active follow on the standby (${watching ? "watcher" : "full scans"})`, async () => {
      const p = await pair({ watch: watching }, async (a) => {
        await put(a, "files/env/install/vmlinuz", "k1");
        await put(a, "files/env/images/f", "f");
        await put(a, "files/plain", "plain");
        await put(a, "files/dir/inner", "inner");
        await symlink("install", join(a, "files/env/current"));
        await symlink("env/install/vmlinuz", join(a, "files/kernel"));
        await symlink("env", join(a, "files/doomed"));
      });
      p.attach();
      await until(async () => Object.keys(await links(p.standby)).length === 3, 3000, "first links");
      const a = p.active;
      // A changed target, made the way explode and operators do it atomically: a new link renamed over.
      await symlink("images", join(a, "files/env/.next"));
      await rename(join(a, "files/env/.next"), join(a, "files/env/current"));
      await rm(join(a, "files/doomed"));
      await rm(join(a, "files/plain"));
      await symlink("env/images/f", join(a, "files/plain")); // a file becomes a link
      await rm(join(a, "files/kernel"));
      await put(a, "files/kernel", "now a file"); // a link becomes a file
      await rm(join(a, "files/dir"), { recursive: true });
      await symlink("env", join(a, "files/dir")); // a directory becomes a link
      if (!watching) await p.source.rescan();
      const want = { "files/env/current": "images", "files/plain": "env/images/f", "files/dir": "env" };
      await until(async () => Bun.deepEquals(await links(p.standby), want), 3000, "links follow");
      await sameTrees(p.active, p.standby);
      expect(await readFile(join(p.standby, "files/kernel"), "utf8")).toBe("now a file");
      expect(await readFile(join(p.standby, "files/env/current/f"), "utf8")).toBe("f");
      // No temporary link was left beside the ones replaced.
      expect((await readdir(join(p.standby, "files"))).sort()).toEqual(["dir", "env", "kernel", "plain"]);
      expect((await readdir(join(p.standby, "files/env"))).sort()).toEqual(["current", "images", "install"]);
    }, 15_000);
  }

  test("a file asked for that has become a link is answered with FileGone, then the link's entry", async () => {
    const active = await tempDir();
    await put(active, "files/env/install/f", "f");
    await symlink("install/f", join(active, "files/env/was-a-file"));
    const link = new TestLink();
    const got: HaMessage[] = [];
    link.b.onMessage((h) => got.push(h));
    const source = new FileSyncSource({ dataDir: active, log: nullLogger, scanIntervalMs: 60_000, watch: false });
    sources.push(source);
    source.attach(link.a);
    await until(() => got.some((h) => h.T === "FileManifest"));
    got.length = 0;
    link.b.send({ T: "FileWant", path: "files/env/was-a-file", from: 0 });
    await until(() => got.length >= 2);
    expect(got.filter((h) => h.T === "FileChunk")).toEqual([]);
    expect(got[0]).toEqual({ T: "FileGone", paths: ["files/env/was-a-file"] });
    expect(got[1]).toMatchObject({ T: "FileManifest", full: false, entries: [{ path: "files/env/was-a-file", size: 0, link: "install/f" }] });
  });

  test("a link whose target escapes its area is refused on the standby even when the manifest claims it", async () => {
    const standby = await tempDir();
    const outside = await tempDir();
    await put(standby, "files/a/abs", "keep me");
    const t = await bareTarget(standby);
    await t.feed(
      manifest(
        linkEntry("files/a/abs", "/etc/passwd"),
        linkEntry("files/a/up", "../../etc"),
        linkEntry("files/a/hidden", "x/../../.."),
        linkEntry("isos/l", "../files/a"), // the area's top: even one ".." leaves it
        linkEntry("files/a/out", outside),
        linkEntry("settings.json", "files/a"),
        linkEntry("files/a/fine", "../b/c"),
      ),
    );
    expect(t.lines.length).toBe(6);
    const text = t.lines.join("\n");
    expect(text).toContain('symlink to \\"/etc/passwd\\" points outside the files area (absolute)');
    expect(text).toContain('symlink to \\"../../etc\\" climbs out of the files area');
    expect(text).toContain("climbs out of the isos area");
    expect(text).toContain("settings.json is a replicated file");
    expect(t.sent).toEqual([]);
    expect(await readFile(join(standby, "files/a/abs"), "utf8")).toBe("keep me");
    expect(await links(standby)).toEqual({ "files/a/fine": "../b/c" });
    expect(await readdir(outside)).toEqual([]);
    expect(t.target.stats.linksPlaced).toBe(1);
  });

  test("nothing is written through a symlinked parent, whether an operator's or one the standby placed", async () => {
    const standby = await tempDir();
    const outside = await tempDir();
    await mkdir(join(standby, "files/sub"), { recursive: true });
    await symlink(outside, join(standby, "files/evil"));
    await put(standby, "files/dir/inner", "was a directory");
    const t = await bareTarget(standby);
    await t.feed(manifest(linkEntry("files/d", "sub"), linkEntry("files/dir", "sub")));
    expect(await links(standby)).toEqual({ "files/evil": outside, "files/d": "sub", "files/dir": "sub" });
    expect(t.lines).toEqual([]);
    await t.feed(
      manifest(linkEntry("files/evil/l", "x")),
      manifest({ path: "files/evil/f", size: 4, mtimeMs: Date.now(), mode: 0o644 }),
      manifest(linkEntry("files/d/l", "x")),
      manifest({ path: "files/d/f", size: 4, mtimeMs: Date.now(), mode: 0o644 }),
      { T: "FileGone", paths: ["files/d/anything"] },
    );
    expect(t.lines.length).toBe(5);
    expect(t.lines.filter((l) => l.includes("files/evil is a symlink")).length).toBe(2);
    expect(t.lines.filter((l) => l.includes("files/d is a symlink")).length).toBe(3);
    expect(t.sent).toEqual([]);
    expect(await readdir(outside)).toEqual([]);
    expect(await readdir(join(standby, "files/sub"))).toEqual([]);
  });

  test("an area root that is a symlink to another disk is followed on both sides; one into the data dir is refused", async () => {
    const activeDisk = await tempDir();
    const standbyDisk = await tempDir();
    const p = await pair({}, async (a) => {
      await put(activeDisk, "env/install/vmlinuz", "kernel");
      await symlink("install/vmlinuz", join(activeDisk, "env/kernel"));
      await symlink(activeDisk, join(a, "files"));
      await put(a, "isos/x.iso", "iso");
    });
    await symlink(standbyDisk, join(p.standby, "files"));
    p.attach();
    await until(async () => Bun.deepEquals(noLinks(await tree(standbyDisk)), noLinks(await tree(activeDisk))), 3000, "area contents equal");
    await until(async () => Bun.deepEquals(await links(standbyDisk), { "env/kernel": "install/vmlinuz" }), 3000, "links equal");
    expect((await lstat(join(p.standby, "files"))).isSymbolicLink()).toBe(true);
    await sameTrees(p.active, p.standby); // isos
    // The watch follows the root too: a new file arrives without a scan.
    await put(activeDisk, "env/new", "new");
    await until(async () => (await readFile(join(standbyDisk, "env/new"), "utf8").catch(() => "")) === "new", 1500, "watched change");
    expect(p.source.stats.fullScans).toBe(1);
    // A removal on the active's disk is followed on the standby's (a full scan).
    await rm(join(activeDisk, "env/kernel"));
    await p.source.rescan();
    await until(async () => Bun.deepEquals(await links(standbyDisk), {}), 3000, "link removed");

    // files -> store on the standby would let the active's files overwrite the store: refused.
    const standby2 = await tempDir();
    await mkdir(join(standby2, "store"));
    await symlink("store", join(standby2, "files"));
    const t = await bareTarget(standby2);
    await t.feed(manifest({ path: "files/journal", size: 4, mtimeMs: Date.now(), mode: 0o644 }, linkEntry("files/l", "x")), { T: "FileGone", paths: ["files/x"] });
    expect(t.lines.length).toBe(3);
    expect(t.lines.every((l) => l.includes("files is a symlink into the data dir or above it"))).toBe(true);
    expect(await readdir(join(standby2, "store"))).toEqual([]);
    expect(t.sent).toEqual([]);

    // The active does not list an area that leads back into its own data dir.
    const active2 = await tempDir();
    await put(active2, "isos/x.iso", "iso");
    await symlink(".", join(active2, "files"));
    const link = new TestLink();
    const got: HaMessage[] = [];
    link.b.onMessage((h) => got.push(h));
    const source = new FileSyncSource({ dataDir: active2, log: nullLogger, scanIntervalMs: 60_000, watch: false });
    sources.push(source);
    source.attach(link.a);
    await until(() => got.some((h) => h.T === "FileManifest"));
    expect(got.flatMap((f) => (f.entries as { path: string }[]).map((e) => e.path))).toEqual(["isos/x.iso"]);
    expect(source.stats.skippedSymlinks).toBe(1);
  }, 15_000);
});
