// Replication of the data directory's files from the active node to the standby: operator files
// and exploded ISO trees (files/), ISO images (isos/), job logs (job-logs/), the PKI (pki/) and
// settings.json. Nothing else: store/ travels as changes (feeder.ts), and LOCK, ha/ and the
// initial admin password belong to one node.
//
//   FileManifest  active -> standby: {path, size, mtimeMs, mode} per regular file, and
//                 {path, size 0, link} per symlink inside an area. A full one (every entry of every
//                 area, in parts) on attach and every scan interval; a partial one for the paths
//                 the watcher saw change.
//   FileGone      active -> standby: paths (files or whole directories) that no longer exist.
//   FileWant      standby -> active: send `path` from byte `from`.
//   FileChunk     active -> standby: bytes at `offset`, in the frame body (at most 1 MiB).
//   FileDone      active -> standby: what was sent: size = from + bytes sent, with the mtime and
//                 mode read when the send began; `changed` when the file moved under the reader.
//
// The watcher (inotify through fs.watch) is the fast path, never the only one: the kernel drops
// events on queue overflow and refuses watches past fs.inotify.max_user_watches, so a full scan
// every scanIntervalMs is what guarantees convergence.
//
// The standby trusts the active to be its partner, not to be bug-free: every path is checked
// before it touches the disk (canonical, inside an area, no temporary name, no symlink on the way)
// and a frame that fails costs one log line, never the process. The active checks the paths a
// standby asks for the same way: a FileWant is not a way to read /etc/shadow.
//
// Symlinks travel because exploded install trees hold them (Rock Ridge links an installer
// follows). The standby makes one only when its target passes the rule every install tree's links
// pass (files/link-target.ts: relative, never above its area), and it never writes through one:
// links are placed, never followed.
//
// mtimes travel as whole milliseconds: utimes() takes seconds as a double, so sub-millisecond
// digits do not survive the round trip, and comparing them would re-send a file forever.

import { watch, constants as fsc, type FSWatcher, type Stats } from "node:fs";
import { lstat, mkdir, open, readdir, readlink, realpath, rename, rm, rmdir, stat, symlink, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Logger } from "../log/logger.ts";
import { replaceFile, syncDir, writeAll } from "../files/atomic-write.ts";
import { isInside } from "../files/jail.ts";
import { MAX_LINK_TARGET, checkLinkTarget, type LinkTargetResult } from "../files/link-target.ts";
import { hasTempSegment, isTempName, normaliseRequestPath, tempName } from "../files/paths.ts";
import type { HaMessage } from "./protocol.ts";
import { bool, count, kind } from "./frame-fields.ts";
import type { HaConnection } from "./transport.ts";

/** Directories of the data dir replicated whole. */
export const SYNC_AREAS = ["files", "isos", "job-logs", "pki"] as const;
/** Single files at the top of the data dir that are replicated. */
export const SYNC_FILES = ["settings.json"] as const;
/** Append-only area: a standby that holds a prefix asks only for the bytes after it. */
const APPEND_AREA = "job-logs";

/** Entries per FileManifest frame and paths per FileGone frame. */
export const MANIFEST_CHUNK = 2000;
/** Bytes per FileChunk body. */
export const CHUNK_BYTES = 1 << 20;
/** A frame carrying more entries than this is refused (a bound on what one frame may make us hold). */
const MAX_ENTRIES_PER_FRAME = 10_000;
const MAX_PATH_CHARS = 4096;
const DEBOUNCE_MS = 100;

export interface FileEntry {
  /** Relative to the data dir, "/"-separated, canonical (see syncPathProblem). */
  path: string;
  size: number;
  /** Whole milliseconds. */
  mtimeMs: number;
  /** Permission bits (mode & 0o777: setuid, setgid and sticky are not replicated). */
  mode: number;
  /** A symlink: its target as the active read it (size is then 0; mtime and mode are not applied). */
  link?: string;
}

export interface FileManifestMessage {
  T: "FileManifest";
  full: boolean;
  /** Part number from 0 within one manifest; the standby refuses parts out of order. */
  part: number;
  last: boolean;
  entries: FileEntry[];
}

export interface FileGoneMessage {
  T: "FileGone";
  paths: string[];
}

export interface FileWantMessage {
  T: "FileWant";
  path: string;
  from: number;
}

export interface FileChunkMessage {
  T: "FileChunk";
  path: string;
  offset: number;
  last: boolean;
}

export interface FileDoneMessage {
  T: "FileDone";
  path: string;
  /** from + the bytes sent. */
  size: number;
  mtimeMs: number;
  mode: number;
  /** The file's size or mtime changed while it was read (or it ended early): ask again. */
  changed: boolean;
}

export type FileMessage = FileManifestMessage | FileGoneMessage | FileWantMessage | FileChunkMessage | FileDoneMessage;

const FILE_TYPES = new Set(["FileManifest", "FileGone", "FileWant", "FileChunk", "FileDone"]);

/** Is `h` one of this file's messages (whether or not it is well-formed)? */
export function isFileMessage(h: HaMessage): boolean {
  return FILE_TYPES.has(h.T);
}

/**
 * Why `path` may not be replicated, or undefined when it may. It must be exactly the form the
 * shared normaliser gives (so no "..", no leading "/", no "//", no backslash, no control
 * character), lie below one of SYNC_AREAS or be one of SYNC_FILES, and have no temporary segment.
 */
export function syncPathProblem(path: string): string | undefined {
  if (path.length > MAX_PATH_CHARS) return `longer than ${MAX_PATH_CHARS} characters`;
  if (path.startsWith("/")) return "absolute paths are refused";
  const n = normaliseRequestPath(path);
  if (!n.ok) return n.reason;
  if (n.path !== path) return `not in normal form (would be ${JSON.stringify(n.path.slice(0, 80))})`;
  const segs = path.split("/");
  if (segs.length === 1) {
    if (!(SYNC_FILES as readonly string[]).includes(path)) return "not a replicated file or area";
  } else if (!(SYNC_AREAS as readonly string[]).includes(segs[0]!)) {
    return `outside the replicated areas (${[...SYNC_AREAS, ...SYNC_FILES].join(", ")})`;
  }
  if (hasTempSegment(path)) return "a temporary name";
  return undefined;
}

/** The typed message, or an Error naming the field that is wrong. */
export function readFileMessage(h: HaMessage): FileMessage | Error {
  try {
    switch (h.T) {
      case "FileManifest": {
        const raw = h.entries;
        if (!Array.isArray(raw)) throw new Error(`FileManifest.entries: want an array, got ${kind(raw)}`);
        if (raw.length > MAX_ENTRIES_PER_FRAME) throw new Error(`FileManifest.entries: ${raw.length} entries, more than ${MAX_ENTRIES_PER_FRAME}`);
        const entries = raw.map((e, i): FileEntry => {
          const at = `FileManifest.entries[${i}]`;
          if (typeof e !== "object" || e === null || Array.isArray(e)) throw new Error(`${at}: want an object, got ${kind(e)}`);
          const o = e as Record<string, unknown>;
          const entry: FileEntry = { path: syncPath(o, "path", at), size: count(o, "size", at), mtimeMs: count(o, "mtimeMs", at), mode: mode(o, "mode", at) };
          if (o.link !== undefined) {
            // Only the shape here: whether the target is safe is decided per entry when it is
            // placed, so that one bad link costs its own line, not the frame's other entries.
            if (typeof o.link !== "string" || o.link === "" || o.link.length > MAX_LINK_TARGET) throw new Error(`${at}.link: want a symlink target of 1 to ${MAX_LINK_TARGET} characters, got ${typeof o.link === "string" ? `${o.link.length} characters` : kind(o.link)}`);
            if (entry.size !== 0) throw new Error(`${at}.size: a symlink's entry has size 0, got ${entry.size}`);
            entry.link = o.link;
          }
          return entry;
        });
        return { T: "FileManifest", full: bool(h, "full"), part: count(h, "part"), last: bool(h, "last"), entries };
      }
      case "FileGone": {
        const raw = h.paths;
        if (!Array.isArray(raw)) throw new Error(`FileGone.paths: want an array, got ${kind(raw)}`);
        if (raw.length > MAX_ENTRIES_PER_FRAME) throw new Error(`FileGone.paths: ${raw.length} paths, more than ${MAX_ENTRIES_PER_FRAME}`);
        const paths = raw.map((p, i) => syncPath({ p }, "p", `FileGone.paths[${i}]`));
        return { T: "FileGone", paths };
      }
      case "FileWant":
        return { T: "FileWant", path: syncPath(h, "path"), from: count(h, "from") };
      case "FileChunk":
        return { T: "FileChunk", path: syncPath(h, "path"), offset: count(h, "offset"), last: bool(h, "last") };
      case "FileDone":
        return { T: "FileDone", path: syncPath(h, "path"), size: count(h, "size"), mtimeMs: count(h, "mtimeMs"), mode: mode(h, "mode"), changed: bool(h, "changed") };
      default:
        return new Error(`not a file message: type ${JSON.stringify(String(h.T)).slice(0, 40)}`);
    }
  } catch (err) {
    return err as Error;
  }
}

function syncPath(o: Record<string, unknown>, field: string, at = String(o.T)): string {
  const v = o[field];
  const name = field === "p" ? at : `${at}.${field}`;
  if (typeof v !== "string") throw new Error(`${name}: want a string, got ${kind(v)}`);
  const problem = syncPathProblem(v);
  if (problem) throw new Error(`${name}: ${JSON.stringify(v.slice(0, 120))} refused: ${problem}`);
  return v;
}

function mode(o: Record<string, unknown>, field: string, at = String(o.T)): number {
  const v = count(o, field, at);
  // setuid, setgid and sticky never travel: a replicated file must not become a way to run
  // something as its owner (root, on the standby) that the active did not mean to be run so.
  if (v > 0o777) throw new Error(`${at}.${field}: want permission bits 0 to 0o777 (no setuid, setgid or sticky), got 0o${v.toString(8)}`);
  return v;
}

function entryOf(path: string, st: Stats): FileEntry {
  return { path, size: st.size, mtimeMs: Math.round(st.mtimeMs), mode: st.mode & 0o777 };
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * May the symlink at `path` (data-dir relative) point at `raw`? Judged within its area, by the
 * rule every install tree's links pass; a replicated single file (settings.json) is never a link.
 */
function linkTarget(path: string, raw: string): LinkTargetResult {
  const cut = path.indexOf("/");
  if (cut < 0) return { ok: false, reason: `${path} is a replicated file, not an area: no symlink there` };
  return checkLinkTarget(path.slice(cut + 1), raw, `the ${path.slice(0, cut)} area`);
}

/**
 * Why the area root `area` may not be used, or undefined when it is a directory, is missing, or
 * is a symlink to a directory outside the data dir.
 *
 * Following the root (and only the root) is safe: it is a name at the top of the data dir, which
 * only the operator makes. No frame can name it (syncPathProblem refuses a bare area, so no
 * manifest, link, FileGone or removal reaches it) and no upload or explode writes at that level,
 * so what it points at is the operator's choice, like the data dir itself (files/ on a larger
 * disk). The kernel resolves it as the first step of every path; below it every component is
 * still checked with lstat, so a link inside an area, which the network can cause, is never
 * followed. One that leads back into the data dir, or above it, is refused: files -> store would
 * let the active's files overwrite the store, files -> . would serve it.
 */
async function areaRootProblem(dataDir: string, area: string): Promise<string | undefined> {
  const abs = join(dataDir, area);
  let st: Stats;
  try {
    st = await lstat(abs);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  if (st.isDirectory()) return undefined;
  if (!st.isSymbolicLink()) return `${area} is not a directory`;
  let real: string;
  let realData: string;
  try {
    [real, realData] = await Promise.all([realpath(abs), realpath(dataDir)]);
    st = await stat(real);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException)?.code;
    if (isMissing(err) || code === "ELOOP") return `${area} is a symlink that leads nowhere`;
    throw err;
  }
  if (isInside(realData, real) || isInside(real, realData)) return `${area} is a symlink into the data dir or above it (only a directory elsewhere is followed)`;
  if (!st.isDirectory()) return `${area} is a symlink to something that is not a directory`;
  return undefined;
}

/**
 * Is any directory on the way from the data dir to `rel` a symlink (or not a directory)? The data
 * dir itself is the operator's choice and may be a link, and so may an area root (areaRootProblem);
 * below it, nothing is followed.
 * Returns the problem, or undefined; a missing component ends the walk (nothing to follow there).
 */
async function parentProblem(dataDir: string, rel: string): Promise<string | undefined> {
  const segs = rel.split("/");
  let at = dataDir;
  for (let i = 0; i < segs.length - 1; i++) {
    at = join(at, segs[i]!);
    if (i === 0) {
      const problem = await areaRootProblem(dataDir, segs[0]!);
      if (problem) return problem;
      continue;
    }
    let st: Stats;
    try {
      st = await lstat(at);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    if (st.isSymbolicLink()) return `${segs.slice(0, i + 1).join("/")} is a symlink`;
    if (!st.isDirectory()) return `${segs.slice(0, i + 1).join("/")} is not a directory`;
  }
  return undefined;
}

/** One warning line per refusal, at most `burst` per window; the lines held back are counted in the next. */
class RefusalLog {
  #windowStart = 0;
  #inWindow = 0;
  #held = 0;
  constructor(
    private readonly log: Logger,
    private readonly burst = 20,
    private readonly windowMs = 10_000,
  ) {}

  refused(msg: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.#windowStart > this.windowMs) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (this.#inWindow >= this.burst) {
      this.#held++;
      return;
    }
    this.#inWindow++;
    const held = this.#held;
    this.#held = 0;
    this.log.warn(msg, held > 0 ? { ...fields, alsoRefusedUnlogged: held } : fields);
  }
}

// ----------------------------------------------------------------------------------------------
// Active side

export interface FileSyncSourceOptions {
  dataDir: string;
  log: Logger;
  /** A full scan (and full manifest) this often, to catch what the watcher missed. */
  scanIntervalMs: number;
  /** Sending pauses while the connection holds more than this many bytes (default 8 MiB). */
  highWaterBytes?: number;
  /** Bytes per FileChunk (default CHUNK_BYTES). */
  chunkBytes?: number;
  /** Set false to rely on scans alone (no inotify). */
  watch?: boolean;
}

export interface FileSyncSourceStats {
  /**
   * Symlinks not replicated: a target that is absolute or leaves its area, a replicated single
   * file that is a link, an area root that is a link refused by areaRootProblem.
   */
  skippedSymlinks: number;
  /** Temporary names met (files being written; they arrive under their final name). */
  skippedTemp: number;
  /** Names that are not canonical, and sockets, FIFOs, devices. */
  skippedOther: number;
  fullScans: number;
  filesServed: number;
  bytesServed: number;
  /** Areas whose watch could not be set up (inotify limits): covered by scans only. */
  unwatched: number;
}

/** At most this many FileWants are served at once; more wait, and beyond WANT_QUEUE_MAX are dropped. */
const SERVE_CONCURRENCY = 4;
const WANT_QUEUE_MAX = 10_000;

export class FileSyncSource {
  readonly #dataDir: string;
  readonly #log: Logger;
  readonly #scanIntervalMs: number;
  readonly #highWater: number;
  readonly #chunkBytes: number;
  readonly #watchOn: boolean;
  readonly #refusals: RefusalLog;
  #conn: HaConnection | null = null;
  /** Bumped at every attach/detach: work of an earlier connection stops. */
  #epoch = 0;
  #watchers = new Map<string, FSWatcher>();
  #dirty = new Set<string>();
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #scanTimer: ReturnType<typeof setTimeout> | undefined;
  #scanning: { epoch: number; done: Promise<void> } | null = null;
  #wants: FileWantMessage[] = [];
  #serving = 0;
  #stats: FileSyncSourceStats = { skippedSymlinks: 0, skippedTemp: 0, skippedOther: 0, fullScans: 0, filesServed: 0, bytesServed: 0, unwatched: 0 };

  constructor(opts: FileSyncSourceOptions) {
    if (!Number.isFinite(opts.scanIntervalMs) || opts.scanIntervalMs < 10) throw new RangeError(`FileSyncSource: scanIntervalMs ${opts.scanIntervalMs} is not a number of at least 10`);
    this.#dataDir = opts.dataDir;
    this.#log = opts.log;
    this.#scanIntervalMs = opts.scanIntervalMs;
    this.#highWater = opts.highWaterBytes ?? 8 << 20;
    this.#chunkBytes = Math.min(opts.chunkBytes ?? CHUNK_BYTES, CHUNK_BYTES);
    this.#watchOn = opts.watch ?? true;
    this.#refusals = new RefusalLog(opts.log);
  }

  get stats(): FileSyncSourceStats {
    return { ...this.#stats };
  }

  get attached(): boolean {
    return this.#conn !== null;
  }

  /** Serve `conn`: a full manifest now, then changes as they happen. Replaces an earlier connection. */
  attach(conn: HaConnection): void {
    this.detach("replaced by a new connection");
    const epoch = ++this.#epoch;
    this.#conn = conn;
    conn.onMessage((h) => {
      if (epoch !== this.#epoch || !isFileMessage(h)) return;
      const m = readFileMessage(h);
      if (m instanceof Error) return this.#refusals.refused("HA file frame refused", { error: m.message });
      if (m.T !== "FileWant") return this.#refusals.refused("HA file frame refused", { error: `${m.T} is not sent to the active` });
      if (this.#wants.length >= WANT_QUEUE_MAX) return this.#refusals.refused("HA file want dropped: too many queued", { path: m.path });
      this.#wants.push(m);
      this.#serveNext(epoch);
    });
    conn.onClose((reason) => {
      if (epoch === this.#epoch) this.detach(reason);
    });
    if (this.#watchOn) this.#watchAll(epoch);
    void this.rescan();
  }

  /** Stop serving the current connection and stop watching. */
  detach(reason: string): void {
    if (!this.#conn) return;
    this.#epoch++;
    this.#conn = null;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    clearTimeout(this.#debounce);
    this.#debounce = undefined;
    clearTimeout(this.#scanTimer);
    this.#scanTimer = undefined;
    this.#dirty.clear();
    this.#wants = [];
    this.#log.info("HA file sync detached", { reason });
  }

  /** Scan every area now and send a full manifest (also runs every scanIntervalMs). */
  rescan(): Promise<void> {
    const epoch = this.#epoch;
    const running = this.#scanning;
    if (running?.epoch === epoch) return running.done;
    const done = (running?.done ?? Promise.resolve())
      .then(() => this.#fullScan(epoch))
      .catch((err) => {
        if (epoch === this.#epoch) this.#log.error("HA file scan failed", { error: err });
      })
      .finally(() => {
        if (this.#scanning?.done === done) this.#scanning = null;
        if (epoch !== this.#epoch || !this.#conn) return;
        clearTimeout(this.#scanTimer);
        this.#scanTimer = setTimeout(() => void this.rescan(), this.#scanIntervalMs);
      });
    this.#scanning = { epoch, done };
    return done;
  }

  async #fullScan(epoch: number): Promise<void> {
    // An area created since attach, or a watch that failed or ended, is watched from now on.
    if (this.#watchOn && epoch === this.#epoch && this.#conn) this.#watchAll(epoch);
    const entries: FileEntry[] = [];
    for (const name of SYNC_FILES) await this.#collect(name, entries, []);
    for (const area of SYNC_AREAS) await this.#collect(area, entries, []);
    const conn = this.#conn;
    if (epoch !== this.#epoch || !conn) return;
    this.#stats.fullScans++;
    this.#sendManifest(conn, true, entries);
  }

  #sendManifest(conn: HaConnection, full: boolean, entries: FileEntry[]): void {
    let part = 0;
    for (let i = 0; i === 0 || i < entries.length; i += MANIFEST_CHUNK) {
      conn.send({ T: "FileManifest", full, part: part++, last: i + MANIFEST_CHUNK >= entries.length, entries: entries.slice(i, i + MANIFEST_CHUNK) });
    }
  }

  /**
   * Every regular file, and every symlink with a safe target, at or below `rel` into `entries`;
   * what is not there, or is an unsafe symlink or other non-file, into `gone` (the standby must not
   * keep it either). Never follows a symlink, but for an area root that areaRootProblem accepts.
   */
  async #collect(rel: string, entries: FileEntry[], gone: string[]): Promise<void> {
    let st: Stats;
    try {
      st = await lstat(join(this.#dataDir, rel));
    } catch (err) {
      if (isMissing(err)) return void gone.push(rel);
      throw err;
    }
    if (st.isSymbolicLink() && (SYNC_AREAS as readonly string[]).includes(rel)) {
      const problem = await areaRootProblem(this.#dataDir, rel);
      if (problem) {
        this.#stats.skippedSymlinks++;
        this.#refusals.refused("HA file area not replicated", { area: rel, error: problem });
        return void gone.push(rel);
      }
    } else if (st.isSymbolicLink()) {
      let raw: string;
      try {
        raw = await readlink(join(this.#dataDir, rel));
      } catch (err) {
        if (isMissing(err) || (err as NodeJS.ErrnoException)?.code === "EINVAL") return void gone.push(rel); // replaced meanwhile
        throw err;
      }
      if (!linkTarget(rel, raw).ok) {
        this.#stats.skippedSymlinks++;
        return void gone.push(rel);
      }
      return void entries.push({ ...entryOf(rel, st), size: 0, link: raw });
    }
    if (st.isFile()) return void entries.push(entryOf(rel, st));
    if (!st.isDirectory() && !st.isSymbolicLink()) {
      this.#stats.skippedOther++;
      return void gone.push(rel);
    }
    let names: string[];
    try {
      names = await readdir(join(this.#dataDir, rel));
    } catch (err) {
      if (isMissing(err)) return void gone.push(rel);
      throw err;
    }
    for (const name of names) {
      if (isTempName(name)) {
        this.#stats.skippedTemp++;
        continue;
      }
      const child = `${rel}/${name}`;
      if (syncPathProblem(child)) {
        // A name with a backslash or a control character cannot travel in canonical form.
        this.#stats.skippedOther++;
        continue;
      }
      await this.#collect(child, entries, gone);
    }
  }

  #watchAll(epoch: number): void {
    if (!this.#watchers.has("")) {
      // The data dir itself, not recursively: settings.json, and areas created after attach.
      this.#watch("", epoch, false, (name) => {
        if ((SYNC_FILES as readonly string[]).includes(name)) this.#markDirty(name, epoch);
        else if ((SYNC_AREAS as readonly string[]).includes(name)) {
          // The area itself was created, removed or replaced: a watch on the old one sees nothing.
          this.#watchers.get(name)?.close();
          this.#watchers.delete(name);
          this.#watchArea(name, epoch);
          this.#markDirty(name, epoch);
        }
      });
    }
    for (const area of SYNC_AREAS) this.#watchArea(area, epoch);
  }

  #watchArea(area: string, epoch: number): void {
    if (this.#watchers.has(area)) return;
    this.#watch(area, epoch, true, (name) => this.#markDirty(name === "" ? area : `${area}/${name}`, epoch));
  }

  #watch(rel: string, epoch: number, recursive: boolean, onName: (name: string) => void): void {
    let w: FSWatcher;
    try {
      w = watch(join(this.#dataDir, rel), { recursive }, (_event, name) => {
        if (epoch !== this.#epoch) return;
        // No name (the kernel did not say): everything under the watch is suspect.
        onName(typeof name === "string" ? name : "");
      });
    } catch (err) {
      if (isMissing(err)) return; // not there yet: the data dir's watch or the next scan sets it up
      this.#stats.unwatched++;
      this.#log.warn("HA file watch failed; relying on the periodic scan", { area: rel || ".", error: err });
      return;
    }
    w.on("error", (err) => {
      // The directory went away, or the kernel gave up on it: drop the watch, the scan re-creates it.
      w.close();
      if (this.#watchers.get(rel) === w) this.#watchers.delete(rel);
      if (epoch === this.#epoch && !isMissing(err)) this.#log.warn("HA file watch ended", { area: rel || ".", error: err });
    });
    this.#watchers.set(rel, w);
  }

  #markDirty(rel: string, epoch: number): void {
    if (rel === "" || hasTempSegment(rel)) return;
    this.#dirty.add(rel);
    if (this.#debounce) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      this.#flushing = this.#flushing.then(() => this.#flushDirty(epoch));
    }, DEBOUNCE_MS);
  }

  async #flushDirty(epoch: number): Promise<void> {
    if (epoch !== this.#epoch) return;
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    const found = new Map<string, FileEntry>();
    const gone = new Set<string>();
    try {
      for (const rel of dirty) {
        if (syncPathProblem(rel) && !(SYNC_AREAS as readonly string[]).includes(rel)) continue;
        const entries: FileEntry[] = [];
        const missing: string[] = [];
        await this.#collect(rel, entries, missing);
        for (const e of entries) found.set(e.path, e);
        for (const g of missing) gone.add(g);
      }
    } catch (err) {
      this.#log.warn("HA file change could not be read; the next scan will catch it", { error: err });
      return;
    }
    const conn = this.#conn;
    if (epoch !== this.#epoch || !conn) return;
    // An area root that vanished is not a FileGone: the standby would drop a whole area on one
    // event; the next full manifest removes its files instead.
    const paths = [...gone].filter((p) => !syncPathProblem(p) && !found.has(p));
    if (found.size > 0) this.#sendManifest(conn, false, [...found.values()]);
    for (let i = 0; i < paths.length; i += MANIFEST_CHUNK) conn.send({ T: "FileGone", paths: paths.slice(i, i + MANIFEST_CHUNK) });
  }

  #serveNext(epoch: number): void {
    while (this.#serving < SERVE_CONCURRENCY && this.#wants.length > 0) {
      const want = this.#wants.shift()!;
      this.#serving++;
      void this.#serve(want, epoch)
        .catch((err) => {
          if (epoch === this.#epoch) this.#log.warn("HA file send failed", { path: want.path, error: err });
        })
        .finally(() => {
          this.#serving--;
          if (epoch === this.#epoch) this.#serveNext(epoch);
        });
    }
  }

  async #serve(want: FileWantMessage, epoch: number): Promise<void> {
    const conn = this.#conn;
    if (!conn || epoch !== this.#epoch) return;
    const { path, from } = want;
    let fh: FileHandle;
    try {
      const problem = await parentProblem(this.#dataDir, path);
      if (problem) {
        // Answered, so the standby does not wait for it: there is no file here it may have.
        this.#refusals.refused("HA file want refused", { path, error: problem });
        return void conn.send({ T: "FileGone", paths: [path] });
      }
      // O_NOFOLLOW: the file itself may not be a symlink either, whatever it was when listed.
      fh = await open(join(this.#dataDir, path), fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException)?.code;
      if (isMissing(err)) return void conn.send({ T: "FileGone", paths: [path] });
      if (code === "ELOOP") {
        // A symlink now (or a parent is one): the standby drops what it is receiving, then gets
        // the link, if it is one that travels, without waiting for the next scan.
        conn.send({ T: "FileGone", paths: [path] });
        const entries: FileEntry[] = [];
        await this.#collect(path, entries, []);
        if (entries.length > 0 && epoch === this.#epoch && this.#conn === conn) this.#sendManifest(conn, false, entries);
        return;
      }
      // Unreadable for now (EACCES, EIO): the standby asks again after a pause rather than wait.
      conn.send({ T: "FileDone", path, size: from, mtimeMs: 0, mode: 0o600, changed: true });
      throw err;
    }
    let meta: FileEntry | undefined;
    let offset = from;
    try {
      const st = await fh.stat();
      if (!st.isFile()) return void conn.send({ T: "FileGone", paths: [path] });
      meta = entryOf(path, st);
      let changed = from > st.size;
      while (offset < st.size) {
        while (conn.bufferedBytes > this.#highWater) {
          if (epoch !== this.#epoch) return;
          await Bun.sleep(5);
        }
        if (epoch !== this.#epoch) return;
        // A fresh buffer per chunk: a connection may hold on to the body it was given.
        const buf = Buffer.allocUnsafe(Math.min(this.#chunkBytes, st.size - offset));
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) {
          changed = true; // truncated while being read
          break;
        }
        const end = offset + bytesRead;
        conn.send({ T: "FileChunk", path, offset, last: end >= st.size }, bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
        this.#stats.bytesServed += bytesRead;
        offset = end;
      }
      const after = await fh.stat();
      if (after.size !== st.size || Math.round(after.mtimeMs) !== meta.mtimeMs) changed = true;
      if (epoch !== this.#epoch) return;
      this.#stats.filesServed++;
      conn.send({ T: "FileDone", path, size: offset, mtimeMs: meta.mtimeMs, mode: meta.mode, changed });
    } catch (err) {
      // A read error: end the transfer as changed, so the standby asks again later rather than wait.
      if (epoch === this.#epoch) conn.send({ T: "FileDone", path, size: offset, mtimeMs: meta?.mtimeMs ?? 0, mode: meta?.mode ?? 0o600, changed: true });
      throw err;
    } finally {
      await fh.close();
    }
  }
}

// ----------------------------------------------------------------------------------------------
// Standby side

export interface FileSyncTargetOptions {
  dataDir: string;
  log: Logger;
  send: (msg: HaMessage, body?: Uint8Array) => void;
  /** Files asked for at once (default 4): enough to hide a round trip per small file. */
  maxInFlight?: number;
}

interface Transfer {
  entry: FileEntry;
  from: number;
  /** The offset the next chunk must have. */
  next: number;
  /** In place, at the end of the existing file (job logs), or into a temporary file renamed over the target. */
  append: boolean;
  fh: FileHandle;
  /** Temporary-file transfers: resolves once renamed into place. */
  installed?: Promise<void>;
  finish?: { resolve: (meta: { mtimeMs: number; mode: number }) => void; reject: (err: Error) => void };
  /** A manifest entry that arrived while this was in flight: compared again afterwards. */
  again?: FileEntry;
  /** FileDone arrived: being made durable and put in place; settles when that is over. */
  settled?: Promise<unknown>;
}

/** Retries of a file that changed while it was sent: first after this long, doubling to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5000;

export class FileSyncTarget {
  readonly #dataDir: string;
  readonly #log: Logger;
  readonly #send: (msg: HaMessage, body?: Uint8Array) => void;
  readonly #maxInFlight: number;
  readonly #refusals: RefusalLog;
  #chain: Promise<void> = Promise.resolve();
  #steps = 0;
  /** Wanted, not yet asked for, in arrival order. */
  #queue = new Map<string, { entry: FileEntry; from: number }>();
  #inflight = new Map<string, Transfer>();
  #retries = new Map<string, { timer: ReturnType<typeof setTimeout>; entry: FileEntry }>();
  #tries = new Map<string, number>();
  /** While a full manifest arrives: the paths the active has (partial manifests add, FileGone removes). */
  #full: { seen: Set<string>; nextPart: number; broken: boolean } | null = null;
  #idleWaiters: Array<() => void> = [];
  #bytesReceived = 0;
  #filesReceived = 0;
  #linksPlaced = 0;
  #removed = 0;

  constructor(opts: FileSyncTargetOptions) {
    this.#dataDir = opts.dataDir;
    this.#log = opts.log;
    this.#send = opts.send;
    this.#maxInFlight = opts.maxInFlight ?? 4;
    this.#refusals = new RefusalLog(opts.log);
  }

  /** Files wanted or being received. */
  get pendingFiles(): number {
    return this.#queue.size + this.#inflight.size + this.#retries.size;
  }

  /** Bytes still to arrive for the files wanted or being received. */
  get pendingBytes(): number {
    let n = 0;
    for (const q of this.#queue.values()) n += Math.max(0, q.entry.size - q.from);
    for (const t of this.#inflight.values()) n += Math.max(0, t.entry.size - t.next);
    return n;
  }

  get stats(): { bytesReceived: number; filesReceived: number; linksPlaced: number; removed: number } {
    return { bytesReceived: this.#bytesReceived, filesReceived: this.#filesReceived, linksPlaced: this.#linksPlaced, removed: this.#removed };
  }

  /** Resolves once every frame handed over has been handled and nothing is wanted or in flight. */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve);
      this.#checkIdle();
    });
  }

  /**
   * Handle a frame from the active. Returns false when it is not a file message (for the caller's
   * other handlers); a file message that is malformed or unsafe is refused with one log line.
   */
  handle(h: HaMessage, body?: Uint8Array): boolean {
    if (!isFileMessage(h)) return false;
    const m = readFileMessage(h);
    if (m instanceof Error) {
      this.#refusals.refused("HA file frame refused", { error: m.message });
      // A full manifest with a part missing must not remove anything.
      if (h.T === "FileManifest") this.#enqueue(async () => void (this.#full && (this.#full.broken = true)));
      return true;
    }
    this.#enqueue(() => this.#handle(m, body));
    return true;
  }

  /** The connection ended: drop what was in flight (temporary files are removed) and forget the queue. */
  reset(reason: string): void {
    this.#enqueue(async () => {
      for (const t of this.#inflight.values()) await this.#abort(t, reason);
      this.#inflight.clear();
      this.#queue.clear();
      for (const r of this.#retries.values()) clearTimeout(r.timer);
      this.#retries.clear();
      this.#tries.clear();
      this.#full = null;
    });
  }

  #enqueue(step: () => Promise<void>): void {
    this.#steps++;
    this.#chain = this.#chain
      .then(step)
      .catch((err) => this.#log.error("HA file sync step failed", { error: err }))
      .finally(() => {
        this.#steps--;
        this.#checkIdle();
      });
  }

  #checkIdle(): void {
    if (this.#steps > 0 || this.pendingFiles > 0 || this.#idleWaiters.length === 0) return;
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  async #handle(m: FileMessage, body: Uint8Array | undefined): Promise<void> {
    switch (m.T) {
      case "FileManifest":
        return this.#manifest(m);
      case "FileGone":
        return this.#gone(m.paths);
      case "FileChunk":
        return this.#chunk(m, body);
      case "FileDone":
        return this.#done(m);
      case "FileWant":
        return this.#refusals.refused("HA file frame refused", { error: "FileWant is not sent to the standby" });
    }
  }

  async #manifest(m: FileManifestMessage): Promise<void> {
    if (m.full) {
      if (m.part === 0) this.#full = { seen: new Set(), nextPart: 0, broken: false };
      const f = this.#full;
      if (!f || m.part !== f.nextPart) {
        this.#refusals.refused("HA full file manifest part out of order; no removals this round", { part: m.part, expected: f?.nextPart ?? 0 });
        if (f) f.broken = true;
      } else f.nextPart++;
    }
    for (const e of m.entries) {
      this.#full?.seen.add(e.path);
      try {
        await this.#consider(e, false);
      } catch (err) {
        this.#log.warn("HA file cannot be compared with the local copy", { path: e.path, error: err });
      }
    }
    await this.#pump();
    if (m.full && m.last) {
      const f = this.#full;
      this.#full = null;
      if (f && !f.broken) await this.#removeUnlisted(f.seen);
    }
  }

  /** Compare `e` with the disk; queue a want when they differ. */
  async #consider(e: FileEntry, force: boolean): Promise<void> {
    const t = this.#inflight.get(e.path);
    if (t) {
      t.again = e;
      return;
    }
    if (e.link !== undefined) {
      // A link is placed at once: nothing travels, so there is nothing to retry or queue.
      this.#queue.delete(e.path);
      const r = this.#retries.get(e.path);
      if (r) clearTimeout(r.timer);
      this.#retries.delete(e.path);
      this.#tries.delete(e.path);
      return this.#placeLink(e.path, e.link);
    }
    const r = this.#retries.get(e.path);
    if (r && !force) {
      r.entry = e; // asked again when its pause ends, with what is newest then
      return;
    }
    const abs = join(this.#dataDir, e.path);
    const problem = await parentProblem(this.#dataDir, e.path);
    if (problem) return this.#refusals.refused("HA file refused", { path: e.path, error: problem });
    let local: Stats | undefined;
    try {
      local = await lstat(abs);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    const isFile = local?.isFile() ?? false;
    if (local && isFile && !force && local.size === e.size && Math.round(local.mtimeMs) === e.mtimeMs) {
      this.#queue.delete(e.path);
      if ((local.mode & 0o7777) !== e.mode) {
        const fh = await open(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
        try {
          await fh.chmod(e.mode);
        } finally {
          await fh.close();
        }
      }
      return;
    }
    const append = e.path.startsWith(`${APPEND_AREA}/`) && local !== undefined && isFile && local.size < e.size && e.mtimeMs > Math.round(local.mtimeMs);
    this.#queue.set(e.path, { entry: e, from: append ? local!.size : 0 });
  }

  /**
   * Make `path` the symlink to `raw`, if the target passes the install trees' rule; else refuse with
   * one line and leave the path as it is. The link is made under a temporary name in the same
   * directory and renamed over what was there (a file, an older link), so a reader sees the old
   * entry or the new link, never a gap; a directory in the way is removed first (rename cannot
   * replace one). The link itself is written, never followed: what it points at is not opened here.
   */
  async #placeLink(path: string, raw: string): Promise<void> {
    const checked = linkTarget(path, raw);
    if (!checked.ok) return this.#refusals.refused("HA symlink refused", { path, error: checked.reason });
    const abs = join(this.#dataDir, path);
    const problem = await parentProblem(this.#dataDir, path);
    if (problem) return this.#refusals.refused("HA symlink refused", { path, error: problem });
    const local = await lstat(abs).catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw err;
    });
    // The normalised target is what is written, so that is what an unchanged link reads back.
    if (local?.isSymbolicLink() && (await readlink(abs)) === checked.target) return;
    const made = await this.#makeParents(path);
    if (made) return this.#refusals.refused("HA symlink refused", { path, error: made });
    const dir = dirname(abs);
    const tmp = join(dir, tempName("write"));
    try {
      await symlink(checked.target, tmp);
      // Checked again just before the rename: nothing on the way may have become a link meanwhile.
      const late = await parentProblem(this.#dataDir, path);
      if (late) throw new Error(`refused: ${late}`);
      const st = await lstat(abs).catch(() => undefined);
      if (st?.isDirectory()) await rm(abs, { recursive: true, force: true }); // the active has a link where this node has a directory
      await rename(tmp, abs);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      throw err;
    }
    await syncDir(dir);
    this.#linksPlaced++;
  }

  /** Ask for queued files while fewer than maxInFlight are in flight. */
  async #pump(): Promise<void> {
    while (this.#inflight.size < this.#maxInFlight && this.#queue.size > 0) {
      const [path, q] = this.#queue.entries().next().value as [string, { entry: FileEntry; from: number }];
      this.#queue.delete(path);
      let t: Transfer | undefined;
      try {
        t = await this.#open(q.entry, q.from);
      } catch (err) {
        this.#log.warn("HA file cannot be received here", { path, error: err });
        continue;
      }
      if (!t) continue;
      this.#inflight.set(path, t);
      this.#send({ T: "FileWant", path, from: t.from });
    }
  }

  /** Prepare the file a transfer writes to: the existing job log to append to, or a temporary file beside the target. */
  async #open(entry: FileEntry, from: number): Promise<Transfer | undefined> {
    const abs = join(this.#dataDir, entry.path);
    const problem = await this.#makeParents(entry.path);
    if (problem) {
      this.#refusals.refused("HA file refused", { path: entry.path, error: problem });
      return undefined;
    }
    if (from > 0) {
      // Job logs grow by appending: bytes before `from` are already right, so they stay, and each
      // new byte goes to its own offset. A crash part-way leaves a correct, shorter log, which the
      // next manifest extends; a temporary copy would rewrite the whole log for every append.
      const fh = await open(abs, fsc.O_WRONLY | fsc.O_NOFOLLOW).catch(() => undefined);
      const st = await fh?.stat();
      if (fh && st?.isFile() && st.size === from) return { entry, from, next: from, append: true, fh };
      await fh?.close();
      from = 0;
    }
    let opened!: (fh: FileHandle) => void;
    let failedOpen!: (err: unknown) => void;
    const fhReady = new Promise<FileHandle>((res, rej) => {
      opened = res;
      failedOpen = rej;
    });
    const t = { entry, from: 0, next: 0, append: false } as Transfer;
    const metaReady = new Promise<{ mtimeMs: number; mode: number }>((resolve, reject) => {
      t.finish = { resolve, reject };
    });
    t.installed = replaceFile(abs, async (tmp) => {
      const fh = await open(tmp, "wx", 0o600);
      try {
        opened(fh);
        const meta = await metaReady;
        await fh.chmod(meta.mode);
        await fh.utimes(meta.mtimeMs / 1000, meta.mtimeMs / 1000);
      } finally {
        await fh.close();
      }
      // Checked again just before the rename: nothing on the way may have become a link meanwhile.
      const late = await parentProblem(this.#dataDir, entry.path);
      if (late) throw new Error(`refused: ${late}`);
      const st = await lstat(abs).catch(() => undefined);
      if (st?.isDirectory()) await rm(abs, { recursive: true, force: true }); // the active has a file where this node has a directory
    });
    t.installed.catch((err) => failedOpen(err));
    t.fh = await fhReady;
    return t;
  }

  /**
   * Create the missing directories on the way to `rel`, refusing a symlink anywhere on it. A
   * regular file where the active has a directory is removed (it is stale here).
   */
  async #makeParents(rel: string): Promise<string | undefined> {
    const segs = rel.split("/");
    let at = this.#dataDir;
    for (let i = 0; i < segs.length - 1; i++) {
      at = join(at, segs[i]!);
      let st: Stats | undefined;
      try {
        st = await lstat(at);
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      if (i === 0 && st?.isSymbolicLink()) {
        const problem = await areaRootProblem(this.#dataDir, segs[0]!);
        if (problem) return problem;
        continue;
      }
      if (st?.isSymbolicLink()) return `${segs.slice(0, i + 1).join("/")} is a symlink`;
      if (st?.isDirectory()) continue;
      if (st) {
        if (i === 0) return `${segs[0]} is not a directory`;
        await rm(at, { force: true });
      }
      await mkdir(at, { mode: segs[0] === "pki" ? 0o700 : 0o755 });
    }
    return undefined;
  }

  async #chunk(m: FileChunkMessage, body: Uint8Array | undefined): Promise<void> {
    const t = this.#inflight.get(m.path);
    if (!t || t.settled) return this.#refusals.refused("HA file chunk refused: not asked for", { path: m.path, offset: m.offset });
    if (!body || body.length === 0 || body.length > CHUNK_BYTES || m.offset !== t.next) {
      this.#refusals.refused("HA file chunk refused; asking again", { path: m.path, offset: m.offset, expected: t.next, bytes: body?.length ?? 0 });
      return this.#failTransfer(t, "bad chunk");
    }
    try {
      await writeAll(t.fh, body, m.offset);
    } catch (err) {
      this.#log.warn("HA file write failed", { path: m.path, error: err });
      return this.#failTransfer(t, "write failed");
    }
    t.next += body.length;
    this.#bytesReceived += body.length;
  }

  async #done(m: FileDoneMessage): Promise<void> {
    const t = this.#inflight.get(m.path);
    if (!t || t.settled) return this.#refusals.refused("HA file done refused: not asked for", { path: m.path });
    if (m.size !== t.next) {
      this.#refusals.refused("HA file done does not match the bytes received; asking again", { path: m.path, size: m.size, received: t.next });
      return this.#failTransfer(t, "size mismatch");
    }
    if (m.changed && (!t.append || t.next === t.from)) {
      // Bytes read from a file being rewritten may be half old, half new: not installed. (An
      // appended log that grew while read is still a correct prefix and is kept below; one that
      // changed with nothing sent shrank, so it is not append-only after all and comes whole.)
      this.#inflight.delete(m.path);
      await this.#abort(t, "changed while sent");
      this.#scheduleRetry(t.again ?? t.entry, "whole");
      return this.#pump();
    }
    // The fsyncs and the rename run beside the frames that follow (a tree of small files would
    // otherwise pay them one file after another); the slot is freed once the file is in place.
    const meta = { mtimeMs: m.mtimeMs, mode: m.mode };
    let install: Promise<void>;
    if (t.append) install = this.#finishAppend(t.fh, meta);
    else {
      t.finish!.resolve(meta);
      install = t.installed!;
    }
    t.settled = install.then(
      () => this.#enqueue(() => this.#installed(t, m.changed, undefined)),
      (err: unknown) => this.#enqueue(() => this.#installed(t, m.changed, err)),
    );
  }

  async #finishAppend(fh: FileHandle, meta: { mtimeMs: number; mode: number }): Promise<void> {
    try {
      await fh.chmod(meta.mode);
      await fh.utimes(meta.mtimeMs / 1000, meta.mtimeMs / 1000);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async #installed(t: Transfer, changed: boolean, err: unknown): Promise<void> {
    const path = t.entry.path;
    if (this.#inflight.get(path) !== t) return; // reset or removed meanwhile
    this.#inflight.delete(path);
    if (err !== undefined) {
      this.#log.warn("HA file could not be installed", { path, error: err });
      this.#scheduleRetry(t.again ?? t.entry, "whole");
    } else if (changed) {
      // A log that grew while it was read: what arrived is right, the rest is asked for next.
      this.#filesReceived++;
      this.#tries.delete(path);
      this.#scheduleRetry(t.again ?? t.entry, "append");
    } else {
      this.#filesReceived++;
      this.#tries.delete(path);
      if (t.again) await this.#consider(t.again, false);
    }
    await this.#pump();
  }

  async #failTransfer(t: Transfer, reason: string): Promise<void> {
    this.#inflight.delete(t.entry.path);
    await this.#abort(t, reason);
    this.#scheduleRetry(t.again ?? t.entry, "whole");
    await this.#pump();
  }

  async #abort(t: Transfer, reason: string): Promise<void> {
    if (t.settled) {
      // Past FileDone: let the install finish (it is whole or nothing either way).
      await t.settled;
      return;
    }
    if (t.append) {
      await t.fh.close().catch(() => {});
      return;
    }
    t.finish!.reject(new Error(reason));
    await t.installed!.catch(() => {}); // replaceFile removed the temporary file
  }

  /** Ask for `e` again after a pause that doubles with each attempt, so a file rewritten without pause does not spin. */
  /**
   * Ask for `e` again after a pause that doubles with each attempt, so a file rewritten without
   * pause does not spin. "whole": compared as if the local copy were wrong (the job-log offset rule
   * still applies); "append": from the local size, whatever the last manifest said.
   */
  #scheduleRetry(e: FileEntry, how: "whole" | "append"): void {
    const old = this.#retries.get(e.path);
    if (old) {
      old.entry = e;
      return;
    }
    const tries = (this.#tries.get(e.path) ?? 0) + 1;
    this.#tries.set(e.path, tries);
    if (tries === 5) this.#log.warn("HA file keeps changing while it is sent; still trying", { path: e.path });
    const delay = how === "append" ? 0 : Math.min(RETRY_FIRST_MS * 2 ** (tries - 1), RETRY_MAX_MS);
    const rec = { entry: e, timer: undefined as unknown as ReturnType<typeof setTimeout> };
    rec.timer = setTimeout(() => {
      this.#enqueue(async () => {
        if (this.#retries.get(e.path) !== rec) return;
        this.#retries.delete(e.path);
        if (how === "append") {
          const st = await lstat(join(this.#dataDir, e.path)).catch(() => undefined);
          if (st?.isFile() && !this.#inflight.has(e.path)) {
            this.#queue.set(e.path, { entry: rec.entry, from: st.size });
            return this.#pump();
          }
        }
        await this.#consider(rec.entry, true);
        await this.#pump();
      });
    }, delay);
    this.#retries.set(e.path, rec);
  }

  async #gone(paths: string[]): Promise<void> {
    for (const path of paths) {
      this.#full?.seen.delete(path);
      for (const [p, t] of this.#inflight) {
        if (p === path || p.startsWith(`${path}/`)) {
          this.#inflight.delete(p);
          await this.#abort(t, "gone on the active");
        }
      }
      for (const p of [...this.#queue.keys()]) if (p === path || p.startsWith(`${path}/`)) this.#queue.delete(p);
      for (const [p, r] of this.#retries) {
        if (p === path || p.startsWith(`${path}/`)) {
          clearTimeout(r.timer);
          this.#retries.delete(p);
        }
      }
      const problem = await parentProblem(this.#dataDir, path);
      if (problem) {
        this.#refusals.refused("HA file removal refused", { path, error: problem });
        continue;
      }
      // rm does not follow symlinks: a link is removed, never what it points at.
      await rm(join(this.#dataDir, path), { recursive: true, force: true });
      this.#removed++;
    }
    await this.#pump();
  }

  /** After a whole full manifest: remove the files of the areas that the active does not have. */
  async #removeUnlisted(seen: Set<string>): Promise<void> {
    const extra: string[] = [];
    for (const name of SYNC_FILES) {
      const st = await lstat(join(this.#dataDir, name)).catch(() => undefined);
      if (st && !st.isDirectory() && !seen.has(name)) extra.push(name);
    }
    for (const area of SYNC_AREAS) {
      const st = await lstat(join(this.#dataDir, area)).catch(() => undefined);
      if (st?.isDirectory() || (st?.isSymbolicLink() && !(await areaRootProblem(this.#dataDir, area)))) await this.#walkLocal(area, seen, extra);
    }
    const emptied = new Set<string>();
    for (const path of extra) {
      if (this.#inflight.has(path) || this.#queue.has(path) || this.#retries.has(path)) continue;
      await rm(join(this.#dataDir, path), { force: true });
      this.#removed++;
      const cut = path.lastIndexOf("/");
      if (cut > 0) emptied.add(path.slice(0, cut));
    }
    // Directories left empty by these removals go too (never an area itself).
    for (let dir of emptied) {
      while (dir.includes("/")) {
        try {
          await rmdir(join(this.#dataDir, dir));
        } catch {
          break; // not empty (or already gone)
        }
        dir = dir.slice(0, dir.lastIndexOf("/"));
      }
    }
    if (extra.length > 0) this.#log.info("HA files removed: no longer on the active", { files: extra.length });
  }

  async #walkLocal(rel: string, seen: Set<string>, out: string[]): Promise<void> {
    let list: import("node:fs").Dirent[];
    try {
      list = await readdir(join(this.#dataDir, rel), { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (const d of list) {
      if (isTempName(d.name)) continue; // a write of this node in progress
      const child = `${rel}/${d.name}`;
      if (d.isDirectory()) await this.#walkLocal(child, seen, out);
      else if (!seen.has(child)) out.push(child);
    }
  }
}
