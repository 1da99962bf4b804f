// DATA packets through libc sendto(2) on the transfer socket's own descriptor, to the one peer a
// transfer talks to. Bun's socket.send parses the address and goes through sendmmsg for every
// datagram; here the peer's sockaddr_in is built once per transfer and the call is a plain FFI
// call. Anything else (IPv6, no FFI, no descriptor, a send error) uses Bun's send.

import { FFIType, ptr } from "bun:ffi";
import { openLibc } from "../sys/libc.ts";

interface Sendto {
  sendto(fd: number, buf: Uint8Array, len: number, sockaddr: Uint8Array): number;
}

let loading: Promise<Sendto | null> | undefined;
let loaded: Sendto | null | undefined;

const MSG_DONTWAIT = 0x40;
const AF_INET = 2;

/** Loads sendto once per thread; resolves null when FFI or libc is unavailable. */
export function loadSendto(): Promise<Sendto | null> {
  loading ??= openLibc({
    sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64_fast },
  })
    .then((opened) => {
      if (!opened) return null;
      const fn = opened.lib.symbols.sendto as (fd: number, buf: number, len: number, flags: number, addr: number, alen: number) => number;
      return {
        sendto: (fd: number, buf: Uint8Array, len: number, sockaddr: Uint8Array) => fn(fd, ptr(buf), len, MSG_DONTWAIT, ptr(sockaddr), sockaddr.length),
      };
    })
    .catch(() => null)
    .then((s) => (loaded = s));
  return loading;
}

/** sockaddr_in for an IPv4 address and port, or undefined for anything else. */
export function sockaddrIn(address: string, port: number): Uint8Array | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  const sa = new Uint8Array(16);
  new Uint16Array(sa.buffer, 0, 1)[0] = AF_INET; // sa_family is in host byte order
  sa[2] = port >>> 8;
  sa[3] = port & 0xff;
  sa.set(octets, 4);
  return sa;
}

type Send = (pkt: Uint8Array, port: number, address: string) => void;

/**
 * A send function for one transfer: FFI sendto for packets to the peer when possible, `fallback`
 * otherwise. `fd` is the socket's descriptor (Bun exposes it as `socket.fd`).
 */
export function peerSender(fd: number | undefined, peerAddress: string, peerPort: number, fallback: Send): Send {
  const lib = loaded;
  const sa = sockaddrIn(peerAddress, peerPort);
  if (!lib || !sa || typeof fd !== "number" || fd < 0) return fallback;
  return (pkt, port, address) => {
    if (port !== peerPort || address !== peerAddress) return fallback(pkt, port, address);
    if (lib.sendto(fd, pkt, pkt.length, sa) < 0) {
      // EAGAIN (full send buffer) loses the datagram like a full network would: the transfer's
      // retransmission covers it; Bun's send gets one more try and reports real errors.
      fallback(pkt, port, address);
    }
  };
}
