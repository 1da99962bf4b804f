// Which subnet a request belongs to (RFC 2131 4.3.1, RFC 3046, RFC 3527, RFC 5107):
// - direct clients: the subnet of the interface the request arrived on (ctx.ifaceCidr), except
//   a renewal unicast from the client's own address (RFC 2131 4.3.2: "no relay agents will be
//   involved"): a client of a relayed link reaches us routed, on whatever interface, so its
//   ciaddr names its link;
// - relayed requests (giaddr != 0): option 82 sub-option 5 (link-selection) when present, else giaddr;
// - the server identifier is our address on that interface, or the relay's sub-option 11
//   (server-id-override), so that renewals go through the relay that asked for it.
// Matching is by containment; the most specific (longest prefix) subnet wins, so nested subnets
// behave predictably.

import { intToIp, ipIntOf } from "../model/validate.ts";
import type { SubnetConfig } from "./leases/backend.ts";
import { DhcpParseError } from "./codec/errors.ts";
import type { DhcpContext } from "./net/handler-types.ts";
import type { DhcpPacket } from "./codec/packet.ts";
import type { RelayAgentInfo } from "./codec/relay-agent.ts";

/** A subnet with its numbers worked out once. Addresses are unsigned 32-bit integers. */
export interface Scope {
  subnet: SubnetConfig;
  network: number;
  prefix: number;
  mask: number;
  broadcast: number;
  /** Dynamic range, inclusive; start > end when the subnet has none (proxy-only). */
  start: number;
  end: number;
}

const scopes = new WeakMap<SubnetConfig, Scope | null>();

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/n" (host bits are masked off); undefined when malformed. */
export function parseCidr(cidr: string): { network: number; prefix: number } | undefined {
  const slash = cidr.indexOf("/");
  if (slash < 0) return undefined;
  const addr = ipIntOf(cidr.slice(0, slash));
  const p = cidr.slice(slash + 1);
  if (addr === undefined || !/^[0-9]{1,2}$/.test(p) || Number(p) > 32) return undefined;
  const prefix = Number(p);
  return { network: (addr & maskOf(prefix)) >>> 0, prefix };
}

/** The Scope of a subnet (cached per object; the backend hands out the same object until it changes). */
export function scopeOf(subnet: SubnetConfig): Scope | undefined {
  const cached = scopes.get(subnet);
  if (cached !== undefined) return cached ?? undefined;
  const c = parseCidr(subnet.Subnet);
  let scope: Scope | undefined;
  if (c) {
    const mask = maskOf(c.prefix);
    const start = subnet.ActiveStart ? ipIntOf(subnet.ActiveStart) : undefined;
    const end = subnet.ActiveEnd ? ipIntOf(subnet.ActiveEnd) : undefined;
    scope = {
      subnet,
      network: c.network,
      prefix: c.prefix,
      mask,
      broadcast: (c.network | ~mask) >>> 0,
      start: start ?? 1,
      end: end ?? 0,
    };
  }
  scopes.set(subnet, scope ?? null);
  return scope;
}

export function scopeContains(s: Scope, addr: number): boolean {
  return ((addr & s.mask) >>> 0) === s.network;
}

export function inRange(s: Scope, addr: number): boolean {
  return addr >= s.start && addr <= s.end;
}

export function maskString(s: Scope): string {
  return intToIp(s.mask);
}

/** The most specific subnet containing `addr`, enabled or not. */
export function findScope(subnets: readonly SubnetConfig[], addr: number): Scope | undefined {
  let best: Scope | undefined;
  for (const sn of subnets) {
    const s = scopeOf(sn);
    if (s && scopeContains(s, addr) && (!best || s.prefix > best.prefix)) best = s;
  }
  return best;
}

export interface LinkChoice {
  /** The address that names the client's link (link-selection, giaddr, or our interface network). */
  link: string;
  scope: Scope | undefined;
  /** Relay address, "" for direct clients. */
  via: string;
  /** What we put in option 54 and accept as "us" in a client's option 54. */
  serverId: string;
  /** Option 82 decoded, if present and well-formed. */
  relayInfo: RelayAgentInfo | undefined;
  /** Why option 82 was not used, when it was present but malformed. */
  relayInfoError: string | undefined;
}

export function chooseLink(req: DhcpPacket, ctx: DhcpContext, subnets: readonly SubnetConfig[]): LinkChoice {
  let relayInfo: RelayAgentInfo | undefined;
  let relayInfoError: string | undefined;
  if (req.options.has(82)) {
    try {
      relayInfo = req.options.getRelayAgentInfo();
    } catch (e) {
      if (!(e instanceof DhcpParseError)) throw e;
      relayInfoError = e.message;
    }
  }
  const relayed = req.giaddr !== "0.0.0.0";
  let link: string;
  if (relayed) {
    link = relayInfo?.linkSelection ?? req.giaddr;
  } else if (req.ciaddr !== "0.0.0.0" && ctx.from.address === req.ciaddr) {
    link = req.ciaddr;
  } else {
    const c = ctx.ifaceCidr ? parseCidr(ctx.ifaceCidr) : undefined;
    link = c ? intToIp(c.network) : ctx.serverAddress;
  }
  const n = ipIntOf(link);
  let scope = n === undefined ? undefined : findScope(subnets, n);
  if (!scope && !relayed) {
    // A subnet narrower than the interface's network (a /25 on a /24 link) holds our own address.
    const own = ipIntOf(ctx.serverAddress);
    if (own !== undefined) scope = findScope(subnets, own);
  }
  return {
    link,
    scope,
    via: relayed ? req.giaddr : "",
    serverId: (relayed && relayInfo?.serverIdOverride) || ctx.serverAddress,
    relayInfo,
    relayInfoError,
  };
}
