// poll(2) and recvfrom(2) on transfer sockets' own descriptors through libc, for the transfer
// workers' reactor (reactor.ts): one poll over every transfer socket of the thread, then one
// non-blocking receive per ready socket, instead of a trip through Bun's event loop (epoll_wait
// plus a callback with a fresh buffer and address string) for every ACK. Loaded once per thread;
// null when FFI or libc is unavailable (transfers then stay on Bun's event loop).

import { FFIType, ptr } from "bun:ffi";
import { openLibc } from "../sys/libc.ts";

export const EINTR = 4;
export const EAGAIN = 11;
export const ECONNREFUSED = 111;

/** recv(2) flag: return -EAGAIN at once instead of waiting. */
export const MSG_DONTWAIT = 0x40;
const POLLIN = 0x001;

/** A pollfd array (struct pollfd: int fd; short events; short revents) over its own buffer. */
export class PollSet {
  private i32: Int32Array;
  private i16: Int16Array;
  private cap: number;
  /** Descriptors in the set. */
  count = 0;

  constructor(capacity = 16) {
    this.cap = capacity;
    // Views of an explicit ArrayBuffer: its storage never moves, so ptr() stays valid.
    const ab = new ArrayBuffer(8 * capacity);
    this.i32 = new Int32Array(ab);
    this.i16 = new Int16Array(ab);
  }

  clear(): void {
    this.count = 0;
  }

  /** Adds `fd` (waiting for input); its index is the order of adding. */
  add(fd: number): void {
    if (this.count === this.cap) this.grow();
    const i = this.count++;
    this.i32[2 * i] = fd;
    this.i16[4 * i + 2] = POLLIN;
    this.i16[4 * i + 3] = 0;
  }

  /** What poll reported for entry `i` (0: nothing; input, error or hang-up otherwise). */
  revents(i: number): number {
    return this.i16[4 * i + 3]!;
  }

  /** The array, for poll(2). */
  get pointer(): number {
    return ptr(this.i32);
  }

  private grow(): void {
    const bigger = new ArrayBuffer(16 * this.cap);
    new Int32Array(bigger).set(this.i32);
    this.cap *= 2;
    this.i32 = new Int32Array(bigger);
    this.i16 = new Int16Array(bigger);
  }
}

export interface PollIo {
  /** poll(2) over the set: how many entries have events (0 after `timeoutMs`), or minus errno. */
  poll(set: PollSet, timeoutMs: number): number;
  /**
   * One datagram into `buf`, its sender's sockaddr into `from` (16 bytes, sockaddr_in); the byte
   * count, or minus errno (-EAGAIN at once when nothing is queued, with the default MSG_DONTWAIT).
   */
  recvfrom(fd: number, buf: Uint8Array, from: Uint8Array, flags?: number): number;
}

let loading: Promise<PollIo | null> | undefined;

export function loadPollIo(): Promise<PollIo | null> {
  loading ??= openLibc({
    poll: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
    recvfrom: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i64_fast },
  })
    .then((opened): PollIo | null => {
      if (!opened) return null;
      const s = opened.lib.symbols as unknown as {
        poll(fds: number, n: number, timeout: number): number;
        recvfrom(fd: number, buf: number, len: number, flags: number, addr: number, alen: number): number;
      };
      const fromLen = new Uint32Array(new ArrayBuffer(4));
      const fromLenPtr = ptr(fromLen);
      return {
        poll(set, timeoutMs) {
          const n = s.poll(set.pointer, set.count, Math.max(0, Math.floor(timeoutMs)));
          return n >= 0 ? n : -opened.errno();
        },
        recvfrom(fd, buf, from, flags = MSG_DONTWAIT) {
          // ptr() each time: a small typed array's storage moves when a view of its buffer is made.
          fromLen[0] = from.length;
          const n = s.recvfrom(fd, ptr(buf), buf.length, flags, ptr(from), fromLenPtr);
          return n >= 0 ? n : -opened.errno();
        },
      };
    })
    .catch(() => null);
  return loading;
}

/** The port and dotted address of an AF_INET sockaddr, or undefined for another family. */
export function parseSockaddrIn(sa: Uint8Array): { port: number; address: string } | undefined {
  if (sa.length < 8 || new Uint16Array(sa.buffer, sa.byteOffset, 1)[0] !== 2) return undefined;
  return { port: (sa[2]! << 8) | sa[3]!, address: `${sa[4]}.${sa[5]}.${sa[6]}.${sa[7]}` };
}

/** Same family, port and address (the first 8 bytes of two sockaddr_in). */
export function sameSockaddrIn(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 8; i++) if (a[i] !== b[i]) return false;
  return true;
}
