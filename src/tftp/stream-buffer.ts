// The bytes of one file as a transfer needs them: a sliding window over a ReadableStream, filled in
// large chunks ahead of the blocks being sent, so that most ACKs are answered synchronously and a
// retransmitted window is still at hand. Bytes before the oldest unacknowledged block are released.
// netascii (RFC 764 line ends) is applied while filling: LF -> CR LF, CR -> CR NUL.

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
  private pumping: Promise<void> | undefined;
  private cancelled = false;
  private readonly readAhead: number;
  private readonly netascii: boolean;

  /** `open` is called on the first fill: a probe that never asks for data never reads. */
  constructor(
    private readonly open: () => ReadableStream<Uint8Array>,
    opts: StreamBufferOptions = {},
  ) {
    this.readAhead = opts.readAhead ?? 256 * 1024;
    this.netascii = opts.netascii ?? false;
  }

  has(offset: number, length: number): boolean {
    if (this.failure) return false;
    const end = this.base + this.len;
    if (end >= offset + length) {
      // Keep reading ahead in the background while the client catches up.
      if (!this.eof && !this.pumping && end < offset + length + this.readAhead / 2) this.startPump(offset + length + this.readAhead);
      return true;
    }
    return this.eof;
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
    this.buf = new Uint8Array(0);
    this.start = this.len = 0;
  }

  private startPump(target: number): Promise<void> {
    const run = async () => {
      try {
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
    if (this.start + this.len + chunk.length > this.buf.length) {
      if (this.len + chunk.length <= this.buf.length) {
        this.buf.copyWithin(0, this.start, this.start + this.len);
      } else {
        const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + chunk.length, 64 * 1024));
        grown.set(this.buf.subarray(this.start, this.start + this.len));
        this.buf = grown;
      }
      this.start = 0;
    }
    this.buf.set(chunk, this.start + this.len);
    this.len += chunk.length;
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
