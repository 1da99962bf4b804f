// Which addresses a webhook may reach. Socle sits on a hostile provisioning network and holds the
// keys to it, so a webhook must not become a way to make the server talk to itself or to what is
// behind it (SSRF). Refused, whatever the URL says:
//   - loopback (127.0.0.0/8, ::1): the API itself, the metadata service, local daemons;
//   - link-local (169.254.0.0/16 with 169.254.169.254, the metadata address that Socle's own
//     metadata service and every cloud answer on; fe80::/10);
//   - multicast (224.0.0.0/4, ff00::/8), broadcast and the reserved 240.0.0.0/4;
//   - "this network" 0.0.0.0/8 and the unspecified :: (connecting to them reaches the local host);
//   - the subnets Socle serves (every Subnet object, enabled or not): the machines being
//     provisioned, which must never receive requests signed by the server.
// IPv4 inside IPv6 (::ffff:a.b.c.d mapped, ::a.b.c.d compatible, 64:ff9b::/96 NAT64) is judged
// by the IPv4 address it carries, since that is where the packet ends up.
// Allowed: private ranges (10/8, 172.16/12, 192.168/16) and unique-local IPv6 (fc00::/7): a
// receiver on the management LAN is the normal case, and those are not the served subnets.
// The operator's override (--webhook-allow-cidrs) allows ranges before any refusal, for labs and
// tests (127.0.0.1/32 for a local receiver).
//
// The check runs on addresses, after DNS: at write time (api/routes-webhooks.ts) and again on
// every attempt (sender.ts), which then connects to the address it checked, never to a second
// lookup's answer (DNS rebinding).

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

/** An address as 16 bytes (IPv4 as ::ffff:a.b.c.d). */
interface Addr {
  bytes: Uint8Array;
}

export interface Cidr {
  bytes: Uint8Array;
  /** Prefix length over the 128-bit form. */
  bits: number;
  text: string;
}

function v4Bytes(s: string): Uint8Array | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255 || (p.length > 1 && p.startsWith("0"))) return undefined;
    out[i] = Number(p);
  }
  return out;
}

function v6Bytes(s: string): Uint8Array | undefined {
  let text = s;
  // A dotted IPv4 tail (::ffff:192.0.2.1) becomes its two 16-bit words.
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    const v4 = v4Bytes(text.slice(lastColon + 1));
    if (!v4) return undefined;
    text = `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const words = (h: string) => (h === "" ? [] : h.split(":"));
  const head = words(halves[0]!);
  const rest = halves.length === 2 ? words(halves[1]!) : [];
  const count = head.length + rest.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? 8 - count : 0).fill("0"), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const w = all[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(w)) return undefined;
    const n = parseInt(w, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  }
  return out;
}

/** An IPv4 or IPv6 address (brackets and a %zone allowed) as 16 bytes; undefined if it is not one. */
export function parseAddress(raw: string): Addr | undefined {
  let s = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  const v4 = v4Bytes(s);
  if (v4) {
    const bytes = new Uint8Array(16);
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    bytes.set(v4, 12);
    return { bytes };
  }
  const v6 = s.includes(":") ? v6Bytes(s) : undefined;
  return v6 ? { bytes: v6 } : undefined;
}

/** "a.b.c.d/n" or "x::/n"; undefined when it is not one. IPv4 prefixes count over ::ffff:0:0/96. */
export function parseCidr(raw: string): Cidr | undefined {
  const slash = raw.indexOf("/");
  if (slash < 0) return undefined;
  const addrText = raw.slice(0, slash);
  const lenText = raw.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return undefined;
  const len = Number(lenText);
  const a = parseAddress(addrText);
  if (!a) return undefined;
  const isV4 = isIP(addrText) === 4;
  if (len > (isV4 ? 32 : 128)) return undefined;
  return { bytes: a.bytes, bits: isV4 ? 96 + len : len, text: raw };
}

function inCidr(a: Uint8Array, c: Cidr): boolean {
  for (let bit = 0; bit < c.bits; bit++) {
    const i = bit >> 3;
    const m = 0x80 >> (bit & 7);
    if ((a[i]! & m) !== (c.bytes[i]! & m)) return false;
  }
  return true;
}

const cidr = (s: string): Cidr => parseCidr(s)!;

/** Ranges refused, each with the reason a refusal names. IPv4 ones are over the mapped form. */
const REFUSED: ReadonlyArray<[Cidr, string]> = [
  [cidr("0.0.0.0/8"), "is in 0.0.0.0/8 (this host)"],
  [cidr("127.0.0.0/8"), "is loopback"],
  [cidr("169.254.0.0/16"), "is link-local (169.254.169.254 is the metadata address)"],
  [cidr("224.0.0.0/4"), "is multicast"],
  [cidr("240.0.0.0/4"), "is reserved or broadcast"],
  [cidr("::/128"), "is the unspecified address"],
  [cidr("::1/128"), "is loopback"],
  [cidr("fe80::/10"), "is link-local"],
  [cidr("ff00::/8"), "is multicast"],
];

/** IPv6 prefixes that carry an IPv4 address in their last 32 bits. */
const EMBEDS_V4: readonly Cidr[] = [cidr("::/96"), cidr("64:ff9b::/96")];

/** The address as text (IPv4 dotted when it is one). */
export function formatAddress(a: Addr): string {
  const b = a.bytes;
  if (inCidr(b, cidr("::ffff:0:0/96"))) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return words.join(":").replace(/(^|:)0(:0)+(:|$)/, "::").replace(/:{3,}/, "::");
}

export interface AddressPolicyOptions {
  /** The operator's override: ranges allowed before any refusal. */
  allow?: readonly string[];
  /** The CIDRs of the subnets Socle serves, read when a check runs (they change). */
  servedSubnets?: () => readonly string[];
  /**
   * This host's own addresses (every interface's, the HA pair's VIP and its partner's), read when
   * a check runs: a webhook must not reach Socle itself or its pair, whose answers the delivery
   * log would show (a port scanner of the host). Default: none.
   */
  ownAddresses?: () => readonly string[];
}

export class AddressPolicy {
  private readonly allow: Cidr[];

  constructor(private readonly opts: AddressPolicyOptions = {}) {
    this.allow = (opts.allow ?? []).map((s) => {
      const c = parseCidr(s);
      if (!c) throw new Error(`${JSON.stringify(s)} is not a CIDR (a.b.c.d/n or an IPv6 prefix)`);
      return c;
    });
  }

  /** Why a webhook may not reach `address`; undefined when it may. */
  refusal(address: string): string | undefined {
    const a = parseAddress(address);
    if (!a) return `${JSON.stringify(address)} is not an IP address`;
    if (this.allow.some((c) => inCidr(a.bytes, c))) return undefined;
    let b = a.bytes;
    // Judge an embedded IPv4 address as itself (::a.b.c.d, 64:ff9b::a.b.c.d); :: and ::1 stay.
    if (EMBEDS_V4.some((c) => inCidr(b, c)) && !inCidr(b, cidr("::/127"))) {
      const mapped = new Uint8Array(16);
      mapped[10] = 0xff;
      mapped[11] = 0xff;
      mapped.set(b.subarray(12), 12);
      if (this.allow.some((c) => inCidr(mapped, c))) return undefined;
      b = mapped;
    }
    for (const [c, why] of REFUSED) if (inCidr(b, c)) return `${formatAddress(a)} ${why}`;
    for (const own of this.opts.ownAddresses?.() ?? []) {
      const o = parseAddress(own);
      if (o && o.bytes.every((x, i) => x === b[i])) return `${formatAddress(a)} is an address of this host (or of its HA pair)`;
    }
    for (const s of this.opts.servedSubnets?.() ?? []) {
      const c = parseCidr(s);
      if (c && inCidr(b, c)) return `${formatAddress(a)} is in ${s}, a subnet Socle serves DHCP on`;
    }
    return undefined;
  }

  /**
   * The address to connect to for `url`: its IP literal, or the first address DNS gives for its
   * name. Every address the name resolves to must pass (a name that also points inside is
   * refused as a whole, rather than hoping the good one is picked). Throws an Error saying why.
   */
  async resolve(url: URL, lookupAll: (host: string) => Promise<string[]> = lookupAddresses): Promise<string> {
    const host = url.hostname;
    const literal = parseAddress(host);
    const addresses = literal ? [formatAddress(literal)] : await lookupAll(host);
    if (addresses.length === 0) throw new Error(`${host} has no address`);
    for (const a of addresses) {
      const why = this.refusal(a);
      if (why) throw new Error(literal ? `refused: ${why}` : `refused: ${host} resolves to ${why}`);
    }
    return addresses[0]!;
  }
}

async function lookupAddresses(host: string): Promise<string[]> {
  const list = await lookup(host, { all: true, verbatim: true });
  return list.map((a) => a.address);
}
