// The bytes of one file as a transfer needs them: a sliding window over a ReadableStream or a file
// read synchronously, filled in large chunks ahead of the blocks being sent, so that most ACKs are
// answered synchronously and a retransmitted window is still at hand. Bytes before the oldest
// unacknowledged block are released. netascii (RFC 764 line ends) is applied while filling:
// LF -> CR LF, CR -> CR NUL.
//
// A synchronous source (a file on a transfer worker, read like tftpd-hpa reads it) never makes the
// transfer wait for a promise, so the worker's reactor can keep it in its loop.

import { closeSync, openSync, readSync } from "node:fs";

export interface BlockData {
  /** True when [offset, offset + length) is buffered, or the content ends before that. */
  has(offset: number, length: number): boolean;
  /** Resolves once has(offset, length) holds; rejects when the stream fails. */
  fill(offset: number, length: number): Promise<void>;
  /** Copies up to `length` bytes from `offset` into dst at `at`; fewer only at the end of content. */
  copy(offset: number, length: number, dst: Uint8Array, at: number): number;
  /** The caller needs nothing before `offset` any more. */
  release(offset: number): void;
  /** Stops reading (abandoned transfer); idempotent. */
  cancel(): void;
}

/** Bytes read on the caller's thread: `read` fills `dst` from the current position, 0 at the end. */
export interface SyncSource {
  read(dst: Uint8Array): number;
  /** Idempotent. */
  close(): void;
}

/** A file read from its start with pread(2); opened at once (a missing file throws here). */
export function syncFile(path: string): SyncSource {
  let fd: number | undefined = openSync(path, "r");
  let pos = 0;
  return {
    read(dst) {
      if (fd === undefined) throw new Error("read after close");
      const n = readSync(fd, dst, 0, dst.length, pos);
      pos += n;
      return n;
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

const SYNC_CHUNK = 64 * 1024;

export interface StreamBufferOptions {
  /** Bytes to read beyond what was asked, so the next windows need no wait. */
  readAhead?: number;
  netascii?: boolean;
}

export class StreamBuffer implements BlockData {
  private buf = new Uint8Array(0);
  private start = 0; // index in buf of the byte at file offset `base`
  private len = 0;
  private base = 0;
  private eof = false;
  private failure: Error | undefined;
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  /** The synchronous source, once opened (StreamBuffer.sync). */
  private syncSrc: SyncSource | undefined;
  private openSync: (() => SyncSource) | undefined;
  private pumping: Promise<void> | undefined;
  private cancelled = false;
  private readonly readAhead: number;
  private readonly netascii: boolean;

  /** `open` is called on the first fill: a probe that never asks for data never reads. */
  /** A buffer over a synchronous source, opened on the first need of data. */
  static sync(open: () => SyncSource, opts: StreamBufferOptions = {}): StreamBuffer {
    const b = new StreamBuffer(() => {
      throw new Error("a synchronous StreamBuffer has no stream");
    }, opts);
    b.openSync = open;
    return b;
  }

  constructor(
    private readonly open: () => ReadableStream<Uint8Array>,
    opts: StreamBufferOptions = {},
  ) {
    this.readAhead = opts.readAhead ?? 256 * 1024;
    this.netascii = opts.netascii ?? false;
  }

  has(offset: number, length: number): boolean {
    if (this.failure) return false;
    let end = this.base + this.len;
    if (!this.eof && !this.pumping && end < offset + length + this.readAhead / 2) {
      const sync = this.openSync && this.syncSource(this.openSync);
      if (this.failure) return false;
      if (sync) {
        this.pullSync(sync, offset + length + this.readAhead);
        if (this.failure) return false;
        end = this.base + this.len;
      } else if (end >= offset + length) {
        // Keep reading ahead in the background while the client catches up.
        this.startPump(offset + length + this.readAhead);
      }
    }
    return end >= offset + length || this.eof;
  }

  async fill(offset: number, length: number): Promise<void> {
    for (let round = 0; round < 1_000_000 && !this.has(offset, length); round++) {
      if (this.failure) throw this.failure;
      if (this.cancelled) throw new Error("read cancelled");
      await (this.pumping ?? this.startPump(offset + length + this.readAhead));
    }
    if (this.failure) throw this.failure;
  }

  copy(offset: number, length: number, dst: Uint8Array, at: number): number {
    const from = offset - this.base;
    if (from < 0) throw new RangeError(`copy: offset ${offset} was released (buffer starts at ${this.base})`);
    const n = Math.max(0, Math.min(length, this.len - from));
    if (n > 0) dst.set(this.buf.subarray(this.start + from, this.start + from + n), at);
    return n;
  }

  release(offset: number): void {
    const drop = Math.min(Math.max(0, offset - this.base), this.len);
    this.start += drop;
    this.len -= drop;
    this.base += drop;
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.reader?.cancel().catch(() => {});
    this.syncSrc?.close();
    this.buf = new Uint8Array(0);
    this.start = this.len = 0;
  }

  /** The synchronous source, opened on first use; undefined when opening failed (see failure). */
  private syncSource(open: () => SyncSource): SyncSource | undefined {
    if (this.syncSrc === undefined && !this.cancelled && !this.failure) {
      try {
        this.syncSrc = open();
      } catch (e) {
        this.failure = e instanceof Error ? e : new Error(String(e));
      }
    }
    return this.syncSrc;
  }

  private pullSync(src: SyncSource, target: number): void {
    try {
      while (!this.cancelled && this.base + this.len < target) {
        const want = Math.max(SYNC_CHUNK, target - this.base - this.len);
        let n: number;
        if (this.netascii) {
          const raw = new Uint8Array(want);
          n = src.read(raw);
          if (n > 0) this.append(toNetascii(raw.subarray(0, n)));
        } else {
          this.reserve(want);
          n = src.read(this.buf.subarray(this.start + this.len, this.start + this.len + want));
          this.len += n;
        }
        if (n === 0) {
          this.eof = true;
          src.close();
          break;
        }
      }
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
      src.close();
    }
  }

  private startPump(target: number): Promise<void> {
    const run = async () => {
      try {
        const sync = this.openSync && this.syncSource(this.openSync);
        if (this.openSync) {
          if (sync) this.pullSync(sync, target);
          return;
        }
        const reader = (this.reader ??= this.open().getReader() as ReadableStreamDefaultReader<Uint8Array>);
        for (let i = 0; i < 1_000_000 && !this.cancelled && this.base + this.len < target; i++) {
          const r = await reader.read();
          if (r.done) {
            this.eof = true;
            break;
          }
          if (!this.cancelled) this.append(this.netascii ? toNetascii(r.value) : r.value);
        }
      } catch (e) {
        this.failure = e instanceof Error ? e : new Error(String(e));
      } finally {
        this.pumping = undefined;
      }
    };
    this.pumping = run();
    return this.pumping;
  }

  private append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.reserve(chunk.length);
    this.buf.set(chunk, this.start + this.len);
    this.len += chunk.length;
  }

  /** Room for `n` more bytes after the buffered ones (compacting or growing the buffer). */
  private reserve(n: number): void {
    if (this.start + this.len + n <= this.buf.length) return;
    if (this.len + n <= this.buf.length) {
      this.buf.copyWithin(0, this.start, this.start + this.len);
    } else {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + n, 64 * 1024));
      grown.set(this.buf.subarray(this.start, this.start + this.len));
      this.buf = grown;
    }
    this.start = 0;
  }
}

export function toNetascii(chunk: Uint8Array): Uint8Array {
  let extra = 0;
  for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10 || chunk[i] === 13) extra++;
  if (extra === 0) return chunk;
  const out = new Uint8Array(chunk.length + extra);
  let p = 0;
  for (let i = 0; i < chunk.length; i++) {
    const c = chunk[i]!;
    if (c === 10) {
      out[p++] = 13;
      out[p++] = 10;
    } else if (c === 13) {
      out[p++] = 13;
      out[p++] = 0;
    } else out[p++] = c;
  }
  return out;
}
