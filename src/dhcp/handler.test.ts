// The request handler against the memory backend and a fake clock, fed with real firmware packets
// from testdata/*.pcap (SeaBIOS iPXE, OVMF EDK2 PXE, a Linux initrd client), modified where a case
// needs it. Every reply is also formatted and parsed back, as the server would send it.

import { beforeEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Booter } from "../boot/booter.ts";
import { loaderFor } from "../boot/loaders.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import type { AllocationPolicy, SubnetConfig } from "./leases/backend.ts";
import { DhcpParseError } from "./codec/errors.ts";
import { createDhcpHandler } from "./handler.ts";
import type { DhcpContext, DhcpHandler, DhcpReply } from "./net/handler-types.ts";
import { DECLINE_HOLD_SECONDS, OFFER_HOLD_MS } from "./leases/leases.ts";
import { MemoryDhcpBackend, reservationConfig, subnetConfig } from "./leases/memory-backend.ts";
import { MessageType } from "./codec/message-type.ts";
import { formatPacket, parsePacket, replyMaxSize, type DhcpPacket } from "./codec/packet.ts";
import { addressHalf } from "./leases/pool-split.ts";
import { readPcapDhcp } from "./codec/testdata/pcap.ts";

const DIR = join(import.meta.dir, "codec", "testdata");

/**
 * The boot core without machines or environments (these tests are about DHCP): iPXE gets its
 * script, other PXE clients the loader for their architecture, from the address they reached.
 */
const booter: Booter = {
  dhcpBoot(facts) {
    const server = facts.serverAddress;
    if (facts.userClass === "iPXE") return { nextServer: server, bootFile: `http://${server}:8091/default.ipxe`, httpClient: false, ipxe: true };
    const loader = loaderFor(facts.arch);
    if (!loader) return undefined;
    if (loader.http) return { nextServer: server, bootFile: `http://${server}:8091/${loader.file}`, httpClient: true, ipxe: false };
    return { nextServer: server, bootFile: loader.file, httpClient: false, ipxe: false };
  },
};
const frames = (name: string) => readPcapDhcp(readFileSync(join(DIR, `${name}.pcap`))).map((d) => d.payload);
const BIOS = frames("bios-dhcp");
const EDK2 = frames("uefi-edk2-dhcp");

/** A fresh copy of a captured packet (tests modify them). */
const pkt = (list: Uint8Array[], frame: number): DhcpPacket => parsePacket(list[frame - 1]!);
const IPXE_BIOS_DISCOVER = () => pkt(BIOS, 1); // SeaBIOS iPXE: user class iPXE, arch 0
const IPXE_BIOS_REQUEST = () => pkt(BIOS, 3); // 54 = 198.51.100.1, 50 = 198.51.100.140
const LINUX_DISCOVER = () => pkt(BIOS, 5); // initrd udhcpc-like client, 55 = 1 3 6 12 15 28 42
const LINUX_REQUEST = () => pkt(BIOS, 7);
const EDK2_DISCOVER = () => pkt(EDK2, 1); // OVMF PXE: PXEClient arch 7, no user class
const EDK2_REQUEST = () => pkt(EDK2, 3);

const SERVER = "198.51.100.1";
const T0 = Date.parse("2026-01-01T00:00:00Z");

function mac(n: number): Uint8Array {
  return Uint8Array.of(0x52, 0x54, 0x00, 0xaa, 0x00, n);
}
function withMac(p: DhcpPacket, n: number): DhcpPacket {
  p.chaddr = mac(n);
  p.options.delete(61); // the captured client id names the captured MAC
  return p;
}
const macText = (n: number) => `52:54:00:aa:00:${n.toString(16).padStart(2, "0")}`;

const lab = (over: Partial<SubnetConfig> = {}) =>
  subnetConfig({
    Name: "lab",
    Subnet: "198.51.100.0/24",
    ActiveStart: "198.51.100.10",
    ActiveEnd: "198.51.100.20",
    Options: [
      { Code: 3, Value: "198.51.100.1" },
      { Code: 6, Value: "198.51.100.1, 198.51.100.2" },
      { Code: 15, Value: "lab.example" },
      { Code: 42, Value: "198.51.100.3" },
      { Code: 7, Value: "198.51.100.4" },
    ],
    ...over,
  });
const remote = (over: Partial<SubnetConfig> = {}) =>
  subnetConfig({ Name: "remote", Subnet: "203.0.113.0/24", ActiveStart: "203.0.113.100", ActiveEnd: "203.0.113.110", ...over });

let clock = T0;
let backend: MemoryDhcpBackend;
let lines: string[];
let log: Logger;
let handle: DhcpHandler;

function setup(subnets: SubnetConfig[], policy?: AllocationPolicy) {
  clock = T0;
  backend = new MemoryDhcpBackend({ subnets });
  lines = [];
  log = createLogger({ level: "info", sink: (l) => lines.push(l), subsystem: "dhcp" });
  handle = createDhcpHandler({ backend, booter, log, policy });
}

function ctx(over: Partial<DhcpContext> = {}): DhcpContext {
  return {
    iface: "eth1",
    serverAddress: SERVER,
    ifaceCidr: "198.51.100.0/24",
    localPort: 67,
    from: { address: "0.0.0.0", port: 68 },
    now: clock,
    ...over,
  };
}

/** Handles a request and returns the reply as the client would parse it off the wire. */
async function send(req: DhcpPacket, over: Partial<DhcpContext> = {}): Promise<DhcpReply | undefined> {
  const wire = parsePacket(formatPacket(req, { maxSize: 1400 }));
  const r = await handle(wire, ctx(over));
  if (!r) return undefined;
  const bytes = formatPacket(r.packet, { maxSize: replyMaxSize(wire) });
  return { packet: parsePacket(bytes), to: r.to };
}

const typeOf = (r: DhcpReply | undefined) => r?.packet.options.getMessageType();

async function dora(discover: DhcpPacket, request: DhcpPacket, over: Partial<DhcpContext> = {}) {
  const offer = await send(discover, over);
  expect(typeOf(offer)).toBe(MessageType.DHCPOFFER);
  request.options.setRequestedIp(offer!.packet.yiaddr);
  if (request.options.has(54)) request.options.setServerId(offer!.packet.options.getServerId()!);
  const ack = await send(request, over);
  expect(typeOf(ack)).toBe(MessageType.DHCPACK);
  return { offer: offer!, ack: ack! };
}

function renewal(n: number, addr: string): DhcpPacket {
  const p = withMac(LINUX_REQUEST(), n);
  p.options.delete(50);
  p.options.delete(54);
  p.ciaddr = addr;
  return p;
}

describe("full server", () => {
  beforeEach(() => setup([lab()]));

  test("DORA with the SeaBIOS iPXE capture: offer costs no write, ACK is persisted first", async () => {
    const offer = await send(withMac(IPXE_BIOS_DISCOVER(), 1));
    const o = offer!.packet;
    expect(o.yiaddr).toBe("198.51.100.10"); // nextFree: lowest address of the range
    expect(offer!.to).toEqual({ address: "255.255.255.255", port: 68 });
    expect(backend.saves).toBe(0);
    expect(o.options.getServerId()).toBe(SERVER);
    expect(o.options.getLeaseTime()).toBe(3600);
    expect(o.options.getRenewalTime()).toBe(1800);
    expect(o.options.getRebindingTime()).toBe(3150);
    expect(o.options.getSubnetMask()).toBe("255.255.255.0");
    expect(o.options.getBroadcastAddress()).toBe("198.51.100.255");
    expect(o.options.getRouters()).toEqual(["198.51.100.1"]);
    expect(o.options.getDnsServers()).toEqual(["198.51.100.1", "198.51.100.2"]);
    expect(o.options.getDomainName()).toBe("lab.example");
    expect(o.options.has(42)).toBe(false); // configured, not requested by this client
    expect(o.options.has(7)).toBe(true); // requested in its option 55
    // iPXE: the script URL, everywhere firmware may look, and "no proxyDHCP wait"
    expect(o.siaddr).toBe(SERVER);
    expect(o.sname).toBe(SERVER);
    expect(o.file).toBe("http://198.51.100.1:8091/default.ipxe");
    expect(o.options.getBootFileName()).toBe("http://198.51.100.1:8091/default.ipxe");
    expect(o.options.getTftpServerName()).toBe(SERVER);
    expect(o.options.getIpxeOptions()?.noPxeDhcp).toBe(true);
    expect(o.options.has(43)).toBe(false);

    const req = withMac(IPXE_BIOS_REQUEST(), 1);
    req.options.setRequestedIp("198.51.100.10");
    clock += 2000;
    const ack = await send(req);
    expect(typeOf(ack)).toBe(MessageType.DHCPACK);
    expect(ack!.packet.yiaddr).toBe("198.51.100.10");
    expect(ack!.packet.file).toBe("http://198.51.100.1:8091/default.ipxe");
    expect(backend.saves).toBe(1);
    expect(backend.leaseByAddr("198.51.100.10")).toEqual({
      Addr: "198.51.100.10",
      Token: macText(1),
      Strategy: "MAC",
      State: "ACK",
      ExpireTime: new Date(clock + 3600_000).toISOString(),
      Via: "",
      Hostname: "",
    });
  });

  test("EDK2 PXE gets ipxe.efi over TFTP; no 175, no 60, no 43", async () => {
    const { offer, ack } = await dora(withMac(EDK2_DISCOVER(), 2), withMac(EDK2_REQUEST(), 2));
    for (const r of [offer, ack]) {
      expect(r.packet.file).toBe("ipxe.efi");
      expect(r.packet.siaddr).toBe(SERVER);
      expect(r.packet.options.getBootFileName()).toBe("ipxe.efi"); // EDK2 lists 67 in option 55
      expect(r.packet.options.has(175)).toBe(false);
      expect(r.packet.options.has(60)).toBe(false);
      expect(r.packet.options.has(43)).toBe(false);
    }
  });

  test("the same MAC keeps its address across DISCOVERs and a new DORA", async () => {
    await dora(withMac(LINUX_DISCOVER(), 3), withMac(LINUX_REQUEST(), 3));
    await dora(withMac(LINUX_DISCOVER(), 4), withMac(LINUX_REQUEST(), 4));
    const again = await send(withMac(LINUX_DISCOVER(), 3));
    expect(again!.packet.yiaddr).toBe("198.51.100.10");
  });

  test("T1 and T2 are 0.5 and 0.875 of the lease time", async () => {
    setup([lab({ ActiveLeaseTime: 1001 })]);
    const offer = await send(withMac(LINUX_DISCOVER(), 1));
    expect(offer!.packet.options.getLeaseTime()).toBe(1001);
    expect(offer!.packet.options.getRenewalTime()).toBe(500);
    expect(offer!.packet.options.getRebindingTime()).toBe(875);
  });

  test("renewing (ciaddr, unicast) extends the lease and answers ciaddr:68", async () => {
    await dora(withMac(LINUX_DISCOVER(), 5), withMac(LINUX_REQUEST(), 5));
    clock += 1800_000;
    const ack = await send(renewal(5, "198.51.100.10"), { from: { address: "198.51.100.10", port: 68 } });
    expect(typeOf(ack)).toBe(MessageType.DHCPACK);
    expect(ack!.to).toEqual({ address: "198.51.100.10", port: 68 });
    expect(ack!.packet.ciaddr).toBe("198.51.100.10");
    expect(ack!.packet.yiaddr).toBe("198.51.100.10");
    expect(backend.leaseByAddr("198.51.100.10")!.ExpireTime).toBe(new Date(clock + 3600_000).toISOString());
  });

  test("rebinding: a client unknown to us keeps a free address of our range, is NAKed off-subnet", async () => {
    const ack = await send(renewal(6, "198.51.100.15"));
    expect(typeOf(ack)).toBe(MessageType.DHCPACK);
    expect(backend.leaseByAddr("198.51.100.15")!.Token).toBe(macText(6));
    const nak = await send(renewal(7, "192.0.2.9"));
    expect(typeOf(nak)).toBe(MessageType.DHCPNAK);
    expect(nak!.to).toEqual({ address: "255.255.255.255", port: 68 });
  });

  test("init-reboot: ACK when we know the binding, NAK off-subnet, silence for unknown clients", async () => {
    await dora(withMac(LINUX_DISCOVER(), 8), withMac(LINUX_REQUEST(), 8));
    const reboot = (n: number, addr: string) => {
      const p = withMac(LINUX_REQUEST(), n);
      p.options.delete(54);
      p.options.setRequestedIp(addr);
      return p;
    };
    expect(typeOf(await send(reboot(8, "198.51.100.10")))).toBe(MessageType.DHCPACK);
    const nak = await send(reboot(8, "192.0.2.10"));
    expect(typeOf(nak)).toBe(MessageType.DHCPNAK);
    expect(nak!.packet.yiaddr).toBe("0.0.0.0");
    expect(nak!.packet.options.getMessage()).toContain('"192.0.2.10" is not on this network');
    expect(nak!.packet.options.has(51)).toBe(false);
    expect(await send(reboot(9, "198.51.100.12"))).toBeUndefined();
    expect(backend.leaseByAddr("198.51.100.12")).toBeUndefined();
  });

  test("a REQUEST naming another server is ignored and frees our offer", async () => {
    const offer = await send(withMac(LINUX_DISCOVER(), 10));
    expect(offer!.packet.yiaddr).toBe("198.51.100.10");
    const req = withMac(LINUX_REQUEST(), 10);
    req.options.setServerId("198.51.100.254");
    req.options.setRequestedIp("198.51.100.77");
    expect(await send(req)).toBeUndefined();
    expect(backend.saves).toBe(0);
    const other = await send(withMac(LINUX_DISCOVER(), 11));
    expect(other!.packet.yiaddr).toBe("198.51.100.10"); // released at once, not after 60 s
  });

  test("NAK: address leased to another client, outside the range, held by another offer", async () => {
    await dora(withMac(LINUX_DISCOVER(), 12), withMac(LINUX_REQUEST(), 12));
    const steal = withMac(LINUX_REQUEST(), 13);
    steal.options.setRequestedIp("198.51.100.10");
    expect(typeOf(await send(steal))).toBe(MessageType.DHCPNAK);
    const outside = withMac(LINUX_REQUEST(), 13);
    outside.options.setRequestedIp("198.51.100.200");
    const nak = await send(outside);
    expect(nak!.packet.options.getMessage()).toContain("outside the range");
    await send(withMac(LINUX_DISCOVER(), 14)); // offered .11
    const held = withMac(LINUX_REQUEST(), 13);
    held.options.setRequestedIp("198.51.100.11");
    expect(typeOf(await send(held))).toBe(MessageType.DHCPNAK);
    expect(backend.saves).toBe(1);
  });

  test("DECLINE holds the address back for DECLINE_HOLD_SECONDS", async () => {
    await dora(withMac(LINUX_DISCOVER(), 15), withMac(LINUX_REQUEST(), 15));
    const decline = withMac(LINUX_REQUEST(), 15);
    decline.options.setMessageType(MessageType.DHCPDECLINE);
    decline.options.setRequestedIp("198.51.100.10");
    expect(await send(decline)).toBeUndefined();
    expect(backend.leaseByAddr("198.51.100.10")).toMatchObject({ State: "DECLINE", ExpireTime: new Date(clock + DECLINE_HOLD_SECONDS * 1000).toISOString() });
    expect(lines.some((l) => l.includes("DHCPDECLINE") && l.includes("198.51.100.10"))).toBe(true);
    expect((await send(withMac(LINUX_DISCOVER(), 15)))!.packet.yiaddr).toBe("198.51.100.11");
    expect((await send(withMac(LINUX_DISCOVER(), 16)))!.packet.yiaddr).toBe("198.51.100.12");
    // A hint for the declined address is refused too.
    const hinted = withMac(LINUX_DISCOVER(), 17);
    hinted.options.setRequestedIp("198.51.100.10");
    expect((await send(hinted))!.packet.yiaddr).toBe("198.51.100.13");
  });

  test("RELEASE keeps the record; nextFree passes it by; the same MAC gets it back", async () => {
    await dora(withMac(LINUX_DISCOVER(), 18), withMac(LINUX_REQUEST(), 18));
    const release = renewal(18, "198.51.100.10");
    release.options.setMessageType(MessageType.DHCPRELEASE);
    release.options.setServerId(SERVER);
    expect(await send(release, { from: { address: "198.51.100.10", port: 68 } })).toBeUndefined();
    expect(backend.leaseByAddr("198.51.100.10")).toMatchObject({ State: "RELEASED", Token: macText(18) });
    expect((await send(withMac(LINUX_DISCOVER(), 19)))!.packet.yiaddr).toBe("198.51.100.11");
    expect((await send(withMac(LINUX_DISCOVER(), 18)))!.packet.yiaddr).toBe("198.51.100.10");
  });

  test("RELEASE from another MAC or to another server changes nothing", async () => {
    await dora(withMac(LINUX_DISCOVER(), 20), withMac(LINUX_REQUEST(), 20));
    const forged = renewal(21, "198.51.100.10");
    forged.options.setMessageType(MessageType.DHCPRELEASE);
    await send(forged);
    const elsewhere = renewal(20, "198.51.100.10");
    elsewhere.options.setMessageType(MessageType.DHCPRELEASE);
    elsewhere.options.setServerId("198.51.100.254");
    await send(elsewhere);
    expect(backend.leaseByAddr("198.51.100.10")!.State).toBe("ACK");
  });

  test("INFORM: options and boot file, no address, no lease, nothing written", async () => {
    const inform = renewal(22, "198.51.100.99");
    inform.options.setMessageType(MessageType.DHCPINFORM);
    const ack = await send(inform, { from: { address: "198.51.100.99", port: 68 } });
    expect(typeOf(ack)).toBe(MessageType.DHCPACK);
    expect(ack!.packet.yiaddr).toBe("0.0.0.0");
    expect(ack!.packet.ciaddr).toBe("198.51.100.99");
    expect(ack!.to).toEqual({ address: "198.51.100.99", port: 68 });
    expect(ack!.packet.options.has(51)).toBe(false);
    expect(ack!.packet.options.has(58)).toBe(false);
    expect(ack!.packet.options.getDomainName()).toBe("lab.example");
    expect(backend.saves).toBe(0);
  });

  test("pool exhaustion: no offer and one log line per minute", async () => {
    setup([lab({ ActiveStart: "198.51.100.10", ActiveEnd: "198.51.100.11" })]);
    expect((await send(withMac(LINUX_DISCOVER(), 30)))!.packet.yiaddr).toBe("198.51.100.10");
    expect((await send(withMac(LINUX_DISCOVER(), 31)))!.packet.yiaddr).toBe("198.51.100.11");
    expect(await send(withMac(LINUX_DISCOVER(), 32))).toBeUndefined();
    expect(await send(withMac(LINUX_DISCOVER(), 33))).toBeUndefined();
    const warn = lines.filter((l) => l.includes("pool exhausted"));
    expect(warn.length).toBe(1);
    expect(warn[0]).toContain("198.51.100.10-198.51.100.11");
    // Offers expire: after OFFER_HOLD_MS the held addresses go to whoever asks.
    clock += OFFER_HOLD_MS + 1;
    expect((await send(withMac(LINUX_DISCOVER(), 32)))!.packet.yiaddr).toBe("198.51.100.10");
  });

  test("two DISCOVERs at once get different addresses; two REQUESTs for one address: one ACK, one NAK", async () => {
    const [a, b] = await Promise.all([send(withMac(LINUX_DISCOVER(), 40)), send(withMac(LINUX_DISCOVER(), 41))]);
    expect(a!.packet.yiaddr).not.toBe(b!.packet.yiaddr);
    backend.saveDelayMs = 20;
    const r1 = withMac(renewal(42, "198.51.100.15"), 42);
    const r2 = withMac(renewal(43, "198.51.100.15"), 43);
    const replies = await Promise.all([send(r1), send(r2)]);
    expect(replies.map(typeOf).sort()).toEqual([MessageType.DHCPACK, MessageType.DHCPNAK]);
    expect(backend.saves).toBe(1);
  });

  test("a failed lease write rejects (no ACK) and frees the address", async () => {
    await send(withMac(LINUX_DISCOVER(), 44));
    backend.failWith = new Error("disk full");
    const req = withMac(LINUX_REQUEST(), 44);
    req.options.setRequestedIp("198.51.100.10");
    await expect(send(req)).rejects.toThrow("disk full");
    backend.failWith = undefined;
    await Bun.sleep(1);
    expect((await send(withMac(LINUX_DISCOVER(), 45)))!.packet.yiaddr).toBe("198.51.100.10");
  });

  test("option values expand request fields; a broken one is left out with a log line", async () => {
    setup([
      lab({
        Options: [
          { Code: 12, Value: "node-{{macHex}}" },
          { Code: 15, Value: "{{options.60}}.example" },
          { Code: 42, Value: "{{options.200}}" }, // the request has no option 200
          { Code: 3, Value: "<%= it.nope( %>" }, // stored before option values stopped being Eta: refused, never run
          { Code: 6, Value: "not-an-address" },
        ],
      }),
    ]);
    const offer = (await send(withMac(LINUX_DISCOVER(), 0x50)))!.packet;
    expect(offer.options.getHostName()).toBe("node-525400aa0050");
    expect(offer.options.getDomainName()).toBe("pxe-e2e-initrd.example");
    expect(offer.options.has(42)).toBe(false);
    expect(offer.options.has(3)).toBe(false);
    expect(offer.options.has(6)).toBe(false);
    expect(lines.some((l) => l.includes("option left out") && l.includes("request has no option 200"))).toBe(true);
    expect(lines.some((l) => l.includes("Eta template code, which is not run any more"))).toBe(true);
    expect(lines.some((l) => l.includes("cannot be encoded") && l.includes("not-an-address"))).toBe(true);
    // Logged once per minute per template, not per packet.
    const before = lines.length;
    for (let i = 0; i < 10; i++) await send(withMac(LINUX_DISCOVER(), 0x60 + i));
    expect(lines.length - before).toBe(0);
  });

  test("malformed input: bad option 53 and non-Ethernet hardware are dropped with a reason, a bad 93 is ignored", async () => {
    const bad53 = withMac(LINUX_DISCOVER(), 0x70);
    bad53.options.set(53, Uint8Array.of(1, 1));
    await expect(handle(bad53, ctx())).rejects.toBeInstanceOf(DhcpParseError);
    const ib = withMac(LINUX_DISCOVER(), 0x71);
    ib.htype = 32;
    await expect(handle(ib, ctx())).rejects.toThrow("not Ethernet");
    const bad93 = withMac(EDK2_DISCOVER(), 0x72);
    bad93.options.set(93, Uint8Array.of(7));
    const offer = await send(bad93);
    expect(offer!.packet.file).toBe("undionly.kpxe"); // arch unknown: treated as BIOS PXE
    const noType = withMac(LINUX_DISCOVER(), 0x73);
    noType.options.delete(53);
    expect(await handle(noType, ctx())).toBeUndefined();
  });

  test("no subnet for the interface: silence", async () => {
    expect(await send(withMac(LINUX_DISCOVER(), 0x74), { ifaceCidr: "192.0.2.0/24", serverAddress: "192.0.2.1" })).toBeUndefined();
  });
});

describe("reservations", () => {
  const res = reservationConfig({
    Addr: "198.51.100.50",
    Token: macText(0x80),
    Options: [{ Code: 15, Value: "reserved.example" }],
    NextServer: "198.51.100.9",
  });

  test("a reserved MAC gets its address, lease time, options and next-server", async () => {
    setup([lab()]);
    backend.addReservation(res);
    const { offer, ack } = await dora(withMac(EDK2_DISCOVER(), 0x80), withMac(EDK2_REQUEST(), 0x80));
    for (const r of [offer, ack]) {
      expect(r.packet.yiaddr).toBe("198.51.100.50");
      expect(r.packet.options.getLeaseTime()).toBe(7200);
      expect(r.packet.options.getDomainName()).toBe("reserved.example");
      expect(r.packet.options.getRouters()).toEqual(["198.51.100.1"]);
      expect(r.packet.siaddr).toBe("198.51.100.9");
    }
    // Nobody else gets the reserved address, even when asking for it.
    const other = withMac(LINUX_REQUEST(), 0x81);
    other.options.setRequestedIp("198.51.100.50");
    expect(typeOf(await send(other))).toBe(MessageType.DHCPNAK);
    // The reserved client asking for another address is told no.
    const wrong = withMac(EDK2_REQUEST(), 0x80);
    wrong.options.setRequestedIp("198.51.100.11");
    expect(typeOf(await send(wrong))).toBe(MessageType.DHCPNAK);
  });

  test("a disabled subnet answers reservations only", async () => {
    setup([lab({ Enabled: false })]);
    backend.addReservation(res);
    await dora(withMac(LINUX_DISCOVER(), 0x80), withMac(LINUX_REQUEST(), 0x80));
    expect(await send(withMac(LINUX_DISCOVER(), 0x82))).toBeUndefined();
    expect(typeOf(await send(renewal(0x82, "198.51.100.12")))).toBe(MessageType.DHCPNAK);
  });

  test("OnlyReservations and Unmanaged answer reservations only", async () => {
    for (const over of [{ OnlyReservations: true }, { Unmanaged: true }]) {
      setup([lab(over)]);
      backend.addReservation(res);
      expect((await send(withMac(LINUX_DISCOVER(), 0x80)))!.packet.yiaddr).toBe("198.51.100.50");
      expect(await send(withMac(LINUX_DISCOVER(), 0x83))).toBeUndefined();
    }
  });
});

describe("relayed requests", () => {
  beforeEach(() => setup([lab(), remote()]));
  const circuit = Uint8Array.from([1, 4, 0x65, 0x74, 0x68, 0x33, 2, 3, 0x73, 0x77, 0x31]);

  test("giaddr picks the subnet; reply to giaddr:67 with hops and giaddr kept and option 82 echoed", async () => {
    const d = withMac(LINUX_DISCOVER(), 0x90);
    d.giaddr = "203.0.113.1";
    d.hops = 1;
    d.options.set(82, circuit);
    const offer = await send(d, { from: { address: "203.0.113.1", port: 67 } });
    expect(offer!.packet.yiaddr).toBe("203.0.113.100");
    expect(offer!.to).toEqual({ address: "203.0.113.1", port: 67 });
    expect(offer!.packet.giaddr).toBe("203.0.113.1");
    expect(offer!.packet.hops).toBe(1);
    expect(offer!.packet.options.getSubnetMask()).toBe("255.255.255.0");
    expect(offer!.packet.options.get(82)).toEqual(circuit);
    const codes = offer!.packet.options.codes();
    expect(codes[codes.length - 1]).toBe(82);
    const r = withMac(LINUX_REQUEST(), 0x90);
    r.giaddr = "203.0.113.1";
    r.options.set(82, circuit);
    r.options.setRequestedIp("203.0.113.100");
    const ack = await send(r);
    expect(typeOf(ack)).toBe(MessageType.DHCPACK);
    expect(backend.leaseByAddr("203.0.113.100")!.Via).toBe("203.0.113.1");
    // A relayed NAK goes to the relay with the broadcast bit set.
    const bad = withMac(LINUX_REQUEST(), 0x91);
    bad.giaddr = "203.0.113.1";
    bad.options.setRequestedIp("198.51.100.10");
    const nak = await send(bad);
    expect(typeOf(nak)).toBe(MessageType.DHCPNAK);
    expect(nak!.to).toEqual({ address: "203.0.113.1", port: 67 });
    expect(nak!.packet.flags & 0x8000).toBe(0x8000);
  });

  test("link-selection overrides giaddr; server-id-override becomes our identifier", async () => {
    const d = withMac(LINUX_DISCOVER(), 0x92);
    d.giaddr = "198.51.100.254";
    d.options.setRelayAgentInfo({ circuitId: Uint8Array.of(7), linkSelection: "203.0.113.0", serverIdOverride: "203.0.113.1" });
    const raw = d.options.get(82)!;
    const offer = await send(d);
    expect(offer!.packet.yiaddr).toBe("203.0.113.100");
    expect(offer!.packet.options.getServerId()).toBe("203.0.113.1");
    expect(offer!.packet.options.get(82)).toEqual(raw);
    const r = withMac(LINUX_REQUEST(), 0x92);
    r.giaddr = "198.51.100.254";
    r.options.set(82, raw);
    r.options.setServerId("203.0.113.1");
    r.options.setRequestedIp("203.0.113.100");
    expect(typeOf(await send(r))).toBe(MessageType.DHCPACK);
  });

  test("a malformed option 82 falls back to giaddr and is still echoed unchanged", async () => {
    const d = withMac(LINUX_DISCOVER(), 0x93);
    d.giaddr = "203.0.113.1";
    const junk = Uint8Array.of(5, 9, 1);
    d.options.set(82, junk);
    const offer = await send(d);
    expect(offer!.packet.yiaddr).toBe("203.0.113.100");
    expect(offer!.packet.options.get(82)).toEqual(junk);
  });
});

describe("proxyDHCP", () => {
  beforeEach(() => setup([subnetConfig({ Name: "proxy", Subnet: "198.51.100.0/24", Proxy: true })]));

  const biosPxe = (n: number) => {
    const p = withMac(IPXE_BIOS_DISCOVER(), n);
    p.options.delete(77); // the ROM before iPXE: plain PXE
    p.options.delete(175);
    return p;
  };

  test("BIOS PXE on 67: boot file, PXEClient, option 43 with discovery control 8, no address", async () => {
    const offer = await send(biosPxe(0xa0));
    const o = offer!.packet;
    expect(typeOf(offer)).toBe(MessageType.DHCPOFFER);
    expect(o.yiaddr).toBe("0.0.0.0");
    expect(o.file).toBe("undionly.kpxe");
    expect(o.siaddr).toBe(SERVER);
    expect(o.options.getVendorClass()).toBe("PXEClient");
    expect(o.options.getPxeVendorOptions()?.discoveryControl).toBe(8);
    expect(o.options.has(51)).toBe(false);
    expect(o.options.has(1)).toBe(false);
    expect(o.options.getServerId()).toBe(SERVER);
    expect(o.options.get(97)).toEqual(biosPxe(0xa0).options.get(97)!);
    expect(offer!.to).toEqual({ address: "255.255.255.255", port: 68 });
    expect(backend.saves).toBe(0);
  });

  test("EFI PXE on 67 gets no option 43; iPXE gets its script URL and 175", async () => {
    const efi = (await send(withMac(EDK2_DISCOVER(), 0xa1)))!.packet;
    expect(efi.file).toBe("ipxe.efi");
    expect(efi.options.has(43)).toBe(false);
    expect(efi.options.getVendorClass()).toBe("PXEClient");
    const ipxe = (await send(withMac(IPXE_BIOS_DISCOVER(), 0xa2)))!.packet;
    expect(ipxe.file).toBe("http://198.51.100.1:8091/default.ipxe");
    expect(ipxe.options.getIpxeOptions()?.noPxeDhcp).toBe(true);
    expect(ipxe.options.has(43)).toBe(false);
  });

  test("non-PXE clients and REQUESTs on 67 are left to the real DHCP server", async () => {
    expect(await send(withMac(LINUX_DISCOVER(), 0xa3))).toBeUndefined();
    expect(await send(withMac(EDK2_REQUEST(), 0xa3))).toBeUndefined();
  });

  test("port 4011: a REQUEST gets a DHCPACK unicast back to the client's address and port", async () => {
    const r = withMac(EDK2_REQUEST(), 0xa4);
    r.ciaddr = "198.51.100.142";
    r.options.delete(50);
    r.options.delete(54);
    const ack = await send(r, { localPort: 4011, from: { address: "198.51.100.142", port: 68 } });
    expect(typeOf(ack)).toBe(MessageType.DHCPACK);
    expect(ack!.to).toEqual({ address: "198.51.100.142", port: 68 });
    expect(ack!.packet.yiaddr).toBe("0.0.0.0");
    expect(ack!.packet.file).toBe("ipxe.efi");
    expect(ack!.packet.options.has(43)).toBe(false);
    const bios = biosPxe(0xa5);
    bios.options.setMessageType(MessageType.DHCPREQUEST);
    bios.ciaddr = "198.51.100.143";
    const biosAck = await send(bios, { localPort: 4011, from: { address: "198.51.100.143", port: 4011 } });
    expect(biosAck!.to).toEqual({ address: "198.51.100.143", port: 4011 });
    expect(biosAck!.packet.options.getPxeVendorOptions()?.discoveryControl).toBe(8);
    expect(await send(withMac(LINUX_REQUEST(), 0xa6), { localPort: 4011, from: { address: "198.51.100.144", port: 68 } })).toBeUndefined();
  });

  test("UEFI HTTP boot (arch 16) gets the loader URL with option 60 HTTPClient", async () => {
    setup([lab()]);
    const d = withMac(EDK2_DISCOVER(), 0xa7);
    d.options.setClientArch([16]);
    d.options.setVendorClass("HTTPClient:Arch:00016:UNDI:003001");
    const o = (await send(d))!.packet;
    expect(o.options.getVendorClass()).toBe("HTTPClient");
    expect(o.file).toBe("http://198.51.100.1:8091/ipxe.efi");
    expect(o.options.getBootFileName()).toBe("http://198.51.100.1:8091/ipxe.efi");
  });
});

describe("booter failures", () => {
  test("a throwing booter costs the boot information, not the lease", async () => {
    setup([lab()]);
    handle = createDhcpHandler({
      backend,
      log,
      booter: {
        dhcpBoot() {
          throw new Error("boot core broken");
        },
      },
    });
    const offer = await send(withMac(EDK2_DISCOVER(), 0xb0));
    expect(offer!.packet.yiaddr).toBe("198.51.100.10");
    expect(offer!.packet.file).toBe("");
    expect(offer!.packet.siaddr).toBe("0.0.0.0");
    expect(lines.some((l) => l.includes("boot decision failed") && l.includes("boot core broken"))).toBe(true);
  });
});

describe("allocation policy (passed through createDhcpHandler)", () => {
  /** Half 0 only while `narrow`, lease time capped at 300 s. */
  const policy = {
    narrow: true,
    mayAllocate: (a: string) => !policy.narrow || addressHalf(a) === 0,
    mayRenew: (a: string) => !policy.narrow || addressHalf(a) === 0,
    leaseSeconds: (_a: string, _m: string, s: number) => (policy.narrow ? Math.min(s, 300) : s),
  };
  const pool = Array.from({ length: 11 }, (_, i) => `198.51.100.${10 + i}`);
  const half1 = pool.filter((a) => addressHalf(a) === 1);
  beforeEach(() => {
    policy.narrow = true;
    setup([lab()], policy);
  });

  test("DORA gives a half-0 address with option 51, T1 and T2 from the capped lease time", async () => {
    for (let n = 1; n <= 4; n++) {
      const { offer, ack } = await dora(withMac(LINUX_DISCOVER(), n), withMac(LINUX_REQUEST(), n));
      for (const r of [offer, ack]) {
        expect(addressHalf(r.packet.yiaddr)).toBe(0);
        expect(r.packet.options.getLeaseTime()).toBe(300);
        expect(r.packet.options.getRenewalTime()).toBe(150);
        expect(r.packet.options.getRebindingTime()).toBe(262);
      }
      expect(backend.leaseByAddr(ack.packet.yiaddr)!.ExpireTime).toBe(new Date(clock + 300_000).toISOString());
    }
  });

  test("a renewal it may not grant is NAKed; the client's DISCOVER is offered an allowed address", async () => {
    policy.narrow = false;
    const old = half1[0]!;
    const grab = await send(renewal(5, old)); // rebinding onto a free address of the range
    expect(typeOf(grab)).toBe(MessageType.DHCPACK);
    expect(grab!.packet.options.getLeaseTime()).toBe(3600);
    policy.narrow = true;
    clock += 1000;
    const nak = await send(renewal(5, old), { from: { address: old, port: 68 } });
    expect(typeOf(nak)).toBe(MessageType.DHCPNAK);
    expect(nak!.packet.options.getMessage()).toContain("may not be renewed by this server now");
    expect(lines.some((l) => l.includes("DHCPNAK") && l.includes("allocation policy"))).toBe(true);
    const discover = withMac(LINUX_DISCOVER(), 5);
    discover.options.setRequestedIp(old);
    const offer = await send(discover);
    expect(typeOf(offer)).toBe(MessageType.DHCPOFFER);
    expect(addressHalf(offer!.packet.yiaddr)).toBe(0);
  });

  test("a configured T1/T2 past the capped lease's end gives way to the computed ones; one within it stays", async () => {
    const base = lab().Options;
    // No parameter request list: every configured option is sent, 58 and 59 included.
    const noPrl = (p: DhcpPacket) => (p.options.delete(55), p);
    setup([lab({ Options: [...base, { Code: 58, Value: "1800" }, { Code: 59, Value: "3000" }] })], policy);
    const { ack } = await dora(noPrl(withMac(LINUX_DISCOVER(), 9)), noPrl(withMac(LINUX_REQUEST(), 9)));
    expect(ack.packet.options.getLeaseTime()).toBe(300);
    expect(ack.packet.options.getRenewalTime()).toBe(150);
    expect(ack.packet.options.getRebindingTime()).toBe(262);
    setup([lab({ Options: [...base, { Code: 58, Value: "100" }, { Code: 59, Value: "3000" }] })], policy);
    const second = await dora(noPrl(withMac(LINUX_DISCOVER(), 10)), noPrl(withMac(LINUX_REQUEST(), 10)));
    expect(second.ack.packet.options.getRenewalTime()).toBe(100);
    expect(second.ack.packet.options.getRebindingTime()).toBe(262);
  });

  test("a reserved client is answered as without a policy", async () => {
    const reserved = half1[1]!;
    backend.addReservation(reservationConfig({ Addr: reserved, Token: macText(0x70) }));
    const { offer, ack } = await dora(withMac(LINUX_DISCOVER(), 0x70), withMac(LINUX_REQUEST(), 0x70));
    for (const r of [offer, ack]) {
      expect(r.packet.yiaddr).toBe(reserved);
      expect(r.packet.options.getLeaseTime()).toBe(7200);
    }
  });
});
