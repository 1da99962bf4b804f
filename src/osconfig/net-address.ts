// IP addresses and prefixes as the profile checks them: IPv4 dotted quads (no leading zeros, which
// some parsers read as octal), IPv6 in RFC 4291 text form (with "::" and an embedded IPv4 tail),
// and CIDR "address/prefix". Pure; values are compared as bigints so v4 and v6 share one path.

export interface ParsedIp {
  family: 4 | 6;
  value: bigint;
}

export interface ParsedCidr extends ParsedIp {
  prefix: number;
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return undefined;
    v = (v << 8n) | BigInt(p);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(s)) return undefined;
  let tail: bigint | undefined;
  let text = s;
  // An embedded IPv4 address takes the last 32 bits ("::ffff:192.0.2.1").
  if (s.includes(".")) {
    const cut = s.lastIndexOf(":");
    tail = parseV4(s.slice(cut + 1));
    if (tail === undefined) return undefined;
    text = `${s.slice(0, cut + 1)}0:0`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(`0x${g}`);
  }
  if (tail !== undefined) v = (v & ~0xffffffffn) | tail;
  return v;
}

export function parseIp(s: string): ParsedIp | undefined {
  const v4 = parseV4(s);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = s.includes(":") ? parseV6(s) : undefined;
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

/** "198.51.100.20/24" or "2001:db8::5/64": an address in a network, prefix required. */
export function parseCidr(s: string): ParsedCidr | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const ip = parseIp(m[1]!);
  if (!ip) return undefined;
  const prefix = Number(m[2]);
  if (prefix > (ip.family === 4 ? 32 : 128)) return undefined;
  return { ...ip, prefix };
}

/** Whether `ip` lies in the network of `cidr` (same family, same leading `prefix` bits). */
export function contains(cidr: ParsedCidr, ip: ParsedIp): boolean {
  if (cidr.family !== ip.family) return false;
  const bits = BigInt(cidr.family === 4 ? 32 : 128);
  const shift = bits - BigInt(cidr.prefix);
  return cidr.value >> shift === ip.value >> shift;
}
