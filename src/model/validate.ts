// Value validators shared by the schemas, the query parser and the protocol servers.
// Each check returns the normalised value or an error message that quotes the input, so a caller
// can prefix the field path: `HardwareAddrs[1]: invalid MAC "zz:01": bad hex digit "z"`.

import { badRequest } from "./errors.ts";

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const fail = <T>(error: string): Checked<T> => ({ ok: false, error });

/** JSON.stringify that never throws and keeps long values readable in messages. */
export function quote(v: unknown): string {
  let s: string;
  try {
    s = typeof v === "string" ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

// --- names ------------------------------------------------------------------------------------

export const NAME_MAX = 255;

/**
 * Object names (and other keys used in URLs): 1..255 characters, no "/", "\" or ":" (so that
 * `Name:n1` index keys parse unambiguously), no control characters, no leading/trailing space.
 */
export function checkName(v: string): Checked<string> {
  const bad = (why: string) => fail<string>(`invalid name ${quote(v)}: ${why}`);
  if (v.length === 0) return bad("must not be empty");
  if (v.length > NAME_MAX) return bad(`is ${v.length} characters long, at most ${NAME_MAX} allowed`);
  for (const ch of ["/", "\\", ":"]) if (v.includes(ch)) return bad(`contains ${quote(ch)}`);
  // eslint-disable-next-line no-control-regex
  const ctl = /[\u0000-\u001f\u007f]/.exec(v);
  if (ctl) return bad(`contains control character U+${ctl[0].charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (v.trim() !== v) return bad("has leading or trailing white space");
  return ok(v);
}

// --- hardware addresses -----------------------------------------------------------------------

/**
 * Hardware addresses: Ethernet (6 bytes) and InfiniBand (20 bytes), written as `aa:bb:..`,
 * `aa-bb-..` or Cisco's `aabb.ccdd.eeff`, any case. Normalised to lower-case colon form.
 */
export function checkMac(v: string): Checked<string> {
  const bad = (why: string) => fail<string>(`invalid MAC ${quote(v)}: ${why}`);
  if (v.length === 0) return bad("is empty");
  let hex: string[];
  if (v.includes(".") && !v.includes(":") && !v.includes("-")) {
    const groups = v.split(".");
    for (const g of groups) {
      if (g.length !== 4) return bad(`dotted groups have 4 hex digits, got ${quote(g)}`);
    }
    hex = groups.flatMap((g) => [g.slice(0, 2), g.slice(2)]);
  } else {
    const hasColon = v.includes(":");
    const hasDash = v.includes("-");
    if (hasColon && hasDash) return bad('mixes ":" and "-" separators');
    if (!hasColon && !hasDash) return bad('expected "aa:bb:cc:dd:ee:ff", "aa-bb-cc-dd-ee-ff" or "aabb.ccdd.eeff"');
    hex = v.split(hasColon ? ":" : "-");
    for (const h of hex) {
      if (h.length === 0 || h.length > 2) return bad(`octet ${quote(h)} must have 1 or 2 hex digits`);
    }
  }
  const out: string[] = [];
  for (const h of hex) {
    const badChar = /[^0-9a-fA-F]/.exec(h);
    if (badChar) return bad(`bad hex digit ${quote(badChar[0])}`);
    out.push(h.toLowerCase().padStart(2, "0"));
  }
  if (out.length !== 6 && out.length !== 20) return bad(`has ${out.length} bytes, want 6 (Ethernet) or 20 (InfiniBand)`);
  return ok(out.join(":"));
}

/** Normalise a MAC or throw BadRequest (for query arguments and protocol input). */
export function normalizeMac(v: string): string {
  const r = checkMac(v);
  if (!r.ok) throw badRequest("mac", v, r.error);
  return r.value;
}

// --- IPv4 -------------------------------------------------------------------------------------

/** Dotted-quad IPv4 address. Leading zeros are refused: some tools read them as octal. */
export function checkIPv4(v: string): Checked<string> {
  const r = parseIPv4(v);
  return typeof r === "number" ? ok(intToIp(r)) : fail(r);
}

function parseIPv4(v: string): number | string {
  const bad = (why: string) => `invalid IPv4 address ${quote(v)}: ${why}`;
  const parts = v.split(".");
  if (parts.length !== 4) return bad(`expected 4 dot-separated numbers, got ${parts.length}`);
  let n = 0;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) return bad(`part ${quote(p)} is not a number from 0 to 255`);
    if (p.length > 1 && p.startsWith("0")) return bad(`part ${quote(p)} has a leading zero`);
    const x = Number(p);
    if (x > 255) return bad(`part ${quote(p)} is greater than 255`);
    n = n * 256 + x;
  }
  return n;
}

/**
 * Canonical dotted quad to an unsigned integer, or undefined: a hand-rolled scan without
 * allocation for hot paths (filtering and sorting thousands of stored addresses).
 */
export function ipIntOf(v: string): number | undefined {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return undefined; // leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return undefined;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return n * 256 + part;
}

/** IPv4 address to an unsigned 32-bit integer; throws BadRequest on a bad address. */
export function ipToInt(v: string): number {
  const r = parseIPv4(v);
  if (typeof r === "string") throw badRequest("ip", v, r);
  return r;
}

/** Unsigned 32-bit integer to dotted quad. */
export function intToIp(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw badRequest("ip", String(n), `invalid IPv4 integer ${quote(n)}: must be 0..4294967295`);
  }
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

// --- CIDR -------------------------------------------------------------------------------------

export interface Cidr {
  /** Network address as an unsigned integer. */
  network: number;
  prefix: number;
  /** First and last address of the block (network and broadcast for prefix < 31). */
  first: number;
  last: number;
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function parseCidrParts(v: string): Cidr | string {
  const bad = (why: string) => `invalid CIDR ${quote(v)}: ${why}`;
  const slash = v.indexOf("/");
  if (slash < 0) return bad('expected "address/prefix", e.g. "198.51.100.0/24"');
  const addr = parseIPv4(v.slice(0, slash));
  if (typeof addr === "string") return bad(addr);
  const pfx = v.slice(slash + 1);
  if (!/^[0-9]{1,2}$/.test(pfx) || Number(pfx) > 32 || (pfx.length > 1 && pfx.startsWith("0"))) {
    return bad(`prefix length ${quote(pfx)} is not a number from 0 to 32`);
  }
  const prefix = Number(pfx);
  const mask = maskOf(prefix);
  const network = (addr & mask) >>> 0;
  if (network !== addr) {
    return bad(`host bits are set; did you mean ${quote(`${intToIp(network)}/${prefix}`)}?`);
  }
  return { network, prefix, first: network, last: (network | ~mask) >>> 0 };
}

/** CIDR block with its network address (host bits set is an error that suggests the fix). */
export function checkCidr(v: string): Checked<string> {
  const r = parseCidrParts(v);
  return typeof r === "string" ? fail(r) : ok(`${intToIp(r.network)}/${r.prefix}`);
}

function cidrOrThrow(v: string): Cidr {
  const r = parseCidrParts(v);
  if (typeof r === "string") throw badRequest("cidr", v, r);
  return r;
}

/** Whether `ip` lies inside `cidr`. Throws BadRequest on malformed input. */
export function cidrContains(cidr: string, ip: string): boolean {
  const c = cidrOrThrow(cidr);
  const n = ipToInt(ip);
  return n >= c.first && n <= c.last;
}

/** Whether two CIDR blocks share any address. */
export function cidrOverlaps(a: string, b: string): boolean {
  const x = cidrOrThrow(a);
  const y = cidrOrThrow(b);
  return x.first <= y.last && y.first <= x.last;
}

// --- UUID -------------------------------------------------------------------------------------

/** RFC 4122 textual UUID (any version), normalised to lower case. */
export function checkUuid(v: string): Checked<string> {
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(v)) {
    return fail(`invalid UUID ${quote(v)}: expected 8-4-4-4-12 hex digits`);
  }
  return ok(v.toLowerCase());
}

// --- durations --------------------------------------------------------------------------------

/** Largest duration: DHCP lease times are unsigned 32-bit seconds. */
export const DURATION_MAX = 0xffffffff;

/** A duration in whole seconds, 0..2^32-1. */
export function checkDuration(v: unknown): Checked<number> {
  if (typeof v !== "number" || !Number.isFinite(v)) return fail(`invalid duration ${quote(v)}: expected a number of seconds`);
  if (!Number.isInteger(v)) return fail(`invalid duration ${quote(v)}: expected whole seconds`);
  if (v < 0) return fail(`invalid duration ${quote(v)}: must not be negative`);
  if (v > DURATION_MAX) return fail(`invalid duration ${quote(v)}: at most ${DURATION_MAX} seconds`);
  return ok(v);
}

// --- times ------------------------------------------------------------------------------------

/** ISO-8601 timestamp with a date and time, normalised to UTC `toISOString` form. */
export function checkTime(v: string): Checked<string> {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v)) return fail(`invalid time ${quote(v)}: expected ISO-8601 such as "2026-01-02T03:04:05Z"`);
  const t = Date.parse(v);
  if (Number.isNaN(t)) return fail(`invalid time ${quote(v)}: not a real date and time`);
  return ok(new Date(t).toISOString());
}
