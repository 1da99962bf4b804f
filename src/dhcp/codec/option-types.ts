// Decoders and encoders for the plain value shapes of RFC 2132 options: addresses, integers, strings,
// lists. Decoders take the option's (RFC 3396 concatenated) data and throw DhcpParseError naming the
// option; encoders throw DhcpEncodeError naming the option and quoting the value.

import { byteString, ipBytes, ipString, stringBytes, u16, u32 } from "./bytes.ts";
import { DhcpEncodeError, DhcpParseError } from "./errors.ts";
import { optionName } from "./option-codes.ts";

export function label(code: number): string {
  return `option ${code} (${optionName(code)})`;
}

export function parseFail(code: number, reason: string, detail: string): DhcpParseError {
  return new DhcpParseError(reason, `decode ${label(code)}: ${detail}`);
}

export function encodeFail(code: number, reason: string, detail: string): DhcpEncodeError {
  return new DhcpEncodeError(reason, `encode ${label(code)}: ${detail}`);
}

function needLength(code: number, d: Uint8Array, n: number): void {
  if (d.length !== n) throw parseFail(code, "bad-length", `must be ${n} bytes, got ${d.length}`);
}

function needMultiple(code: number, d: Uint8Array, n: number, min: number): void {
  if (d.length < min || d.length % n !== 0) {
    throw parseFail(code, "bad-length", `length ${d.length} is not a ${min ? "non-zero " : ""}multiple of ${n}`);
  }
}

export function decodeIp(code: number, d: Uint8Array): string {
  needLength(code, d, 4);
  return ipString(d);
}

export function encodeIp(code: number, ip: string): Uint8Array {
  return ipBytes(ip, label(code));
}

/** RFC 2132 address lists carry at least one address. */
export function decodeIpList(code: number, d: Uint8Array): string[] {
  needMultiple(code, d, 4, 4);
  const out: string[] = [];
  for (let i = 0; i < d.length; i += 4) out.push(ipString(d, i));
  return out;
}

export function encodeIpList(code: number, ips: readonly string[]): Uint8Array {
  if (ips.length === 0) throw encodeFail(code, "empty-list", "needs at least one address");
  const out = new Uint8Array(ips.length * 4);
  ips.forEach((ip, i) => out.set(ipBytes(ip, label(code)), i * 4));
  return out;
}

export function decodeU8(code: number, d: Uint8Array): number {
  needLength(code, d, 1);
  return d[0]!;
}

export function decodeU16(code: number, d: Uint8Array): number {
  needLength(code, d, 2);
  return u16(d, 0);
}

export function decodeU32(code: number, d: Uint8Array): number {
  needLength(code, d, 4);
  return u32(d, 0);
}

export function decodeI32(code: number, d: Uint8Array): number {
  needLength(code, d, 4);
  return u32(d, 0) | 0;
}

function checkInt(code: number, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw encodeFail(code, "bad-integer", `value ${v} is not an integer in ${min}..${max}`);
  }
}

export function encodeU8(code: number, v: number): Uint8Array {
  checkInt(code, v, 0, 0xff);
  return Uint8Array.of(v);
}

export function encodeU16(code: number, v: number): Uint8Array {
  checkInt(code, v, 0, 0xffff);
  return Uint8Array.of(v >>> 8, v & 0xff);
}

export function encodeU32(code: number, v: number): Uint8Array {
  checkInt(code, v, 0, 0xffffffff);
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

export function encodeI32(code: number, v: number): Uint8Array {
  checkInt(code, v, -0x80000000, 0x7fffffff);
  return encodeU32(code, v >>> 0);
}

/** Lists of 16-bit values (option 93 client architectures). Empty is allowed and decodes to []. */
export function decodeU16List(code: number, d: Uint8Array): number[] {
  needMultiple(code, d, 2, 0);
  const out: number[] = [];
  for (let i = 0; i < d.length; i += 2) out.push(u16(d, i));
  return out;
}

export function encodeU16List(code: number, vs: readonly number[]): Uint8Array {
  const out = new Uint8Array(vs.length * 2);
  vs.forEach((v, i) => out.set(encodeU16(code, v), i * 2));
  return out;
}

export function decodeU8List(_code: number, d: Uint8Array): number[] {
  return Array.from(d);
}

export function encodeU8List(code: number, vs: readonly number[]): Uint8Array {
  vs.forEach((v) => checkInt(code, v, 0, 0xff));
  return Uint8Array.from(vs);
}

/**
 * NVT ASCII strings. RFC 2132 says they are not NUL-terminated, but PXE ROMs and some servers add a
 * trailing NUL to 67 and 60; trailing NULs are dropped on decode (the raw bytes stay untouched).
 */
export function decodeString(_code: number, d: Uint8Array): string {
  let end = d.length;
  while (end > 0 && d[end - 1] === 0) end--;
  return byteString(d, 0, end);
}

export function encodeString(code: number, s: string): Uint8Array {
  return stringBytes(s, label(code));
}
