// A comma list of CIDRs, IPv4 or IPv6 ("127.0.0.1/32,fd00::/8"): --webhook-allow-cidrs.

import { isIP } from "node:net";
import { ConfigError } from "./config-error.ts";

export function parseCidrList(source: string, raw: string): string[] {
  const out: string[] = [];
  for (const item of raw.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(item);
    const family = m ? isIP(m[1]!) : 0;
    const max = family === 4 ? 32 : 128;
    if (!m || family === 0 || Number(m[2]) > max) {
      throw new ConfigError(source, `${JSON.stringify(item)} is not a CIDR (an IPv4 or IPv6 address, "/", a prefix length; e.g. 127.0.0.1/32)`);
    }
    out.push(item);
  }
  return out;
}
