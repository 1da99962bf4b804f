// Job logs: one file per job, <dir>/<first two characters of the Uuid>/<Uuid>.log (mode 0600),
// beside the store rather than in it: a log grows by many small appends, and the store journals
// whole objects.
//
// The agent sends its output in chunks, each with the byte offset it starts at in the job's log
// (Socle-Log-Offset). The file only ever grows, by O_APPEND writes made durable (fdatasync) before
// the append is acknowledged. A chunk that starts before the end overlaps what the file holds:
// the part of the overlap the file holds byte for byte is skipped, so a chunk sent again (its
// answer lost, the agent restarted) is not doubled; what follows is appended at the end, so bytes
// the server wrote in between (a note, below) never swallow the agent's. A chunk that starts
// beyond the end is refused with the length held (the agent resends from there). A write cut
// short by a crash (kill -9, power) leaves a prefix of a chunk the agent never saw acknowledged:
// it sends the chunk again and the rest lands after that prefix, so no byte is lost or repeated.
//
// A log holds at most maxBytes: the append that reaches the limit keeps what fits and one line
// saying the rest was dropped; later appends are refused ("full"). Appends to one job's log are
// made one at a time (KeyedQueue); the length is the file's size, read under that queue.

import { closeSync, fdatasync, fstatSync, mkdirSync, openSync, statSync, writeSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { promisify } from "node:util";
import { dirname, join } from "node:path";
import { checkUuid } from "../model/validate.ts";
import { invalid } from "../model/errors.ts";
import { KeyedQueue } from "./keyed-queue.ts";

export type AppendResult =
  /** Appended (or already held): the log's length now. */
  | { kind: "ok"; length: number }
  /** The chunk starts beyond the end: nothing written; send from `length`. */
  | { kind: "gap"; length: number }
  /** The log is at its limit: what fits was kept (once), the rest dropped. */
  | { kind: "full"; length: number };

export class JobLogs {
  private readonly queue = new KeyedQueue();

  constructor(readonly dir: string) {}

  /** The file of job `uuid`'s log. Throws (422) for anything that is not a Uuid, so no path escapes `dir`. */
  pathOf(uuid: string): string {
    const r = checkUuid(uuid);
    if (!r.ok) throw invalid("jobs", uuid, `job log: ${r.error}`);
    return join(this.dir, r.value.slice(0, 2), `${r.value}.log`);
  }

  /** Bytes held for job `uuid` (0 when it has no log yet). */
  length(uuid: string): Promise<number> {
    const path = this.pathOf(uuid);
    return this.queue.run(path, async () => sizeOf(path));
  }

  /**
   * Append the chunk that starts at byte `offset` of the log (undefined: at its end), keeping only
   * what lies beyond the bytes held, within `maxBytes`.
   */
  append(uuid: string, offset: number | undefined, chunk: Uint8Array, maxBytes: number): Promise<AppendResult> {
    const path = this.pathOf(uuid);
    return this.queue.run(path, async () => {
      const held = sizeOf(path);
      const at = offset ?? held;
      if (at > held) return { kind: "gap", length: held };
      if (held >= maxBytes) return { kind: "full", length: held };
      const fresh = chunk.subarray(at < held ? await heldPrefix(path, at, chunk.subarray(0, held - at)) : 0);
      if (fresh.length === 0) return { kind: "ok", length: held };
      if (held + fresh.length <= maxBytes) return { kind: "ok", length: await write(path, [fresh]) };
      const note = `\n[socle] log truncated: the job log limit of ${maxBytes} bytes (pref jobLogMaxBytes) is reached; later output is dropped\n`;
      return { kind: "full", length: await write(path, [fresh.subarray(0, maxBytes - held), new TextEncoder().encode(note)]) };
    });
  }

  /** A line of the server's own at the end of the log (what happened to the job), whatever its size. */
  note(uuid: string, line: string): Promise<number> {
    const path = this.pathOf(uuid);
    return this.queue.run(path, async () => {
      const held = sizeOf(path);
      const text = `${held > 0 && (await lastByte(path, held)) !== 0x0a ? "\n" : ""}[socle] ${line.replace(/\n+$/, "")}\n`;
      return write(path, [new TextEncoder().encode(text)]);
    });
  }

  /** The log (empty when the job has none yet). */
  async read(uuid: string): Promise<Uint8Array> {
    return (await this.slice(uuid, () => ({ start: 0 }))).bytes;
  }

  /**
   * The bytes of the log that `want(length)` asks for (from `start` to `end`, exclusive; to the
   * end of the log without one; none for undefined), with the log's length, read in one step:
   * a reader following a growing log gets only what is new.
   */
  slice(uuid: string, want: (length: number) => { start: number; end?: number } | undefined): Promise<{ bytes: Uint8Array; length: number }> {
    const path = this.pathOf(uuid);
    return this.queue.run(path, async () => {
      const length = sizeOf(path);
      const range = want(length);
      if (!range || length === 0) return { bytes: new Uint8Array(0), length };
      const end = Math.min(range.end ?? length, length);
      const bytes = new Uint8Array(Math.max(0, end - range.start));
      if (bytes.length > 0) {
        const fh = await open(path, "r");
        try {
          await fh.read(bytes, 0, bytes.length, range.start);
        } finally {
          await fh.close();
        }
      }
      return { bytes, length };
    });
  }

  /** Remove the log of job `uuid` (nothing when it has none). */
  remove(uuid: string): Promise<void> {
    const path = this.pathOf(uuid);
    return this.queue.run(path, () => rm(path, { force: true }));
  }

  /** Settles when every append started so far has. */
  idle(): Promise<void> {
    return this.queue.idle();
  }
}

// Metadata calls (stat, open, close, mkdir) are made synchronously: each is a few microseconds on a
// local file system, where the thread-pool round trip of its async form costs more than the call
// (bench:jobs: a log append was seven of them). Only fdatasync, which waits for the disk, is async.

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}

/** How many leading bytes of `bytes` the file holds, byte for byte, from `at` on. */
async function heldPrefix(path: string, at: number, bytes: Uint8Array): Promise<number> {
  const fh = await open(path, "r");
  try {
    const have = new Uint8Array(bytes.length);
    const { bytesRead } = await fh.read(have, 0, bytes.length, at);
    let n = 0;
    while (n < bytesRead && have[n] === bytes[n]) n++;
    return n;
  } finally {
    await fh.close();
  }
}

async function lastByte(path: string, size: number): Promise<number> {
  const fh = await open(path, "r");
  try {
    const b = new Uint8Array(1);
    await fh.read(b, 0, 1, size - 1);
    return b[0]!;
  } finally {
    await fh.close();
  }
}

const fdatasyncAsync = promisify(fdatasync);

/** Append `parts` with O_APPEND, durable before it returns; the file's length after. */
async function write(path: string, parts: Uint8Array[]): Promise<number> {
  let fd: number;
  try {
    fd = openSync(path, "a", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 }); // the first log of its directory
    fd = openSync(path, "a", 0o600);
  }
  try {
    for (const p of parts) {
      let done = 0;
      while (done < p.length) done += writeSync(fd, p, done, p.length - done);
    }
    await fdatasyncAsync(fd);
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

