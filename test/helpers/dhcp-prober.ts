// A DHCP client that measures failover: run as a child in a client namespace, it sends a
// DHCPDISCOVER every `everyMs` (one exchange: the same xid, `secs` counting the seconds since the
// first, as a real client retransmits) and prints every reply it hears on port 68 as one JSON line
// with its arrival time, source, type, offered address and server identifier. It stops by itself
// after `forMs`.
//
//   SOCLE_DHCP_PROBER='{"iface":"c0","mac":"52:54:00:e2:6f:01","everyMs":500,"forMs":20000}' bun test/helpers/dhcp-prober.ts

import type { NetLab, Spawned } from "./netns.ts";
import { BUN } from "./socle-netns.ts";

export interface ProberSpec {
  iface: string;
  mac: string;
  everyMs: number;
  forMs: number;
}

export interface ProbeReply {
  /** ms since the epoch when it arrived. */
  t: number;
  from: string;
  type: string;
  yiaddr: string;
  serverId: string;
  xid: number;
}

/** Start the prober in `ns`; read what it heard with `replies(p)`. */
export function startProber(lab: NetLab, ns: string, spec: ProberSpec): Spawned {
  return lab.spawn(ns, ["env", `SOCLE_DHCP_PROBER=${JSON.stringify(spec)}`, BUN, import.meta.path]);
}

export function replies(p: Spawned): ProbeReply[] {
  const out: ProbeReply[] = [];
  for (const l of p.output().split("\n")) {
    if (!l.startsWith("{")) continue;
    try {
      out.push(JSON.parse(l) as ProbeReply);
    } catch {
      // a line cut by a kill
    }
  }
  return out;
}

async function proberChild(spec: ProberSpec): Promise<void> {
  const { openDhcpSocket } = await import("../../src/dhcp/socket.ts");
  const { nullLogger } = await import("../../src/log/logger.ts");
  const { newPacket, formatPacket, parsePacket } = await import("../../src/dhcp/packet.ts");
  const { messageTypeName } = await import("../../src/dhcp/message-type.ts");
  const chaddr = Uint8Array.from(spec.mac.split(":").map((h) => parseInt(h, 16)));
  const xid = (Math.random() * 0xffffffff) >>> 0;
  const sock = await openDhcpSocket({
    iface: spec.iface,
    port: 68,
    log: nullLogger,
    onMessage(data, from) {
      try {
        const p = parsePacket(data);
        if (p.xid !== xid) return;
        const id = p.options.get(54);
        process.stdout.write(
          JSON.stringify({
            t: Date.now(),
            from: from.address,
            type: messageTypeName(p.options.get(53)?.[0] ?? 0),
            yiaddr: p.yiaddr,
            serverId: id && id.length === 4 ? id.join(".") : "",
            xid: p.xid,
          }) + "\n",
        );
      } catch {
        // not a DHCP reply
      }
    },
  });
  const start = Date.now();
  while (Date.now() - start < spec.forMs) {
    const p = newPacket({ chaddr, xid, secs: Math.floor((Date.now() - start) / 1000), flags: 0x8000 });
    p.options.set(53, Uint8Array.of(1));
    p.options.set(55, Uint8Array.of(1, 3, 6, 54));
    sock.send(formatPacket(p), "255.255.255.255", 67);
    await Bun.sleep(spec.everyMs);
  }
  sock.close();
}

if (import.meta.main && process.env.SOCLE_DHCP_PROBER) {
  await proberChild(JSON.parse(process.env.SOCLE_DHCP_PROBER) as ProberSpec);
}
