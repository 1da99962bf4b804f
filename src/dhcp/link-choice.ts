// Which link, and so which subnet, a request belongs to (RFC 2131 4.3.1, RFC 3046, RFC 3527, RFC 5107):
// - direct clients: the subnet of the interface the request arrived on (ctx.ifaceCidr), except
//   a renewal unicast from the client's own address (RFC 2131 4.3.2: "no relay agents will be
//   involved"): a client of a relayed link reaches us routed, on whatever interface, so its
//   ciaddr names its link;
// - relayed requests (giaddr != 0): option 82 sub-option 5 (link-selection) when present, else giaddr;
// - the server identifier is our address on that interface, or the relay's sub-option 11
//   (server-id-override), so that renewals go through the relay that asked for it.
// Matching is by containment, the most specific subnet winning (leases/scope.ts).

import { intToIp, ipIntOf } from "../model/validate.ts";
import type { SubnetConfig } from "./leases/backend.ts";
import { findScope, parseCidr, type Scope } from "./leases/scope.ts";
import { DhcpParseError } from "./codec/errors.ts";
import type { DhcpContext } from "./net/handler-types.ts";
import type { DhcpPacket } from "./codec/packet.ts";
import type { RelayAgentInfo } from "./codec/relay-agent.ts";

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
