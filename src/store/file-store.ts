// The durable store: in-memory Maps (store-core.ts) rebuilt at open from a snapshot plus an
// append-only journal, all under <data dir>/store:
//
//   snapshot.json                 every writable object as of one Seq (snapshot-file.ts)
//   journal-000000001235.jsonl    changes from Seq 1235 on, one checksummed JSON line each
//   <data dir>/LOCK               single-writer lock (file-lock.ts)
//
// A write resolves after its journal line is durable; writes queued meanwhile share the next write
// (group commit). The journal is opened O_DSYNC, so that write returns only once the data, and the
// file size needed to read it back, are on disk: fdatasync's guarantee, in the same syscall. A
// separate fdatasync would be a second trip through the runtime's fs thread pool per batch (two
// thread wake-ups and two event-loop completions), paid by every DHCPACK waiting on it.
//
// A segment is preallocated: zeros are written ahead of the lines (JOURNAL_PREALLOC bytes at a
// time, before they are needed), and a line is written in place over them. Appending would grow
// the file with every write, so each O_DSYNC write would also commit the filesystem's journal for
// the new size; a write within the file's size only has its own blocks to flush (measured on this
// project's ext4/virtio disk: 0.09-0.17 ms per write instead of 0.14-0.25). Lines never contain a
// NUL byte, so the zeros after the last line are unused space to the decoder, not a torn tail.
// Unlike an append, a write in place that a power cut stops may leave any of its pages: zeros, then
// whole lines of the same write. Only the last write can, so recovery truncates that as a torn tail
// when it lies within JOURNAL_MAX_WRITE bytes (a batch is written in pieces of at most that), and a
// reader of the segment being written decodes only what completed writes hold. When the
// journal since the last snapshot grows past a limit, and on close, the store compacts: it starts a
// new journal segment at Seq+1, writes a snapshot of the state at Seq in the background (writes
// continue meanwhile), then removes the old segments. Recovery at open truncates a torn journal tail with one warning and refuses to start
// on anything else that is damaged, naming the file and what to do.
//
// Replication (replica.ts): changesSince answers from StoreCore's ring of recent changes, else
// from the journal segments still on disk (every change after the last snapshot, and older ones
// until compaction removes their segment). A delete's line carries the object as it was, so a
// change read back is the change that was published.
//
// importSnapshot replaces the whole store directory before open, with the data dir's LOCK held.
// The new store is built complete in <dir>/store.importing (snapshot.json written last, by rename,
// so its presence means complete), then swapped in by two renames: store -> store.replaced,
// store.importing -> store. Linux has renameat2(RENAME_EXCHANGE) for a one-step swap, but not
// every filesystem supports it, so instead open() (and the next import) finish an interrupted
// swap: with no store/ but a complete store.importing/, the rename that was about to happen
// happens; otherwise store.importing/ is dropped and store/ (or, failing that, the untouched
// store.replaced/) is the store. Either the old store or the new one, never a mix.

import { constants as fsc } from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { SocleError } from "../model/errors.ts";
import { nullLogger, type Logger } from "../log/logger.ts";
import type { Change } from "../model/object.ts";
import { emptyLayer, type ReadOnlyLayer } from "./store.ts";
import { StoreCore, checkSnapshot, type PendingWrite } from "./store-core.ts";
import { decodeJournal, encodeEntry, type JournalEntry } from "./journal-codec.ts";
import { lockDir, type DirLock, type LockOptions } from "./file-lock.ts";
import { SNAPSHOT_FILE, SNAPSHOT_TMP, readSnapshot, snapshotView, writeSnapshot, type SnapshotStats, type SnapshotWriteOptions } from "./snapshot-file.ts";
import { syncDir, writeAll } from "../files/atomic-write.ts";
import { isTempName } from "../files/paths.ts";
import { deepFreeze } from "./freeze.ts";
import type { StoreSnapshot } from "./replica.ts";

export interface FileStoreOptions {
  /** The data directory; the store lives in <dir>/store, the lock in <dir>/LOCK. */
  dir: string;
  layer?: ReadOnlyLayer;
  log?: Logger;
  /** Compact once the journal holds this many entries since the last snapshot. */
  compactEntries?: number;
  /** ... or this many bytes. */
  compactBytes?: number;
  lock?: LockOptions;
  snapshot?: SnapshotWriteOptions;
  /** Committed changes kept in memory for changesSince (default 20,000); older ones come from the journal. */
  historyLimit?: number;
  /** Told after each durable journal write (its sync included): how long it took, and the changes and bytes it made durable (metrics). */
  onSync?: (seconds: number, entries: number, bytes: number) => void;
  /** How long after open the loaded objects start being frozen in the background (StoreCoreOptions.freezeDelayMs). */
  freezeDelayMs?: number;
  /** Bytes of zeros a journal segment is extended by ahead of its lines (default JOURNAL_PREALLOC; see the header). */
  journalPrealloc?: number;
}

export interface ImportSnapshotOptions {
  log?: Logger;
  lock?: LockOptions;
  snapshot?: SnapshotWriteOptions;
}

export interface FileStoreStats {
  seq: number;
  /** Journal entries and bytes since the last snapshot. */
  journalEntries: number;
  journalBytes: number;
  /** The segment being appended to. */
  segment: string;
  /** Durable (O_DSYNC) journal writes since open (fewer than store writes when group commit batches them). */
  syncs: number;
  /** Batches that had to wait for the journal's preallocated zeros to be extended first (the background extension keeps this near 0). */
  extensionWaits: number;
  lockMode: "flock" | "pidfile" | null;
}

const SEGMENT_RE = /^journal-(\d+)\.jsonl$/;
const IMPORTING = "store.importing";
const REPLACED = "store.replaced";
export const DEFAULT_COMPACT_ENTRIES = 25_000;
export const DEFAULT_COMPACT_BYTES = 16 << 20;
/** How a journal segment is opened: written in place (positioned writes, no O_APPEND), with O_DSYNC (see the header). */
export const JOURNAL_OPEN_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_DSYNC;
/** How far ahead of its lines a journal segment is filled with zeros (see the header). */
export const JOURNAL_PREALLOC = 1 << 20;
/**
 * The most bytes one journal write spans (a batch is split at lines; one longer line is written
 * alone). A write in place cut short by a power cut can leave its later pages without its earlier
 * ones; recovery tells that from corruption by this bound (journal-codec.ts, DecodeOptions).
 */
export const JOURNAL_MAX_WRITE = 512 << 10;

export function segmentName(startSeq: number): string {
  return `journal-${String(startSeq).padStart(12, "0")}.jsonl`;
}

export class FileStore extends StoreCore {
  readonly dir: string;
  private readonly storeDir: string;
  private readonly opts: FileStoreOptions;
  private lock: DirLock | null = null;
  private journal: fsp.FileHandle | null = null;
  /** Segment files, oldest first; the last one is being appended to. */
  private segments: { name: string; start: number }[] = [];
  private sinceSnapshotEntries = 0;
  private sinceSnapshotBytes = 0;
  private compacting: Promise<SnapshotStats | null> | null = null;
  private openCalled = false;
  private syncs = 0;
  private extensionWaits = 0;
  /** Where the next line goes in the current segment, and the segment's size (zeros from writeAt to allocEnd). */
  private writeAt = 0;
  private allocEnd = 0;
  /** A background extension of the current segment, while it runs. */
  private extending: Promise<void> | null = null;
  /** The last rotated (no longer appended) segment read by readHistory, decoded. */
  private historyCache: { name: string; entries: JournalEntry[] } | null = null;

  constructor(opts: FileStoreOptions) {
    super(
      opts.layer ?? emptyLayer(),
      (opts.log ?? nullLogger).child("store"),
      {
        ...(opts.historyLimit === undefined ? {} : { historyLimit: opts.historyLimit }),
        ...(opts.freezeDelayMs === undefined ? {} : { freezeDelayMs: opts.freezeDelayMs }),
      },
    );
    this.opts = opts;
    this.dir = path.resolve(opts.dir);
    this.storeDir = path.join(this.dir, "store");
  }

  protected describe(): string {
    return `file store "${this.dir}"`;
  }

  async open(): Promise<void> {
    if (this.openCalled) throw new Error(`open ${this.describe()}: a store object opens once; create a new one`);
    this.openCalled = true;
    const started = performance.now();
    try {
      await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new SocleError("Unavailable", "store", this.dir, `cannot open data directory "${this.dir}": ${(err as Error).message}`);
    }
    this.lock = await lockDir(this.dir, this.opts.lock);
    try {
      // Before store/ is created: an interrupted import may be about to become store/.
      await finishImport(this.dir, this.log);
      try {
        await fsp.mkdir(this.storeDir, { recursive: true, mode: 0o700 });
        // The store directory's own entry must be durable before anything in it is acknowledged.
        await syncDir(this.dir);
      } catch (err) {
        throw new SocleError("Unavailable", "store", this.dir, `cannot open data directory "${this.dir}": ${(err as Error).message}`);
      }
      const seq = await this.recover();
      this.markOpen(seq);
      this.log.info("store opened", {
        dir: this.dir,
        seq,
        journalEntries: this.sinceSnapshotEntries,
        ms: Math.round(performance.now() - started),
      });
    } catch (err) {
      await this.journal?.close().catch(() => {});
      this.journal = null;
      this.lock.release();
      this.lock = null;
      if (err instanceof SocleError) throw err;
      throw new SocleError("Unavailable", "store", this.dir, `cannot open store in "${this.dir}": ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    const wasOpen = await this.beginClose();
    if (this.compacting) await this.compacting.catch(() => null);
    if (wasOpen && !this.failed && this.sinceSnapshotEntries > 0) {
      try {
        await this.compact();
      } catch (err) {
        // The journal still holds everything; the next open replays it.
        this.log.error("snapshot at close failed; the journal keeps all changes", { error: err });
      }
    }
    if (this.extending) await this.extending;
    await this.journal?.close().catch(() => {});
    this.journal = null;
    this.lock?.release();
    this.lock = null;
    this.markClosed();
  }

  stats(): FileStoreStats {
    return {
      seq: this.seq,
      journalEntries: this.sinceSnapshotEntries,
      journalBytes: this.sinceSnapshotBytes,
      segment: this.segments.at(-1)?.name ?? "",
      syncs: this.syncs,
      extensionWaits: this.extensionWaits,
      lockMode: this.lock?.mode ?? null,
    };
  }

  /**
   * Snapshot the current state and drop the journal segments it covers. Concurrent calls share
   * one run. Writes continue while the snapshot is written. Resolves null if nothing changed
   * since the last snapshot.
   */
  compact(): Promise<SnapshotStats | null> {
    this.compacting ??= this.runCompaction().finally(() => {
      this.compacting = null;
    });
    return this.compacting;
  }

  /**
   * Replace the store of data directory `dir` with `snap`, before a FileStore opens it: a later
   * open() has exactly the snapshot's objects and continues numbering at snap.seq + 1. Takes the
   * data dir's LOCK meanwhile, so it is refused while a store is open there. Durable when it
   * resolves; a crash midway leaves the old store or the new one (see the header).
   */
  static async importSnapshot(dir: string, snap: StoreSnapshot, opts: ImportSnapshotOptions = {}): Promise<void> {
    checkSnapshot(snap);
    const root = path.resolve(dir);
    const log = (opts.log ?? nullLogger).child("store");
    try {
      await fsp.mkdir(root, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new SocleError("Unavailable", "store", root, `cannot import a snapshot into data directory "${root}": ${(err as Error).message}`);
    }
    const lock = await lockDir(root, opts.lock);
    const storeDir = path.join(root, "store");
    const importing = path.join(root, IMPORTING);
    const replaced = path.join(root, REPLACED);
    try {
      await finishImport(root, log);
      await fsp.mkdir(importing, { mode: 0o700 });
      // Written last and by rename (snapshot-file.ts): its presence marks the import complete.
      const stats = await writeSnapshot(importing, snap.seq, snapshotView(snap.entries), opts.snapshot);
      await syncDir(root); // store.importing's own entry, before anything depends on it
      const hadStore = await fsp.rename(storeDir, replaced).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code === "ENOENT") return false;
          throw err;
        },
      );
      if (hadStore) await syncDir(root);
      await fsp.rename(importing, storeDir);
      await syncDir(root);
      if (hadStore) {
        await fsp.rm(replaced, { recursive: true, force: true });
        await syncDir(root);
      }
      log.info("store replaced by an imported snapshot", { dir: root, seq: snap.seq, objects: stats.objects, bytes: stats.bytes });
    } catch (err) {
      // Back to one whole store (the new one if the swap got that far) before the lock goes.
      await finishImport(root, log).catch((e) => log.error("cannot tidy up after a failed import", { dir: root, error: e }));
      if (err instanceof SocleError) throw err;
      throw new SocleError("Unavailable", "store", root, `cannot import a snapshot into data directory "${root}": ${(err as Error).message}`);
    } finally {
      lock.release();
    }
  }

  protected async persist(batch: readonly PendingWrite[]): Promise<void> {
    const journal = this.journal;
    if (!journal) throw new Error("journal is not open");
    // A delete's line carries the object as it was (the Change published), so that a change read
    // back for a replica is the change that was published. Pieces of at most JOURNAL_MAX_WRITE
    // bytes, cut at lines (see the header).
    const pieces: Buffer[] = [];
    let text = "";
    let bytes = 0; // of text, counted as it grows (measuring text each time would be quadratic)
    for (const p of batch) {
      const line = encodeEntry(p.change, p.json ?? JSON.stringify(p.change.Object));
      const n = Buffer.byteLength(line);
      if (text && bytes + n > JOURNAL_MAX_WRITE) {
        pieces.push(Buffer.from(text));
        text = "";
        bytes = 0;
      }
      text += line;
      bytes += n;
    }
    pieces.push(Buffer.from(text));
    const total = pieces.reduce((n, b) => n + b.length, 0);
    const started = performance.now();
    if (this.writeAt + total > this.allocEnd) {
      this.extensionWaits++;
      if (this.extending) await this.extending;
      await this.extend(journal, this.writeAt + total);
    }
    for (const buf of pieces) {
      const at = this.writeAt;
      await writeAll(journal, buf, at); // durable when it returns: O_DSYNC
      this.writeAt = at + buf.length;
      this.syncs++;
    }
    this.opts.onSync?.((performance.now() - started) / 1000, batch.length, total);
    // Zeros ahead before the next writes need them, off their path.
    if (!this.extending && this.allocEnd - this.writeAt < this.prealloc() / 2) {
      this.extending = this.extend(journal, this.allocEnd + 1)
        .catch((err) => this.log.warn("cannot extend the journal ahead of its writes; the next write will", { error: err }))
        .finally(() => {
          this.extending = null;
        });
    }
    this.sinceSnapshotEntries += batch.length;
    this.sinceSnapshotBytes += total;
  }

  protected override afterCommit(): void {
    if (this.compacting || !this.isOpen) return;
    const entries = this.opts.compactEntries ?? DEFAULT_COMPACT_ENTRIES;
    const bytes = this.opts.compactBytes ?? DEFAULT_COMPACT_BYTES;
    if (this.sinceSnapshotEntries >= entries || this.sinceSnapshotBytes >= bytes) {
      this.compact().catch((err) => {
        this.log.error("compaction failed; the journal keeps all changes, will retry", { error: err });
      });
    }
  }

  private prealloc(): number {
    return Math.max(4096, this.opts.journalPrealloc ?? JOURNAL_PREALLOC);
  }

  /**
   * Fill `fh` (the current segment) with zeros from its end to past `atLeast`, in whole
   * preallocation units. Durable when it resolves (O_DSYNC: the new size included).
   */
  private async extend(fh: fsp.FileHandle, atLeast: number): Promise<void> {
    const unit = this.prealloc();
    const from = this.allocEnd;
    const to = Math.ceil(atLeast / unit) * unit;
    if (to <= from) return;
    await writeAll(fh, new Uint8Array(to - from), from);
    // A rotation meanwhile has its own segment and size.
    if (this.journal === fh && this.allocEnd === from) this.allocEnd = to;
  }

  // ---- history for replicas ------------------------------------------------------------------

  protected override async readHistory(after: number, upTo: number, limit: number): Promise<Change[] | undefined> {
    const segs = this.segments.slice();
    let i = segs.findLastIndex((s) => s.start <= after + 1);
    if (i < 0) return undefined;
    const out: Change[] = [];
    for (; i < segs.length && out.length < limit; i++) {
      const seg = segs[i] as { name: string; start: number };
      const entries = await this.segmentEntries(seg, i < segs.length - 1);
      if (!entries) return undefined;
      for (const e of entries) {
        if (e.Seq <= after) continue;
        // Lines of a batch still being persisted are on disk before they are committed.
        if (e.Seq > upTo || out.length >= limit) return out;
        // Deletes written before their lines carried the object cannot be replayed faithfully.
        if (!e.Object) return undefined;
        out.push(deepFreeze({ Seq: e.Seq, Time: e.Time, Type: e.Type, Action: e.Action, Key: e.Key, Object: e.Object }));
      }
    }
    return out;
  }

  /** A segment's entries, or undefined if compaction removed it meanwhile. */
  private async segmentEntries(seg: { name: string; start: number }, rotated: boolean): Promise<JournalEntry[] | undefined> {
    if (this.historyCache?.name === seg.name) return this.historyCache.entries;
    const file = path.join(this.storeDir, seg.name);
    // The segment being written: only what completed writes hold. A read racing a write in place
    // could see its later bytes without its earlier ones.
    const done = !rotated && this.segments.at(-1)?.name === seg.name ? this.writeAt : undefined;
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(file);
      if (done !== undefined) bytes = bytes.subarray(0, done);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new SocleError("Unavailable", "store", file, `cannot read changes from journal "${file}": ${(err as Error).message}`);
    }
    const { entries } = decodeJournal(bytes, file, seg.start);
    if (rotated && this.segments.some((s) => s.name === seg.name)) this.historyCache = { name: seg.name, entries };
    return entries;
  }

  // ---- compaction -----------------------------------------------------------------------------

  private async runCompaction(): Promise<SnapshotStats | null> {
    const job: { seq: number; old: string[] } = { seq: 0, old: [] };
    const atPoint = async (): Promise<boolean> => {
      if (this.sinceSnapshotEntries === 0 || !this.journal) return false;
      job.seq = this.seq;
      const current = this.segments.at(-1);
      if (current && current.start === job.seq + 1) {
        // The current segment is empty (a previous compaction rotated, then its snapshot
        // failed): keep appending to it.
        job.old = this.segments.slice(0, -1).map((s) => s.name);
      } else {
        job.old = this.segments.map((s) => s.name);
        await this.startSegment(job.seq + 1);
      }
      this.sinceSnapshotEntries = 0;
      this.sinceSnapshotBytes = 0;
      return true;
    };
    const stats = await this.readAtPoint(atPoint, (view, seq) => writeSnapshot(this.storeDir, seq, view, this.opts.snapshot));
    if (!stats) return null;
    const { seq, old } = job;
    // Out of the list first: a history read starting now does not look for them.
    this.segments = this.segments.filter((s) => !old.includes(s.name));
    if (this.historyCache && old.includes(this.historyCache.name)) this.historyCache = null;
    for (const name of old) await fsp.rm(path.join(this.storeDir, name), { force: true });
    await syncDir(this.storeDir);
    this.log.info("snapshot written", { seq, objects: stats.objects, bytes: stats.bytes, ms: Math.round(stats.ms) });
    return stats;
  }

  /** Close the current segment and append to a new one starting at `start`. */
  private async startSegment(start: number): Promise<void> {
    const name = segmentName(start);
    const file = path.join(this.storeDir, name);
    const fh = await fsp.open(file, JOURNAL_OPEN_FLAGS, 0o600);
    try {
      await writeAll(fh, new Uint8Array(this.prealloc()), 0);
      // The new file's directory entry must be durable before acknowledged data lands in it.
      await syncDir(this.storeDir);
    } catch (err) {
      // Not left behind: writes go on in the current segment, past this one's first Seq.
      await fh.close().catch(() => {});
      await fsp.rm(file, { force: true }).catch(() => {});
      throw err;
    }
    if (this.extending) await this.extending; // on the old segment
    const prev = this.journal;
    this.journal = fh;
    this.writeAt = 0;
    this.allocEnd = this.prealloc();
    this.segments.push({ name, start });
    await prev?.close();
  }

  // ---- recovery -------------------------------------------------------------------------------

  /** Load snapshot and journal; returns the last committed Seq. */
  private async recover(): Promise<number> {
    const dir = this.storeDir;
    // A snapshot being written when the last run stopped (files/atomic-write.ts), or by a version
    // before it.
    for (const name of await fsp.readdir(dir)) {
      if (name === SNAPSHOT_TMP || isTempName(name)) await fsp.rm(path.join(dir, name), { force: true });
    }
    const snapSeq = await readSnapshot(dir, (type, key, obj) => this.load(type, key, obj));
    let seq = snapSeq ?? 0;
    const found = (await fsp.readdir(dir))
      .map((name) => ({ name, m: SEGMENT_RE.exec(name) }))
      .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
      .map(({ name, m }) => ({ name, start: Number(m[1]) }))
      .sort((a, b) => a.start - b.start);
    const stale: string[] = [];
    const live: { name: string; start: number }[] = [];
    let current: { validBytes: number; size: number } | null = null;
    for (let i = 0; i < found.length; i++) {
      const seg = found[i] as { name: string; start: number };
      const next = found[i + 1];
      const last = next === undefined;
      // Covered entirely by the snapshot (a crash between snapshot rename and segment removal).
      if (next && next.start - 1 <= seq) {
        stale.push(seg.name);
        continue;
      }
      const file = path.join(dir, seg.name);
      if (seg.start > seq + 1) {
        throw new SocleError(
          "Unavailable",
          "store",
          file,
          `cannot open store: changes ${seq + 1}..${seg.start - 1} are missing (the snapshot ends at ` +
            `Seq ${snapSeq ?? 0} and journal "${file}" starts at Seq ${seg.start}); restore the data directory from a backup`,
        );
      }
      const bytes = await fsp.readFile(file);
      // Only the newest segment can end in a write cut short in place (see the header).
      const decoded = decodeJournal(bytes, file, seg.start, last ? { tornWriteBytes: JOURNAL_MAX_WRITE } : {});
      // A segment a failed rotation left behind (a crash before it was removed): empty, and named
      // for a Seq the segment before it went on to hold. Writing on in it would misnumber it.
      if (last && decoded.entries.length === 0 && !decoded.torn && seg.start <= seq) {
        this.log.warn("removing an empty journal segment left by a rotation that did not finish", { file, seq });
        stale.push(seg.name);
        continue;
      }
      if (decoded.torn && !last) {
        throw new SocleError(
          "Unavailable",
          "store",
          file,
          `cannot open store: journal "${file}" is damaged at line ${decoded.torn.line} (byte ${decoded.torn.offset}): ` +
            `${decoded.torn.reason}, but it is not the newest segment, so acknowledged changes would be lost; ` +
            `restore the data directory from a backup`,
        );
      }
      for (const e of decoded.entries) {
        if (e.Seq <= seq) continue;
        this.load(e.Type, e.Key, e.Action === "delete" ? null : (e.Object ?? null));
        seq = e.Seq;
        this.sinceSnapshotEntries++;
      }
      this.sinceSnapshotBytes += decoded.validBytes;
      if (decoded.torn) {
        const fh = await fsp.open(file, "r+");
        try {
          await fh.truncate(decoded.validBytes);
          await fh.datasync();
        } finally {
          await fh.close();
        }
        this.log.warn("journal ended in a torn write (crash during an unacknowledged append); truncated it", {
          file,
          line: decoded.torn.line,
          offset: decoded.torn.offset,
          droppedBytes: decoded.torn.droppedBytes,
          reason: decoded.torn.reason,
        });
      }
      live.push(seg);
      current = { validBytes: decoded.validBytes, size: decoded.torn ? decoded.validBytes : bytes.length };
    }
    for (const name of stale) await fsp.rm(path.join(dir, name), { force: true });
    const newest = live.at(-1);
    if (newest && current) {
      this.journal = await fsp.open(path.join(dir, newest.name), JOURNAL_OPEN_FLAGS, 0o600);
      // Recovery accepted every whole line it read, some perhaps only in the page cache (a process
      // killed between its write and its sync). An O_DSYNC write syncs only what it writes, so
      // those lines are made durable here, before anything is served from them.
      await this.journal.datasync();
      this.segments = live;
      // Lines continue after the last whole one; everything past it is zeros (a torn tail was
      // truncated above). A segment from before preallocation ends at its last line.
      this.writeAt = current.validBytes;
      this.allocEnd = current.size;
      // Best effort: a full disk must not keep the store from opening (a write extends when it must).
      if (this.allocEnd - this.writeAt < this.prealloc() / 2) {
        await this.extend(this.journal, this.allocEnd + 1).catch((err) => this.log.warn("cannot preallocate the journal at open", { error: err }));
      }
    } else {
      this.segments = [];
      await this.startSegment(seq + 1);
    }
    if (stale.length > 0) await syncDir(dir);
    return seq;
  }
}

// ---- importing a snapshot ---------------------------------------------------------------------

/**
 * Finish or undo an import interrupted by a crash (see the header). Runs with the LOCK held,
 * before store/ is created or opened.
 */
async function finishImport(dir: string, log: Logger): Promise<void> {
  const storeDir = path.join(dir, "store");
  const importing = path.join(dir, IMPORTING);
  const replaced = path.join(dir, REPLACED);
  const has = (p: string) => fsp.stat(p).then(() => true, () => false);
  let changed = false;
  if (!(await has(storeDir))) {
    if (await has(path.join(importing, SNAPSHOT_FILE))) {
      await fsp.rename(importing, storeDir);
      log.warn("finished a store import interrupted after the old store was set aside", { dir });
    } else if (await has(replaced)) {
      await fsp.rename(replaced, storeDir);
      log.warn("restored the store set aside by an interrupted import", { dir });
    }
    changed = true;
  }
  if (await has(importing)) {
    await fsp.rm(importing, { recursive: true, force: true });
    log.warn("dropped a store import that stopped before it replaced the store", { dir });
    changed = true;
  }
  if (await has(replaced)) {
    await fsp.rm(replaced, { recursive: true, force: true });
    changed = true;
  }
  if (changed) await syncDir(dir);
}

/** A new, opened file store. */
export async function openFileStore(opts: FileStoreOptions): Promise<FileStore> {
  const store = new FileStore(opts);
  await store.open();
  return store;
}
