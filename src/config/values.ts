// Converters from raw flag/env text to typed values. Each takes the source label (flag or env
// variable name) so the ConfigError names what the user has to fix and quotes what they gave.

import { isIP } from "node:net";
import { ConfigError } from "./config-error.ts";

export function parsePort(source: string, raw: string): number {
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) {
    throw new ConfigError(source, `invalid port "${raw}" (expected an integer 0-65535)`);
  }
  return Number(raw);
}

/** Milliseconds in [min, max]: "2000". */
export function parseMillis(source: string, raw: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(source, `invalid duration "${raw}" (expected milliseconds, an integer ${min}-${max})`);
  }
  return Number(raw);
}

/** A whole number in [min, max]: "2048". */
export function parseCount(source: string, raw: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(source, `invalid number "${raw}" (expected an integer ${min}-${max})`);
  }
  return Number(raw);
}

const TRUE = new Set(["true", "1", "yes"]);
const FALSE = new Set(["false", "0", "no"]);

export function parseBool(source: string, raw: string): boolean {
  const v = raw.toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new ConfigError(source, `invalid boolean "${raw}" (expected true|false|1|0|yes|no)`);
}

export function parseChoice<T extends string>(source: string, raw: string, choices: readonly T[]): T {
  const found = choices.find((c) => c === raw);
  if (found === undefined) {
    throw new ConfigError(source, `invalid value "${raw}" (expected ${choices.join("|")})`);
  }
  return found;
}

/** A dotted-quad IPv4 address, or "" for "not set". */
export function parseIPv4OrEmpty(source: string, raw: string): string {
  if (raw === "" || isIP(raw) === 4) return raw;
  throw new ConfigError(source, `invalid IPv4 address "${raw}" (expected a.b.c.d)`);
}

/** An address to bind a listening socket to: any IPv4 or IPv6 literal. */
export function parseListenAddress(source: string, raw: string): string {
  if (isIP(raw) !== 0) return raw;
  throw new ConfigError(source, `invalid listen address "${raw}" (expected an IPv4 or IPv6 address, e.g. 0.0.0.0 or ::)`);
}

// Linux interface names: 1-15 bytes (IFNAMSIZ 16 with the NUL), no "/", no whitespace, not "." or "..".
const IFNAME = /^[^\s/:]{1,15}$/;

export function parseInterfaceList(source: string, raw: string): string[] {
  if (raw.trim() === "") return [];
  const names = raw.split(",").map((s) => s.trim());
  for (const name of names) {
    if (!IFNAME.test(name) || name === "." || name === "..") {
      throw new ConfigError(source, `invalid interface name "${name}" in "${raw}" (expected names like eth0,enp1s0)`);
    }
  }
  return names;
}

export function parseNonEmpty(source: string, raw: string): string {
  if (raw.trim() === "") throw new ConfigError(source, `empty value "${raw}"`);
  return raw;
}

/** One interface name: "lan0". */
export function parseInterfaceName(source: string, raw: string): string {
  const name = raw.trim();
  if (!IFNAME.test(name) || name.includes(",") || name === "." || name === "..") {
    throw new ConfigError(source, `invalid interface name "${raw}" (expected one name like eth0)`);
  }
  return name;
}

/** An IPv4 address with its prefix length, host bits allowed: "198.51.100.10/24". */
export function parseCidrV4(source: string, raw: string): string {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(raw.trim());
  if (!m || isIP(m[1]!) !== 4 || Number(m[2]) < 1 || Number(m[2]) > 32) {
    throw new ConfigError(source, `invalid address with prefix "${raw}" (expected a.b.c.d/len, e.g. 198.51.100.10/24)`);
  }
  const first = Number(m[1]!.split(".")[0]);
  if (first === 0 || first === 127 || first >= 224) {
    throw new ConfigError(source, `invalid address with prefix "${raw}": ${m[1]} is not a unicast host address`);
  }
  return `${m[1]}/${Number(m[2])}`;
}

/** Comma-separated IPv4 addresses; "" = none. */
export function parseIPv4List(source: string, raw: string): string[] {
  if (raw.trim() === "") return [];
  const list = raw.split(",").map((s) => s.trim());
  for (const a of list) {
    if (isIP(a) !== 4) throw new ConfigError(source, `invalid IPv4 address "${a}" in "${raw}" (expected a.b.c.d,a.b.c.d)`);
  }
  if (new Set(list).size !== list.length) throw new ConfigError(source, `an address is listed twice in "${raw}"`);
  return list;
}

/** A node name in an HA pair: a host-name label or dotted name. */
export function parseNodeName(source: string, raw: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/.test(raw)) {
    throw new ConfigError(source, `invalid node name "${raw}" (expected letters, digits, "." and "-", at most 63, starting with a letter or digit)`);
  }
  return raw;
}

/** A listen address with its port: "127.0.0.1:9100", "[::1]:9100" (an IP literal, not a host name). */
export function parseListenHostPort(source: string, raw: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(raw.trim());
  const host = m?.[1] ?? m?.[2];
  const v6 = m?.[1] !== undefined;
  if (!m || host === undefined || isIP(host) !== (v6 ? 6 : 4) || Number(m[3]) > 65535) {
    throw new ConfigError(source, `invalid listen address "${raw}" (expected address:port, e.g. 127.0.0.1:9100 or [::1]:9100)`);
  }
  return { host, port: Number(m[3]) };
}
