// DATA packets through libc sendto(2) on the transfer socket's own descriptor, to the one peer a
// transfer talks to. Bun's socket.send parses the address and goes through sendmmsg for every
// datagram; here the peer's sockaddr_in is built once per transfer and the call is a plain FFI
// call. Anything else (IPv6, no FFI, no descriptor, a send error) uses Bun's send.

import { FFIType, ptr } from "bun:ffi";
import { openLibc } from "../sys/libc.ts";

interface Sendto {
  /** `sockaddrPtr` is ptr() of a sockaddr_in that never moves (see sockaddrIn). */
  sendto(fd: number, buf: Uint8Array, len: number, sockaddrPtr: number): number;
  ptr: typeof ptr;
}

let loading: Promise<Sendto | null> | undefined;
let loaded: Sendto | null | undefined;

const MSG_DONTWAIT = 0x40;
const AF_INET = 2;
const SOCKADDR_IN_SIZE = 16;

/** Loads sendto once per thread; resolves null when FFI or libc is unavailable. */
export function loadSendto(): Promise<Sendto | null> {
  loading ??= openLibc({
    sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64_fast },
  })
    .then((opened) => {
      if (!opened) return null;
      const fn = opened.lib.symbols.sendto as (fd: number, buf: number, len: number, flags: number, addr: number, alen: number) => number;
      // The last buffer sent and its address: a transfer sends from one packet buffer over an
      // ArrayBuffer of its own (transfer.ts), so ptr() runs once per transfer, not per block.
      let lastBuf: Uint8Array | undefined;
      let lastPtr = 0;
      return {
        sendto: (fd: number, buf: Uint8Array, len: number, sockaddrPtr: number) => {
          if (buf !== lastBuf) {
            // Only a whole-buffer view is kept (reading .buffer first pins a small array's storage,
            // so the address taken after it holds); others are looked up each time.
            lastBuf = buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength ? buf : undefined;
            lastPtr = ptr(buf);
          }
          return fn(fd, lastPtr, len, MSG_DONTWAIT, sockaddrPtr, SOCKADDR_IN_SIZE);
        },
        ptr,
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
  // Its own ArrayBuffer: the storage never moves, so its ptr() stays valid.
  const sa = new Uint8Array(new ArrayBuffer(SOCKADDR_IN_SIZE));
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
  // The closure holds `sa` with its address, not the address alone: a closure keeps only the
  // variables it uses, and once `sa` were collected its memory would be reused (seen with a
  // FinalizationRegistry: DATA then went to whatever address the next 16-byte buffer held).
  const peer = { sa, at: lib.ptr(sa) };
  return (pkt, port, address) => {
    if (port !== peerPort || address !== peerAddress) return fallback(pkt, port, address);
    if (lib.sendto(fd, pkt, pkt.length, peer.at) < 0) {
      // EAGAIN (full send buffer) loses the datagram like a full network would: the transfer's
      // retransmission covers it; Bun's send gets one more try and reports real errors.
      fallback(pkt, port, address);
    }
  };
}
