// epoll(7) and recvfrom(2) on transfer sockets' own descriptors through libc, for the transfer
// workers' reactor (reactor.ts): one epoll instance per thread holds every transfer socket, so a
// wakeup costs the ready sockets only (poll(2) walks every descriptor on every call), then one
// non-blocking receive per ready socket, instead of a trip through Bun's event loop (its own
// epoll_wait plus a callback with a fresh buffer and address string) for every ACK. A socket may
// sit in Bun's epoll and in this one at once; level-triggered, each sees it ready. Loaded once per
// thread; null when FFI, libc or epoll is unavailable (transfers then stay on Bun's event loop).

import { FFIType, ptr } from "bun:ffi";
import { openLibc } from "../sys/libc.ts";

export const EINTR = 4;
export const EAGAIN = 11;
export const ECONNREFUSED = 111;

/** recv(2) flag: return -EAGAIN at once instead of waiting. */
export const MSG_DONTWAIT = 0x40;
const EPOLLIN = 0x001;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CLOEXEC = 0o2000000;

/**
 * struct epoll_event is { uint32 events; uint64 data } packed to 12 bytes on x86-64 (the kernel's
 * __EPOLL_PACKED), naturally aligned to 16 elsewhere: the stride and where `data` starts, in
 * 32-bit words. `data` holds a 32-bit token (little-endian: its low word).
 */
const EVENT_WORDS = process.arch === "x64" ? 3 : 4;
const DATA_WORD = process.arch === "x64" ? 1 : 2;

/** Ready sockets from one wait; each carries the token it was added with. */
export interface ReadySet {
  /** Watch `fd` for input; `token` comes back with it. 0, or minus errno. */
  add(fd: number, token: number): number;
  /** Stop watching `fd` (before it is closed). 0, or minus errno. */
  remove(fd: number): number;
  /** Waits up to `timeoutMs` (0: not at all): how many are ready (see token()), or minus errno. */
  wait(timeoutMs: number): number;
  /** The token of ready entry `i` of the last wait. */
  token(i: number): number;
  close(): void;
}

export interface PollIo {
  /** A new epoll instance, or minus errno. */
  readySet(maxEvents?: number): ReadySet | number;
  /**
   * One datagram into `buf`, its sender's sockaddr into `from` (16 bytes, sockaddr_in); the byte
   * count, or minus errno (-EAGAIN at once when nothing is queued, with the default MSG_DONTWAIT).
   */
  recvfrom(fd: number, buf: Uint8Array, from: Uint8Array, flags?: number): number;
  /**
   * recvfrom with MSG_DONTWAIT into fixed buffers, their addresses taken once: `buf` and `from`
   * must be views of an ArrayBuffer of their own (new Uint8Array(new ArrayBuffer(n))), whose
   * storage never moves (a small typed array made from a length may move when a view is made).
   */
  receiver(buf: Uint8Array, from: Uint8Array): (fd: number) => number;
}

let loading: Promise<PollIo | null> | undefined;

export function loadPollIo(): Promise<PollIo | null> {
  loading ??= openLibc({
    epoll_create1: { args: [FFIType.i32], returns: FFIType.i32 },
    epoll_ctl: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    epoll_wait: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    recvfrom: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i64_fast },
  })
    .then((opened): PollIo | null => {
      if (!opened) return null;
      const s = opened.lib.symbols as unknown as {
        epoll_create1(flags: number): number;
        epoll_ctl(epfd: number, op: number, fd: number, ev: number): number;
        epoll_wait(epfd: number, evs: number, max: number, timeout: number): number;
        close(fd: number): number;
        recvfrom(fd: number, buf: number, len: number, flags: number, addr: number, alen: number): number;
      };
      const errno = () => -opened.errno();
      const fromLen = new Uint32Array(new ArrayBuffer(4));
      const fromLenPtr = ptr(fromLen);
      const one = new Uint32Array(new ArrayBuffer(16));
      const onePtr = ptr(one);
      const readySet = (maxEvents = 64): ReadySet | number => {
        const epfd = s.epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0) return errno();
        const events = new Uint32Array(new ArrayBuffer(4 * EVENT_WORDS * maxEvents));
        const eventsPtr = ptr(events);
        let open = true;
        return {
          add(fd, token) {
            one.fill(0);
            one[0] = EPOLLIN;
            one[DATA_WORD] = token >>> 0;
            return s.epoll_ctl(epfd, EPOLL_CTL_ADD, fd, onePtr) === 0 ? 0 : errno();
          },
          remove(fd) {
            return s.epoll_ctl(epfd, EPOLL_CTL_DEL, fd, onePtr) === 0 ? 0 : errno();
          },
          wait(timeoutMs) {
            const n = s.epoll_wait(epfd, eventsPtr, maxEvents, Math.max(0, Math.floor(timeoutMs)));
            return n >= 0 ? n : errno();
          },
          token(i) {
            return events[i * EVENT_WORDS + DATA_WORD]!;
          },
          close() {
            if (open) s.close(epfd);
            open = false;
          },
        };
      };
      // Probe once: a kernel or libc without epoll leaves transfers on the event loop.
      const probe = readySet(1);
      if (typeof probe === "number") return null;
      probe.close();
      return {
        readySet,
        recvfrom(fd, buf, from, flags = MSG_DONTWAIT) {
          // ptr() each time: a small typed array's storage moves when a view of its buffer is made.
          fromLen[0] = from.length;
          const n = s.recvfrom(fd, ptr(buf), buf.length, flags, ptr(from), fromLenPtr);
          return n >= 0 ? n : errno();
        },
        receiver(buf, from) {
          // Reading .buffer first pins a small typed array's storage (it would move on the first
          // view made of it later), so addresses taken once stay valid; the closure holds the
          // arrays with their addresses, as one that used only the addresses would let them be
          // collected and their memory reused.
          void buf.buffer;
          void from.buffer;
          const io = { buf, from, bufAt: ptr(buf), fromAt: ptr(from), len: buf.length, fromSize: from.length };
          return (fd) => {
            fromLen[0] = io.fromSize;
            const n = s.recvfrom(fd, io.bufAt, io.len, MSG_DONTWAIT, io.fromAt, fromLenPtr);
            return n >= 0 ? n : errno();
          };
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
