// The durable store: in-memory Maps (store-core.ts) rebuilt at open from a snapshot plus an
// append-only journal, all under <data dir>/store:
//
//   snapshot.json                 every writable object as of one Seq (snapshot-file.ts)
//   journal-000000001235.jsonl    changes from Seq 1235 on, one checksummed JSON line each
//   <data dir>/LOCK               single-writer lock (file-lock.ts)
//
// A write resolves after its journal line is fdatasync'd; writes queued meanwhile share the next
// write()+fdatasync (group commit). When the journal since the last snapshot grows past a limit,
// and on close, the store compacts: it starts a new journal segment at Seq+1, writes a snapshot
// of the state at Seq in the background (writes continue meanwhile), then removes the old
// segments. Recovery at open truncates a torn journal tail with one warning and refuses to start
// on anything else that is damaged, naming the file and what to do.

import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { SocleError } from "../model/errors.ts";
import { nullLogger, type Logger } from "../log/logger.ts";
import { emptyLayer, type ReadOnlyLayer } from "./store.ts";
import { StoreCore, type PendingWrite } from "./store-core.ts";
import { decodeJournal, encodeEntry } from "./journal-codec.ts";
import { lockDir, type DirLock, type LockOptions } from "./file-lock.ts";
import { SNAPSHOT_TMP, readSnapshot, writeSnapshot, type SnapshotStats, type SnapshotWriteOptions } from "./snapshot-file.ts";
import { syncDir, writeAll } from "../files/atomic-write.ts";
import { isTempName } from "../files/paths.ts";
import type { WritableView } from "./layered-state.ts";

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
}

export interface FileStoreStats {
  seq: number;
  /** Journal entries and bytes since the last snapshot. */
  journalEntries: number;
  journalBytes: number;
  /** The segment being appended to. */
  segment: string;
  /** fdatasyncs of the journal since open (fewer than writes when group commit batches them). */
  syncs: number;
  lockMode: "flock" | "pidfile" | null;
}

const SEGMENT_RE = /^journal-(\d+)\.jsonl$/;
export const DEFAULT_COMPACT_ENTRIES = 25_000;
export const DEFAULT_COMPACT_BYTES = 16 << 20;

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

  constructor(opts: FileStoreOptions) {
    super(opts.layer ?? emptyLayer(), (opts.log ?? nullLogger).child("store"));
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
      await fsp.mkdir(this.storeDir, { recursive: true, mode: 0o700 });
      // The store directory's own entry must be durable before anything in it is acknowledged.
      await syncDir(this.dir);
    } catch (err) {
      throw new SocleError("Unavailable", "store", this.dir, `cannot open data directory "${this.dir}": ${(err as Error).message}`);
    }
    this.lock = await lockDir(this.dir, this.opts.lock);
    try {
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

  protected async persist(batch: readonly PendingWrite[]): Promise<void> {
    const journal = this.journal;
    if (!journal) throw new Error("journal is not open");
    let text = "";
    for (const p of batch) text += encodeEntry(p.change, p.json);
    const buf = Buffer.from(text);
    await writeAll(journal, buf);
    await journal.datasync();
    this.syncs++;
    this.sinceSnapshotEntries += batch.length;
    this.sinceSnapshotBytes += buf.length;
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

  // ---- compaction -----------------------------------------------------------------------------

  private async runCompaction(): Promise<SnapshotStats | null> {
    const job: { view: WritableView | null; seq: number; old: string[] } = { view: null, seq: 0, old: [] };
    await this.exclusive(async () => {
      if (this.sinceSnapshotEntries === 0 || !this.journal) return;
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
      job.view = this.state.beginView();
    });
    const { view, seq, old } = job;
    if (!view) return null;
    let stats: SnapshotStats;
    try {
      stats = await writeSnapshot(this.storeDir, seq, view, this.opts.snapshot);
    } finally {
      view.end();
    }
    for (const name of old) await fsp.rm(path.join(this.storeDir, name), { force: true });
    this.segments = this.segments.filter((s) => !old.includes(s.name));
    await syncDir(this.storeDir);
    this.log.info("snapshot written", { seq, objects: stats.objects, bytes: stats.bytes, ms: Math.round(stats.ms) });
    return stats;
  }

  /** Close the current segment and append to a new one starting at `start`. */
  private async startSegment(start: number): Promise<void> {
    const name = segmentName(start);
    const fh = await fsp.open(path.join(this.storeDir, name), "a", 0o600);
    // The new file's directory entry must be durable before acknowledged data lands in it.
    await syncDir(this.storeDir);
    const prev = this.journal;
    this.journal = fh;
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
      const decoded = decodeJournal(bytes, file, seg.start);
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
    }
    for (const name of stale) await fsp.rm(path.join(dir, name), { force: true });
    const current = live.at(-1);
    if (current) {
      this.journal = await fsp.open(path.join(dir, current.name), "a", 0o600);
      this.segments = live;
    } else {
      this.segments = [];
      await this.startSegment(seq + 1);
    }
    if (stale.length > 0) await syncDir(dir);
    return seq;
  }
}

/** A new, opened file store. */
export async function openFileStore(opts: FileStoreOptions): Promise<FileStore> {
  const store = new FileStore(opts);
  await store.open();
  return store;
}
