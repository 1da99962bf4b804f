// The few libc calls a device-bound DHCP socket needs, through bun:ffi: socket, setsockopt,
// getsockopt, bind, close and errno. Node's and Bun's dgram APIs cannot set SO_BINDTODEVICE, and
// without it a server on several interfaces cannot tell where a broadcast came from nor make its
// broadcast reply leave by the same interface.
//
// Which libc to open, and how, is src/sys/libc.ts's business.
//
// Constants are Linux's (asm-generic values, identical on x86_64 and aarch64).

import { FFIType } from "bun:ffi";
import { libcCandidates, openLibc } from "../../sys/libc.ts";

export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_BROADCAST = 6;
export const SO_RCVBUF = 8;
/** SO_RCVBUF past net.core.rmem_max; needs CAP_NET_ADMIN. */
export const SO_RCVBUFFORCE = 33;
export const SO_BINDTODEVICE = 25;

export const ERRNO: Record<number, string> = {
  1: "EPERM",
  13: "EACCES",
  19: "ENODEV",
  22: "EINVAL",
  24: "EMFILE",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
};
export const EPERM = 1;
export const EACCES = 13;
export const ENODEV = 19;
export const EADDRINUSE = 98;

export function errnoName(n: number): string {
  return ERRNO[n] ?? `errno ${n}`;
}

export interface SocketLibc {
  /** The library that opened ("libc.so.6"). */
  readonly name: string;
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array): number;
  /** Fills `buf`; returns the option length, or -1 (see errno). */
  getsockopt(fd: number, level: number, name: number, buf: Uint8Array): number;
  bind(fd: number, sockaddr: Uint8Array): number;
  close(fd: number): number;
  /** errno of the last failed call; read it before any other call. */
  errno(): number;
}

export { libcCandidates };

let cached: Promise<SocketLibc | null> | undefined;

/** The socket calls from the first libc that opens, or null when FFI or libc is unavailable. */
export function loadSocketLibc(): Promise<SocketLibc | null> {
  cached ??= load();
  return cached;
}

async function load(): Promise<SocketLibc | null> {
  const opened = await openLibc({
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    setsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    getsockopt: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
  });
  if (!opened) return null;
  const s = opened.lib.symbols;
  const { ptr } = opened.ffi;
  return {
    name: opened.name,
    socket: (d, t, p) => s.socket(d, t, p) as number,
    setsockopt: (fd, level, opt, value) => s.setsockopt(fd, level, opt, ptr(value), value.length) as number,
    getsockopt: (fd, level, opt, buf) => {
      const len = new Uint32Array([buf.length]);
      const rc = s.getsockopt(fd, level, opt, ptr(buf), ptr(len)) as number;
      return rc === 0 ? (len[0] ?? 0) : -1;
    },
    bind: (fd, sa) => s.bind(fd, ptr(sa), sa.length) as number,
    close: (fd) => s.close(fd) as number,
    errno: opened.errno,
  };
}

/** struct sockaddr_in for 0.0.0.0:port (family in host byte order, port in network order). */
export function sockaddrAny(port: number): Uint8Array {
  const sa = new Uint8Array(16);
  new Uint16Array(sa.buffer, 0, 1)[0] = AF_INET;
  new DataView(sa.buffer).setUint16(2, port, false);
  return sa;
}
