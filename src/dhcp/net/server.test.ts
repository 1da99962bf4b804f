// DhcpServer over a socket bound to lo on an ephemeral port (the interface list is injected), so
// no DHCP traffic leaves the host. Real segments and clients: test/dhcp-socket.test.ts.
import { afterEach, expect, test } from "bun:test";
import { createLogger } from "../../log/logger.ts";
import { SocleError } from "../../model/errors.ts";
import { DhcpParseError } from "../codec/errors.ts";
import type { DhcpContext, DhcpHandler } from "./handler-types.ts";
import type { NetInterface } from "./interfaces.ts";
import { MessageType } from "../codec/message-type.ts";
import { BOOTREPLY, formatPacket, newPacket, parsePacket, type DhcpPacket } from "../codec/packet.ts";
import { DhcpServer, headerMac, MAX_REQUEST_SIZE, type DhcpServerOptions } from "./server.ts";

const LO: NetInterface = { name: "lo", address: "127.0.0.1", netmask: "255.0.0.0", cidr: "127.0.0.0/8", mac: "00:00:00:00:00:00" };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function request(last: number, type = MessageType.DHCPDISCOVER, xid = last): DhcpPacket {
  const p = newPacket({ xid, chaddr: Uint8Array.of(0x52, 0x54, 0, 0, 0, last) });
  p.options.setMessageType(type);
  return p;
}

function offer(req: DhcpPacket, ctx: DhcpContext): DhcpPacket {
  const p = newPacket({ op: BOOTREPLY, xid: req.xid, chaddr: req.chaddr, yiaddr: "127.0.0.50", siaddr: ctx.serverAddress });
  p.options.setMessageType(MessageType.DHCPOFFER).setServerId(ctx.serverAddress);
  return p;
}

async function setup(handler: DhcpHandler, now: () => number = Date.now, extra: Partial<DhcpServerOptions> = {}) {
  const lines: string[] = [];
  const server = new DhcpServer({
    handler,
    log: createLogger({ level: "debug", sink: (l) => lines.push(l) }),
    port: 0,
    binlPort: 0,
    rogueWatch: false,
    interfaces: ["lo"],
    listInterfaces: () => [LO],
    pollMs: 60_000,
    now,
    ...extra,
  });
  await server.start();
  cleanups.push(() => server.stop());
  const port = server.stats().sockets[0]!.port;
  const replies: DhcpPacket[] = [];
  const client = await Bun.udpSocket({ hostname: "127.0.0.1", binaryType: "uint8array", socket: { data: (_s, d) => void replies.push(parsePacket(d)) } });
  cleanups.push(() => client.close());
  const send = (b: Uint8Array) => client.send(b, port, "127.0.0.1");
  const until = async (ok: () => boolean) => {
    for (let i = 0; i < 200 && !ok(); i++) await Bun.sleep(10);
    expect(ok()).toBe(true);
  };
  return { server, lines, port, client, replies, send, until };
}

test("the handler gets the context and its reply is formatted and sent to reply.to", async () => {
  const seen: DhcpContext[] = [];
  const t = await setup(async (req, ctx) => {
    seen.push(ctx);
    return { packet: offer(req, ctx), to: { address: "127.0.0.1", port: ctx.from.port } };
  }, () => 1_700_000_000_000);
  expect(t.server.stats().sockets).toEqual([{ iface: "lo", port: t.port, bound: "device" }]);
  t.send(formatPacket(request(1)));
  await t.until(() => t.replies.length === 1);
  expect(seen[0]).toEqual({ iface: "lo", serverAddress: "127.0.0.1", ifaceCidr: "127.0.0.0/8", localPort: t.port, from: { address: "127.0.0.1", port: t.client.port }, now: 1_700_000_000_000 });
  expect(t.replies[0]!.options.getMessageType()).toBe(MessageType.DHCPOFFER);
  expect(t.replies[0]!.yiaddr).toBe("127.0.0.50");
  expect(t.server.stats()).toMatchObject({ received: 1, replied: 1, dropped: 0, ignored: 0 });
});

test("requests and replies are counted by message type, drops by reason (what the metrics read)", async () => {
  const t = await setup(async (req, ctx) =>
    req.options.getMessageType() === MessageType.DHCPDISCOVER ? { packet: offer(req, ctx), to: { address: "127.0.0.1", port: ctx.from.port } } : undefined,
  );
  t.send(formatPacket(request(1)));
  t.send(formatPacket(request(2)));
  t.send(formatPacket(request(3, MessageType.DHCPREQUEST)));
  const untyped = newPacket({ xid: 4, chaddr: Uint8Array.of(0x52, 0x54, 0, 0, 0, 4) });
  t.send(formatPacket(untyped));
  t.send(Uint8Array.of(1, 2, 3));
  const noCookie = formatPacket(request(5));
  noCookie[239] = 0x62;
  t.send(noCookie);
  await t.until(() => t.server.stats().received === 6 && t.replies.length === 2 && t.server.stats().ignored === 2);
  expect(t.server.stats()).toMatchObject({
    requestsByType: { DHCPDISCOVER: 2, DHCPREQUEST: 1, none: 1 },
    repliesByType: { DHCPOFFER: 2 },
    droppedByReason: { "short-packet": 1, "bad-cookie": 1 },
    dropped: 2,
  });
});

test("handler calls run concurrently: a slow one does not hold back the next", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const t = await setup(async (req, ctx) => {
    if (req.xid === 1) await gate;
    return { packet: offer(req, ctx), to: { address: "127.0.0.1", port: ctx.from.port } };
  });
  t.send(formatPacket(request(1)));
  await t.until(() => t.server.stats().inFlight === 1);
  t.send(formatPacket(request(2)));
  await t.until(() => t.replies.length === 1);
  expect(t.replies[0]!.xid).toBe(2);
  release();
  await t.until(() => t.replies.length === 2);
  expect(t.replies[1]!.xid).toBe(1);
});

test("malformed packets and non-requests are dropped with rate-limited lines naming MAC and reason", async () => {
  const t = await setup(async () => undefined);
  const lying = formatPacket(request(7));
  lying[240] = 53;
  lying[241] = 200; // option 53 claims 200 bytes
  for (let i = 0; i < 12; i++) t.send(lying);
  t.send(Uint8Array.of(1, 2, 3)); // too short for a header
  const weirdOp = formatPacket(request(8));
  weirdOp[0] = 3;
  t.send(weirdOp);
  t.send(formatPacket(request(9))); // a valid request the handler ignores
  await t.until(() => t.server.stats().received === 15);
  await t.until(() => t.server.stats().ignored === 1);
  expect(t.server.stats().dropped).toBe(14);
  const drops = t.lines.filter((l) => l.includes("dropped malformed DHCP packet"));
  expect(drops.filter((l) => l.includes("mac=52:54:00:00:00:07"))).toHaveLength(5); // burst of 5, then suppressed
  expect(drops[0]).toMatch(/WARN .*iface=lo .*reason=\S+ error=/);
  const short = drops.find((l) => !l.includes("mac="));
  expect(short).toBeDefined();
  expect(drops.find((l) => l.includes("reason=bad-op"))).toContain("mac=52:54:00:00:00:08");
});

test("oversized, cookie-less and handler-rejected requests are drops with a reason, not handler errors", async () => {
  const t = await setup(async (req) => {
    if (req.htype !== 1) throw new DhcpParseError("bad-htype", `drop request: hardware type ${req.htype}`);
    return undefined;
  });
  const big = new Uint8Array(MAX_REQUEST_SIZE + 1);
  big.set(formatPacket(request(0x11)));
  t.send(big);
  const atLimit = new Uint8Array(MAX_REQUEST_SIZE);
  atLimit.set(formatPacket(request(0x12)));
  t.send(atLimit); // PAD after END: a valid request, handed to the handler
  const noCookie = formatPacket(request(0x13));
  noCookie[239] = 0x62;
  t.send(noCookie);
  const ieee802 = formatPacket(request(0x14));
  ieee802[1] = 6;
  t.send(ieee802);
  await t.until(() => t.server.stats().received === 4);
  await t.until(() => t.server.stats().dropped === 3);
  expect(t.server.stats()).toMatchObject({ ignored: 1, handlerErrors: 0 });
  const drops = t.lines.filter((l) => l.includes("dropped malformed DHCP packet"));
  expect(drops.find((l) => l.includes("mac=52:54:00:00:00:11"))).toMatch(/reason=oversized error="1473 bytes is more than the 1472 bytes/);
  expect(drops.find((l) => l.includes("mac=52:54:00:00:00:13"))).toMatch(/reason=bad-cookie error=".*got \\"63825362\\"/);
  expect(drops.find((l) => l.includes("reason=bad-htype"))).toMatch(/WARN .*iface=lo .*reason=bad-htype error="drop request: hardware type 6"/);
  expect(t.lines.some((l) => l.includes("DHCP handler failed"))).toBe(false);
});

test("a handler exception is logged with the MAC and the server keeps answering", async () => {
  const t = await setup(async (req, ctx) => {
    if (req.xid === 66) throw new Error("lease store on fire");
    return { packet: offer(req, ctx), to: { address: "127.0.0.1", port: ctx.from.port } };
  });
  t.send(formatPacket(request(66)));
  await t.until(() => t.server.stats().handlerErrors === 1);
  t.send(formatPacket(request(67)));
  await t.until(() => t.replies.length === 1);
  const line = t.lines.find((l) => l.includes("DHCP handler failed"));
  expect(line).toMatch(/ERROR .*mac=52:54:00:00:00:42 xid=0x00000042 error="lease store on fire"/);
});

test("a reply that cannot be encoded counts as a handler error, not a crash", async () => {
  const t = await setup(async (req, ctx) => {
    const p = offer(req, ctx);
    p.sname = "x".repeat(65); // longer than the 64-byte field
    return { packet: p, to: { address: "127.0.0.1", port: ctx.from.port } };
  });
  t.send(formatPacket(request(3)));
  await t.until(() => t.server.stats().handlerErrors === 1);
  expect(t.replies).toEqual([]);
});

test("another server's replies are logged once per server per 10 minutes", async () => {
  let clock = 1_000_000;
  const t = await setup(async () => undefined, () => clock);
  const foreign = (server: string) => {
    const p = newPacket({ op: BOOTREPLY, xid: 5, chaddr: Uint8Array.of(2, 0, 0, 0, 0, 5), yiaddr: "127.0.0.77" });
    p.options.setMessageType(MessageType.DHCPOFFER).setServerId(server);
    return formatPacket(p);
  };
  t.send(foreign("198.51.100.99"));
  t.send(foreign("198.51.100.99"));
  t.send(foreign("203.0.113.9"));
  await t.until(() => t.server.stats().foreignReplies === 3);
  clock += 11 * 60_000;
  t.send(foreign("198.51.100.99"));
  t.send(foreign("127.0.0.1")); // our own address: not foreign
  await t.until(() => t.server.stats().received === 5);
  await Bun.sleep(20);
  const rogue = t.lines.filter((l) => l.includes("another DHCP server answers"));
  expect(rogue.map((l) => /server=(\S+)/.exec(l)?.[1])).toEqual(["198.51.100.99", "203.0.113.9", "198.51.100.99"]);
  expect(rogue[0]).toContain("iface=lo");
  expect(t.server.stats().foreignReplies).toBe(4);
});

test("a reply from another address naming our address as server identifier is a rogue server, not our echo", async () => {
  const t = await setup(async () => undefined);
  const other = await Bun.udpSocket({ hostname: "127.0.0.2", binaryType: "uint8array" });
  try {
    const p = newPacket({ op: BOOTREPLY, xid: 6, chaddr: Uint8Array.of(2, 0, 0, 0, 0, 6), yiaddr: "127.0.0.78" });
    p.options.setMessageType(MessageType.DHCPOFFER).setServerId("127.0.0.1");
    other.send(formatPacket(p), t.port, "127.0.0.1");
    await t.until(() => t.server.stats().foreignReplies === 1);
    await Bun.sleep(20);
    expect(t.lines.filter((l) => l.includes("another DHCP server answers")).map((l) => /from=(\S+)/.exec(l)?.[1])).toEqual(["127.0.0.2"]);
  } finally {
    other.close();
  }
});

test("stop waits for handlers in flight and closes the sockets", async () => {
  let finished = false;
  const t = await setup(async () => {
    await Bun.sleep(100);
    finished = true;
    return undefined;
  });
  t.send(formatPacket(request(1)));
  await t.until(() => t.server.stats().inFlight === 1);
  await t.server.stop();
  expect(finished).toBe(true);
  expect(t.server.stats().sockets).toEqual([]);
});

test("start fails with a clear error when a selected interface cannot be bound", async () => {
  const server = new DhcpServer({
    handler: async () => undefined,
    log: createLogger({ sink: () => {} }),
    port: 0,
    binlPort: 0,
    interfaces: [],
    listInterfaces: () => [{ ...LO, name: "nosuch9z" }],
    pollMs: 60_000,
  });
  await expect(server.start()).rejects.toThrow('cannot bind DHCP socket to interface "nosuch9z": no such device (ENODEV)');
  expect(server.stats().sockets).toEqual([]);
});

test("headerMac reads the MAC only when the header holds it", () => {
  const b = formatPacket(request(0xab));
  expect(headerMac(b)).toBe("52:54:00:00:00:ab");
  expect(headerMac(b.subarray(0, 40))).toBeUndefined();
  const bad = b.slice();
  bad[2] = 17;
  expect(headerMac(bad)).toBeUndefined();
});

const VIP = "198.51.100.10";

/** A BOOTREPLY from a server naming `serverId` in option 54. */
function foreignReply(serverId: string, xid = 5): Uint8Array {
  const p = newPacket({ op: BOOTREPLY, xid, chaddr: Uint8Array.of(2, 0, 0, 0, 0, 5), yiaddr: "127.0.0.77" });
  p.options.setMessageType(MessageType.DHCPOFFER).setServerId(serverId);
  return formatPacket(p);
}

test("serverAddressFor names the handler's server address; a throwing one falls back to the interface's", async () => {
  const seen: string[] = [];
  let fail = false;
  const t = await setup(async (_req, ctx) => void seen.push(ctx.serverAddress), Date.now, {
    serverAddressFor: (i) => {
      if (fail) throw new Error("no VIP state");
      return i.name === "lo" ? VIP : i.address;
    },
  });
  t.send(formatPacket(request(1)));
  await t.until(() => seen.length === 1);
  fail = true;
  t.send(formatPacket(request(2)));
  await t.until(() => seen.length === 2);
  expect(seen).toEqual([VIP, "127.0.0.1"]);
  expect(t.lines.find((l) => l.includes("server address override failed"))).toMatch(/ERROR .*iface=lo address=127.0.0.1 error="no VIP state"/);
});

test("onForeignReply sees every reply from another server, even when the warning is rate-limited; a throw costs one line", async () => {
  const calls: { xid: number; from: string; iface: string }[] = [];
  const t = await setup(async () => undefined, () => 1_000_000, {
    onForeignReply: (reply, from, iface) => {
      calls.push({ xid: reply.xid, from: from.address, iface });
      if (reply.xid === 66) throw new Error("detector on fire");
    },
  });
  for (const xid of [1, 2, 3]) t.send(foreignReply("198.51.100.99", xid));
  t.send(foreignReply("127.0.0.1", 4)); // our own address: not foreign, not passed on
  t.send(foreignReply("198.51.100.99", 66));
  t.send(foreignReply("198.51.100.99", 7));
  await t.until(() => t.server.stats().received === 6);
  await t.until(() => calls.length === 5);
  expect(calls.map((c) => c.xid)).toEqual([1, 2, 3, 66, 7]);
  expect(calls[0]).toEqual({ xid: 1, from: "127.0.0.1", iface: "lo" });
  expect(t.lines.filter((l) => l.includes("another DHCP server answers"))).toHaveLength(1);
  expect(t.lines.filter((l) => l.includes("foreign-reply hook failed"))).toEqual([expect.stringMatching(/ERROR .*iface=lo server=198.51.100.99 error="detector on fire"/)]);
  expect(t.server.stats()).toMatchObject({ foreignReplies: 5, handlerErrors: 0 });
});

test("ownAddresses: a reply naming the VIP is our echo from our address, the partner's from elsewhere, never a rogue", async () => {
  const calls: string[] = [];
  const t = await setup(async () => undefined, Date.now, {
    ownAddresses: () => [VIP],
    onForeignReply: (_reply, from) => void calls.push(from.address),
  });
  // The partner: another host on the segment (127.0.0.2 is loopback, but not lo's address).
  const partner = await Bun.udpSocket({ hostname: "127.0.0.2", binaryType: "uint8array" });
  cleanups.push(() => partner.close());
  t.send(foreignReply(VIP, 1)); // from 127.0.0.1: our own reply coming back
  partner.send(foreignReply(VIP, 2), t.port, "127.0.0.1");
  partner.send(foreignReply("203.0.113.9", 3), t.port, "127.0.0.1"); // a real rogue, from the same host
  await t.until(() => t.server.stats().received === 3);
  await t.until(() => calls.length === 2);
  await Bun.sleep(20);
  expect(calls).toEqual(["127.0.0.2", "127.0.0.2"]);
  expect(t.server.stats().foreignReplies).toBe(2);
  const rogue = t.lines.filter((l) => l.includes("another DHCP server answers"));
  expect(rogue.map((l) => /server=(\S+)/.exec(l)?.[1])).toEqual(["203.0.113.9"]);
});

test("serverAddressFor's address counts as ours without ownAddresses", async () => {
  const t = await setup(async () => undefined, Date.now, { serverAddressFor: () => VIP });
  t.send(foreignReply(VIP, 1));
  await t.until(() => t.server.stats().received === 1);
  await Bun.sleep(20);
  expect(t.server.stats().foreignReplies).toBe(0);
  expect(t.lines.some((l) => l.includes("another DHCP server answers"))).toBe(false);
});

test("an Unavailable lease is counted as unconfirmed with a rate-limited info line, not a handler failure", async () => {
  const t = await setup(async (req) => {
    if (req.xid === 99) throw new SocleError("Conflict", "leases", "x", "some other trouble");
    throw new SocleError("Unavailable", "leases", "198.51.100.10", "HA partner did not confirm the lease within 500 ms");
  });
  for (let i = 1; i <= 7; i++) t.send(formatPacket(request(i)));
  t.send(formatPacket(request(0x63)));
  await t.until(() => t.server.stats().unconfirmed === 7 && t.server.stats().handlerErrors === 1);
  const lines = t.lines.filter((l) => l.includes("DHCP lease not confirmed"));
  expect(lines).toHaveLength(5); // burst of 5, then suppressed
  expect(lines[0]).toMatch(/INFO .*DHCP lease not confirmed \(HA partner did not confirm the lease within 500 ms\); no reply sent, the client retries iface=lo mac=52:54:00:00:00:0\d xid=0x0000000\d/);
  expect(t.lines.filter((l) => l.includes("DHCP handler failed"))).toEqual([expect.stringContaining('error="some other trouble"')]);
  expect(t.server.stats()).toMatchObject({ replied: 0, ignored: 0 });
});
