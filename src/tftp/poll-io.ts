// Blocking receive on a transfer socket's own descriptor through libc, for lockstep transfers run
// as a tight loop on a worker thread (see transfer-session.ts): recvfrom(2) waits in the kernel
// for the ACK, bounded by SO_RCVTIMEO, instead of a trip through Bun's event loop (epoll_wait
// plus a callback) for every block. Loaded once per thread; null when FFI or libc is unavailable.

import { FFIType, ptr } from "bun:ffi";
import { openLibc } from "../sys/libc.ts";

export const EINTR = 4;
export const EAGAIN = 11;
export const ECONNREFUSED = 111;

const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;

export interface BlockingIo {
  /** Clears (`on`) or sets O_NONBLOCK on `fd`; false when fcntl fails. */
  setBlocking(fd: number, on: boolean): boolean;
  /** SO_RCVTIMEO: how long a blocking receive waits before it fails with EAGAIN. */
  setReceiveTimeout(fd: number, ms: number): boolean;
  /**
   * One datagram into `buf`, its sender's sockaddr into `from` (16 bytes, sockaddr_in);
   * the byte count, or minus errno on failure (-EAGAIN when the receive timeout ran out, or at
   * once with MSG_DONTWAIT when nothing is queued).
   */
  recvfrom(fd: number, buf: Uint8Array, from: Uint8Array, flags?: number): number;
}

/** recv(2) flag: return -EAGAIN at once instead of waiting. */
export const MSG_DONTWAIT = 0x40;

let loading: Promise<BlockingIo | null> | undefined;

export function loadBlockingIo(): Promise<BlockingIo | null> {
  loading ??= openLibc({
    recvfrom: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i64_fast },
    fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  })
    .then((opened): BlockingIo | null => {
      if (!opened) return null;
      const s = opened.lib.symbols as unknown as {
        recvfrom(fd: number, buf: number, len: number, flags: number, addr: number, alen: number): number;
        fcntl(fd: number, cmd: number, arg: number): number;
        setsockopt(fd: number, level: number, name: number, val: number, len: number): number;
      };
      // Over its own ArrayBuffer: the storage never moves, so its address is taken once.
      const fromLen = new Uint32Array(new ArrayBuffer(4));
      const fromLenPtr = ptr(fromLen);
      return {
        setBlocking(fd, on) {
          const flags = s.fcntl(fd, F_GETFL, 0);
          if (flags < 0) return false;
          return s.fcntl(fd, F_SETFL, on ? flags & ~O_NONBLOCK : flags | O_NONBLOCK) === 0;
        },
        setReceiveTimeout(fd, ms) {
          // struct timeval on 64-bit Linux: two 64-bit fields (seconds, microseconds).
          const tv = new BigInt64Array([BigInt(Math.floor(ms / 1000)), BigInt(Math.round((ms % 1000) * 1000))]);
          return s.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, ptr(tv), 16) === 0;
        },
        recvfrom(fd, buf, from, flags = 0) {
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
