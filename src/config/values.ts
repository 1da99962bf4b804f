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
