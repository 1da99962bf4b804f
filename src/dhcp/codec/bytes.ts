// Byte helpers shared by the codec: IPv4 dotted quads, byte strings, hex. No allocation-heavy tricks;
// these run for every option of every packet.

import { DhcpEncodeError } from "./errors.ts";

/** "a.b.c.d" from 4 bytes at `off`. */
export function ipString(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** 4 bytes from a dotted quad; throws DhcpEncodeError naming `what` on anything else. */
export function ipBytes(ip: string, what = "IPv4 address"): Uint8Array {
  const out = new Uint8Array(4);
  // Hand-rolled (no split, no regex): formatPacket writes four of these per packet.
  let part = 0;
  let digits = 0;
  let v = 0;
  for (let i = 0; i <= ip.length; i++) {
    const c = i < ip.length ? ip.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 3) break;
      out[part++] = v;
      digits = 0;
      v = 0;
    } else if (c >= 0x30 && c <= 0x39 && !(digits === 1 && v === 0)) {
      v = v * 10 + (c - 0x30);
      if (++digits > 3 || v > 255) break;
    } else {
      break;
    }
    if (i === ip.length) {
      if (part === 4) return out;
      break;
    }
  }
  throw new DhcpEncodeError("bad-ip", `invalid ${what} "${ip}": expected 4 dotted decimals 0-255`);
}

/** Writes a dotted quad into `buf` at `off`. */
export function writeIp(buf: Uint8Array, off: number, ip: string, what: string): void {
  buf.set(ipBytes(ip, what), off);
}

/**
 * Bytes to string, one char per byte (latin1). DHCP strings are NVT ASCII by RFC 2132; mapping bytes
 * one-to-one keeps any byte round-trippable, where UTF-8 decoding would replace invalid sequences.
 */
export function byteString(b: Uint8Array, start = 0, end = b.length): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/** Inverse of byteString; rejects characters above U+00FF (they have no single-byte form). */
export function stringBytes(s: string, what: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) {
      throw new DhcpEncodeError("bad-string", `invalid ${what} "${s}": character ${JSON.stringify(s[i])} is not a single byte`);
    }
    out[i] = c;
  }
  return out;
}

/** String up to the first NUL (sname, file, and NUL-terminated options sent by some firmware). */
export function cString(b: Uint8Array, start: number, end: number): string {
  let stop = start;
  while (stop < end && b[stop] !== 0) stop++;
  return byteString(b, start, stop);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function hex(b: Uint8Array, sep = ""): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (i && sep ? sep : "") + HEX[b[i]!];
  return s;
}

export function u16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

export function u32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) >>> 0) + ((b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * A copy of b[start, end) as a plain Uint8Array. Not `b.slice()`: on a Node/Bun Buffer (what UDP
 * sockets deliver) slice returns a view, and a parsed packet must not change when the receive
 * buffer is reused.
 */
export function copyBytes(b: Uint8Array, start = 0, end = b.length): Uint8Array {
  const out = new Uint8Array(Math.max(0, end - start));
  out.set(b.subarray(start, end));
  return out;
}

/** Printable rendering for logs and golden files: printable ASCII as is, anything else as \xNN. */
export function escapeBytes(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c >= 0x20 && c < 0x7f && c !== 0x5c && c !== 0x22) s += String.fromCharCode(c);
    else s += "\\x" + HEX[c];
  }
  return s;
}
