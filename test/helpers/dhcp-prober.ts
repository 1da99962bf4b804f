// A DHCP client that measures failover: run as a child in a client namespace, it sends a
// DHCPDISCOVER every `everyMs` (one exchange: the same xid, `secs` counting the seconds since the
// first, as a real client retransmits) and prints every reply it hears on port 68 as one JSON line
// with its arrival time, source, type, offered address and server identifier. It stops by itself
// after `forMs`. With `dora` it is a client instead: one full DISCOVER-OFFER-REQUEST-ACK per MAC in
// the list (retransmitting each step up to four times), printing the DHCPACK or DHCPNAK of each.
//
//   SOCLE_DHCP_PROBER='{"iface":"c0","mac":"52:54:00:e2:6f:01","everyMs":500,"forMs":20000}' bun test/helpers/dhcp-prober.ts

import type { NetLab, Spawned } from "./netns.ts";
import { BUN } from "./socle-netns.ts";

export interface ProberSpec {
  iface: string;
  mac: string;
  everyMs: number;
  forMs: number;
  /** Instead of probing: one full DORA per MAC, in order; prints each DHCPACK or DHCPNAK with `mac`. */
  dora?: string[];
}

export interface ProbeReply {
  /** ms since the epoch when it arrived. */
  t: number;
  /** The client it answered (DORA mode). */
  mac?: string;
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
  const { openDhcpSocket } = await import("../../src/dhcp/net/socket.ts");
  const { nullLogger } = await import("../../src/log/logger.ts");
  const { newPacket, formatPacket } = await import("../../src/dhcp/codec/packet.ts");
  const { readReply } = await import("./dhcp-reply.ts");
  const macBytes = (mac: string) => Uint8Array.from(mac.split(":").map((h) => parseInt(h, 16)));
  const chaddr = macBytes(spec.mac);
  let xid = (Math.random() * 0xffffffff) >>> 0;
  let waiter: ((r: ProbeReply) => void) | undefined;
  let current = spec.mac;
  const sock = await openDhcpSocket({
    iface: spec.iface,
    port: 68,
    log: nullLogger,
    onMessage(data, from) {
      const heard = readReply(data, from.address);
      if (!heard || heard.xid !== xid) return;
      const r: ProbeReply = { t: heard.t, mac: current, from: heard.from, type: heard.type, yiaddr: heard.yiaddr, serverId: heard.serverId, xid: heard.xid };
      if (spec.dora) waiter?.(r);
      else process.stdout.write(JSON.stringify(r) + "\n");
    },
  });
  if (spec.dora) {
    const ask = async (build: () => Uint8Array, want: (r: ProbeReply) => boolean): Promise<ProbeReply | undefined> => {
      for (let attempt = 0; attempt < 4; attempt++) {
        const got = new Promise<ProbeReply | undefined>((resolve) => {
          const timer = setTimeout(() => resolve(undefined), 1000);
          waiter = (r) => {
            if (!want(r)) return;
            clearTimeout(timer);
            resolve(r);
          };
        });
        sock.send(build(), "255.255.255.255", 67);
        const r = await got;
        if (r) return r;
      }
      return undefined;
    };
    for (const mac of spec.dora) {
      current = mac;
      xid = (Math.random() * 0xffffffff) >>> 0;
      const hw = macBytes(mac);
      const offer = await ask(() => {
        const p = newPacket({ chaddr: hw, xid, flags: 0x8000 });
        p.options.set(53, Uint8Array.of(1));
        return formatPacket(p);
      }, (r) => r.type === "DHCPOFFER");
      if (!offer) {
        process.stdout.write(JSON.stringify({ t: Date.now(), mac, from: "", type: "none", yiaddr: "", serverId: "", xid }) + "\n");
        continue;
      }
      const ack = await ask(() => {
        const p = newPacket({ chaddr: hw, xid, flags: 0x8000 });
        p.options.set(53, Uint8Array.of(3));
        p.options.set(50, Uint8Array.from(offer.yiaddr.split(".").map(Number)));
        p.options.set(54, Uint8Array.from(offer.serverId.split(".").map(Number)));
        return formatPacket(p);
      }, (r) => r.type === "DHCPACK" || r.type === "DHCPNAK");
      process.stdout.write(JSON.stringify(ack ?? { t: Date.now(), mac, from: "", type: "none", yiaddr: "", serverId: "", xid }) + "\n");
    }
    sock.close();
    return;
  }
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
