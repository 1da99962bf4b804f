// The floor of a DHCP server on this runtime, for bench:dhcp's "bun-floor" target:
//
//   bun test/bench/dhcp-floor.ts SERVER_ADDR POOL_START
//
// One Bun.udpSocket on SERVER_ADDR:67 that answers every relayed DISCOVER with an OFFER and every
// REQUEST with an ACK, with Socle's own codec (parsePacket, formatPacket) and nothing else: no
// lease engine, no store, no flush, no timeline, no handler. The address is the client's by a hash
// of its MAC (perfdhcp checks only that the ACK names what the OFFER did). Its latency beside Kea's
// is what Bun's UDP path and the codec cost before Socle does any work of its own; never a server
// anyone should run (it gives the same address to colliding MACs and remembers nothing).

import { readdirSync, statSync } from "node:fs";
import { formatPacket, newPacket, parsePacket, replyMaxSize } from "../../src/dhcp/codec/packet.ts";
import { MessageType } from "../../src/dhcp/codec/message-type.ts";

const [serverAddr, poolStart] = process.argv.slice(2);
if (!serverAddr || !poolStart) {
  console.error("usage: bun test/bench/dhcp-floor.ts SERVER_ADDR POOL_START");
  process.exit(2);
}
// Only ever inside a namespace of its own, on a documentation address: it answers anything.
const DOC_NET = /^(198\.51\.100|203\.0\.113)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
if (!DOC_NET.test(serverAddr) || !DOC_NET.test(poolStart)) {
  console.error(`dhcp-floor: ${serverAddr} / ${poolStart}: only 198.51.100.0/24 and 203.0.113.0/24 are served`);
  process.exit(2);
}
// As `ip netns identify`: this process's network namespace is one of the named ones (/run/netns).
const self = statSync("/proc/self/ns/net");
const named = (() => {
  try {
    return readdirSync("/run/netns").some((n) => {
      const st = statSync(`/run/netns/${n}`);
      return st.ino === self.ino && st.dev === self.dev;
    });
  } catch {
    return false;
  }
})();
if (!named) {
  console.error("dhcp-floor: refusing to answer DHCP outside a named network namespace; run it inside a test namespace (ip netns exec)");
  process.exit(2);
}
const base = poolStart.split(".").map(Number);
const POOL_SIZE = 200;
let answered = 0;
let refused = 0;

const sock = await Bun.udpSocket({
  hostname: serverAddr, // relayed requests come unicast to it; no broadcast reaches this socket
  port: 67,
  socket: {
    data(s, buf, _port, _address) {
      let req;
      try {
        req = parsePacket(buf);
      } catch {
        refused++;
        return;
      }
      const type = req.options.getMessageType();
      if (req.op !== 1 || req.giaddr === "0.0.0.0" || (type !== MessageType.DHCPDISCOVER && type !== MessageType.DHCPREQUEST)) {
        refused++;
        return;
      }
      const mac = req.chaddr;
      const h = ((mac[3] ?? 0) * 65_536 + (mac[4] ?? 0) * 256 + (mac[5] ?? 0)) % POOL_SIZE;
      const yiaddr = `${base[0]}.${base[1]}.${base[2]}.${(base[3] ?? 0) + h}`;
      const reply = newPacket({ op: 2, htype: req.htype, hlen: req.hlen, xid: req.xid, flags: req.flags, giaddr: req.giaddr, chaddr: req.chaddr, yiaddr });
      reply.options.setMessageType(type === MessageType.DHCPDISCOVER ? MessageType.DHCPOFFER : MessageType.DHCPACK);
      reply.options.setServerId(serverAddr);
      reply.options.setLeaseTime(3600);
      reply.options.setSubnetMask("255.255.255.0");
      s.send(formatPacket(reply, { maxSize: replyMaxSize(req) }), 67, req.giaddr);
      answered++;
    },
  },
});
console.log(`dhcp-floor: listening on ${serverAddr}:${sock.port}, server id ${serverAddr}, pool ${poolStart} + ${POOL_SIZE}`);
process.on("SIGTERM", () => {
  console.log(`dhcp-floor: answered ${answered}, refused ${refused}`);
  sock.close();
  process.exit(0);
});
