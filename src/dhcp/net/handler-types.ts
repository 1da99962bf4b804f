// The contract between the socket side (server.ts: receive, parse, send) and the protocol side
// (handler.ts: decide the reply). The handler never touches sockets; the server never decides.

import type { DhcpPacket } from "../codec/packet.ts";

/** Where and how a request arrived. */
export interface DhcpContext {
  /** Interface name the request arrived on ("" for the unbound fallback socket). */
  iface: string;
  /** Our IPv4 address on that interface: server identifier, default next-server. */
  serverAddress: string;
  /** The interface's network in CIDR form ("198.51.100.0/24"): picks the subnet for direct clients. */
  ifaceCidr: string;
  /** The local port it arrived on: 67 (DHCP / proxyDHCP) or 4011 (PXE boot server). */
  localPort: number;
  /** Sender address and port as seen by the socket (a relay's address, or 0.0.0.0:68). */
  from: { address: string; port: number };
  /** Milliseconds since the epoch (injected for tests). */
  now: number;
}

/** One reply and where it goes (RFC 2131 4.1: giaddr -> relay:67, ciaddr -> unicast, else broadcast). */
export interface DhcpReply {
  packet: DhcpPacket;
  to: { address: string; port: number };
}

export type DhcpHandler = (req: DhcpPacket, ctx: DhcpContext) => Promise<DhcpReply | undefined>;
