// The framing of the HA pair's connection, pure over bytes.
//
//   u32 BE  frame length: the whole frame, these four bytes included (so at least 8)
//   u32 BE  header length
//   ...     header: UTF-8 JSON object with a string field T (the message type)
//   ...     body: the rest of the frame, raw bytes (file chunks); absent when empty
//
// The header says what a frame is, the body carries bulk bytes without base64. A reader learns a
// frame's size from its first four bytes and refuses one over its limit at once: a peer (or
// anyone before authentication) cannot make it hold more than the limit, and bytes are kept as
// received until the frame is complete, so a claimed size costs nothing until it arrives.

export type HaMessage = { T: string } & Record<string, unknown>;

export interface Frame {
  header: HaMessage;
  body: Uint8Array | undefined;
}

/** The largest frame a connection takes by default: a file chunk or a batch of changes fits well below. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
const PREFIX_BYTES = 8;

export class FrameError extends Error {
  override name = "FrameError";
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/** One frame of `header` and `body`. Throws FrameError for a header without a string T, or a frame over `maxFrameBytes`. */
export function encodeFrame(header: HaMessage, body?: Uint8Array, maxFrameBytes = MAX_FRAME_BYTES): Uint8Array {
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new FrameError("encode frame: the header is not an object");
  if (typeof header.T !== "string" || header.T === "") throw new FrameError(`encode frame: header field T is ${describe(header.T)}, expected a non-empty string`);
  let json: string;
  try {
    json = JSON.stringify(header);
  } catch (e) {
    throw new FrameError(`encode frame ${header.T}: header is not JSON-serialisable (${(e as Error).message})`);
  }
  const head = utf8.encode(json);
  const bodyLen = body?.length ?? 0;
  const total = PREFIX_BYTES + head.length + bodyLen;
  if (total > maxFrameBytes) throw new FrameError(`encode frame ${header.T}: ${total} bytes is more than the limit of ${maxFrameBytes}`);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, total);
  view.setUint32(4, head.length);
  out.set(head, PREFIX_BYTES);
  if (body && bodyLen > 0) out.set(body, PREFIX_BYTES + head.length);
  return out;
}

/**
 * Turns a byte stream, in chunks of any size, into frames. After it has thrown, the stream is out
 * of step and the reader refuses everything: the connection must be dropped.
 */
export class FrameReader {
  readonly maxFrameBytes: number;
  private chunks: Uint8Array[] = [];
  private held = 0;
  private failed: FrameError | undefined;

  constructor(opts: { maxFrameBytes?: number } = {}) {
    const max = opts.maxFrameBytes ?? MAX_FRAME_BYTES;
    if (!Number.isSafeInteger(max) || max < PREFIX_BYTES || max > 0xffffffff) throw new RangeError(`FrameReader: maxFrameBytes ${max} is not an integer from ${PREFIX_BYTES} to ${0xffffffff}`);
    this.maxFrameBytes = max;
  }

  /** Bytes received and not yet part of a returned frame. */
  get bufferedBytes(): number {
    return this.held;
  }

  /** Feed `chunk`; returns the frames it completed, in order. Throws FrameError on a bad frame. */
  push(chunk: Uint8Array): Frame[] {
    if (this.failed) throw this.failed;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.held += chunk.length;
    }
    const out: Frame[] = [];
    try {
      for (;;) {
        if (this.held < 4) break;
        const total = this.peekU32(0);
        if (total < PREFIX_BYTES) throw new FrameError(`frame length ${total} is less than the ${PREFIX_BYTES} bytes of the two lengths`);
        if (total > this.maxFrameBytes) throw new FrameError(`frame length ${total} is more than the limit of ${this.maxFrameBytes} bytes`);
        if (this.held < total) {
          if (this.held >= PREFIX_BYTES) this.checkHeaderLength(total);
          break;
        }
        const frame = this.take(total);
        out.push(decodeFrame(frame));
      }
    } catch (e) {
      this.failed = e instanceof FrameError ? e : new FrameError(String((e as Error)?.message ?? e));
      this.chunks = [];
      this.held = 0;
      throw this.failed;
    }
    return out;
  }

  /** A header length that cannot fit is refused before the rest of the frame arrives. */
  private checkHeaderLength(total: number): void {
    const headLen = this.peekU32(4);
    if (headLen > total - PREFIX_BYTES) throw new FrameError(`header length ${headLen} is larger than the frame (${total - PREFIX_BYTES} bytes after the two lengths)`);
  }

  private peekU32(at: number): number {
    let v = 0;
    let need = 4;
    let skip = at;
    for (const c of this.chunks) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      for (let i = skip; i < c.length && need > 0; i++, need--) v = v * 256 + (c[i] as number);
      skip = 0;
      if (need === 0) break;
    }
    return v;
  }

  /** Remove and return the first `n` held bytes as one array. */
  private take(n: number): Uint8Array {
    const first = this.chunks[0] as Uint8Array;
    let out: Uint8Array;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = new Uint8Array(n);
      let off = 0;
      while (off < n) {
        const c = this.chunks[0] as Uint8Array;
        const want = Math.min(n - off, c.length);
        out.set(c.subarray(0, want), off);
        off += want;
        if (want === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(want);
      }
    }
    this.held -= n;
    return out;
  }
}

/** One whole frame (its length already checked) to header and body. */
function decodeFrame(frame: Uint8Array): Frame {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const total = view.getUint32(0);
  const headLen = view.getUint32(4);
  if (headLen > total - PREFIX_BYTES) throw new FrameError(`header length ${headLen} is larger than the frame (${total - PREFIX_BYTES} bytes after the two lengths)`);
  let text: string;
  try {
    text = utf8Strict.decode(frame.subarray(PREFIX_BYTES, PREFIX_BYTES + headLen));
  } catch {
    throw new FrameError(`frame header of ${headLen} bytes is not UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new FrameError(`frame header is not JSON (${(e as Error).message}): ${JSON.stringify(text.slice(0, 60))}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new FrameError(`frame header is ${describe(header)}, expected a JSON object`);
  const t = (header as Record<string, unknown>).T;
  if (typeof t !== "string" || t === "") throw new FrameError(`frame header field T is ${describe(t)}, expected a non-empty string`);
  const bodyLen = total - PREFIX_BYTES - headLen;
  // The body is copied out: the frame may be a view into a large chunk, which it would keep alive.
  const body = bodyLen > 0 ? frame.slice(PREFIX_BYTES + headLen, total) : undefined;
  return { header: header as HaMessage, body };
}

function describe(v: unknown): string {
  if (v === undefined) return "missing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return v === "" ? "an empty string" : `the string ${JSON.stringify(v.slice(0, 40))}`;
  const t = typeof v;
  return `${t === "object" || t === "undefined" ? "an" : "a"} ${t} (${JSON.stringify(v)?.slice(0, 40)})`;
}

// The enrolment exchange, the one conversation a node without a certificate of the pair may have
// (transport.ts lets an unauthenticated connection send one Enrol frame; enrol.ts answers it).

/** Joining node -> first node. The private key stays with the joiner: only its CSR travels. */
export interface EnrolRequest {
  T: "Enrol";
  /** The one-time secret the first node issued (base32). */
  secret: string;
  /** The name the joiner asks its certificate to carry. */
  nodeName: string;
  /** PKCS#10 request, PEM, signed by the joiner's new key. */
  csrPem: string;
  /** The joiner's address on the LAN, a path the first node may dial back on. */
  lanAddress: string;
}

/** First node -> joiner, when the secret and request are accepted. */
export interface Enrolled {
  T: "Enrolled";
  certPem: string;
  caPem: string;
  /** The first node's own name: the joiner's peer. */
  peerName: string;
  clusterId: string;
  vip: string;
  slot: 1;
}

export interface EnrolRefused {
  T: "EnrolRefused";
  reason: string;
}

export type EnrolAnswer = Enrolled | EnrolRefused;

/** Longest secret, name, CSR and address an Enrol frame may carry (a CSR of an 8192-bit key is ~3.5 kB). */
const ENROL_FIELD_MAX = { secret: 200, nodeName: 200, csrPem: 16 * 1024, lanAddress: 100 } as const;

/** An Enrol header as a typed request, or why it is not one (the field and its value). */
export function parseEnrolRequest(h: HaMessage): EnrolRequest | { problem: string } {
  if (h.T !== "Enrol") return { problem: `message type is ${JSON.stringify(h.T)}, expected "Enrol"` };
  for (const [field, max] of Object.entries(ENROL_FIELD_MAX)) {
    const v = h[field];
    if (typeof v !== "string") return { problem: `Enrol field ${field} is ${describe(v)}, expected a string` };
    if (v.length > max) return { problem: `Enrol field ${field} is ${v.length} characters, more than ${max}` };
  }
  return { T: "Enrol", secret: h.secret as string, nodeName: h.nodeName as string, csrPem: h.csrPem as string, lanAddress: h.lanAddress as string };
}
