// One DHCP reply heard on a client port, as the failover prober (dhcp-prober.ts) and the HA lab's
// sniffer (test/e2e/ha-lab.ts) record it: when, from which address, what, to whom, and which
// server it names.

import { messageTypeName } from "../../src/dhcp/codec/message-type.ts";
import { BOOTREPLY, macString, parsePacket } from "../../src/dhcp/codec/packet.ts";

export interface HeardReply {
  /** ms since the epoch when it arrived. */
  t: number;
  from: string;
  type: string;
  xid: number;
  chaddr: string;
  yiaddr: string;
  /** Option 54 ("" when absent). */
  serverId: string;
}

/** The reply in `data`, or undefined when it is not a well-formed BOOTREPLY. */
export function readReply(data: Uint8Array, from: string): HeardReply | undefined {
  try {
    const p = parsePacket(data);
    if (p.op !== BOOTREPLY) return undefined;
    const id = p.options.get(54);
    return {
      t: Date.now(),
      from,
      type: messageTypeName(p.options.get(53)?.[0] ?? 0),
      xid: p.xid,
      chaddr: macString(p.chaddr, p.htype, p.hlen),
      yiaddr: p.yiaddr,
      serverId: id && id.length === 4 ? id.join(".") : "",
    };
  } catch {
    return undefined;
  }
}
