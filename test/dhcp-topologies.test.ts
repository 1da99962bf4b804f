// The whole Socle server (`bun src/main.ts serve`) on the network shapes a provisioning segment
// really has, in namespaces each block creates and removes (issue 3, section 7):
// - two served interfaces, a subnet on each, clients on both at once;
// - a relayed segment: ISC dhcrelay in its own namespace, the subnet chosen by giaddr;
// - proxyDHCP beside dnsmasq: dnsmasq hands out the address, Socle only the boot information.

import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { MessageType } from "../src/dhcp/codec/message-type.ts";
import { FLAG_BROADCAST, formatPacket, newPacket, parsePacket, type DhcpPacket } from "../src/dhcp/codec/packet.ts";
import { NetLab, needsRoot, type Spawned } from "./helpers/netns.ts";
import { ClientKit, clientPort, probe, SocleInNetns, udhcpcOnce, waitEvent, type ProbeDatagram } from "./helpers/socle-netns.ts";

// Namespaces, veths and child processes take seconds to set up on a loaded 2-core machine;
// hooks get the same room as tests.
setDefaultTimeout(60_000);

const rootSkip = needsRoot() ?? (Bun.which("busybox") ? undefined : "needs busybox (udhcpc)");
const relaySkip = rootSkip ?? (Bun.which("dhcrelay") ? undefined : "needs ISC dhcrelay (isc-dhcp-relay)");
const dnsmasqSkip = rootSkip ?? (Bun.which("dnsmasq") ? undefined : "needs dnsmasq (dnsmasq-base)");
for (const [what, why] of [["two interfaces", rootSkip], ["relay", relaySkip], ["proxyDHCP", dnsmasqSkip]] as const) {
  if (why) console.log(`skip dhcp-topologies.test.ts (${what}): ${why}`);
}

const mac = (n: number) => `02:00:00:5c:02:${n.toString(16).padStart(2, "0")}`;
const macBytes = (m: string) => Uint8Array.from(m.split(":").map((h) => parseInt(h, 16)));
const subnet = (name: string, cidr: string, extra: Record<string, unknown> = {}) => {
  const base = cidr.replace(/\.0\/24$/, "");
  return JSON.stringify({ Name: name, Subnet: cidr, ActiveStart: `${base}.100`, ActiveEnd: `${base}.150`, ...extra });
};

/** A lab, a client kit and a Socle that every block tears down in the same order. */
function block() {
  const lab = new NetLab();
  const kit = new ClientKit();
  const state: { socle?: SocleInNetns } = {};
  const teardown = async () => {
    try {
      await state.socle?.close();
    } finally {
      kit.remove();
      await lab.cleanup();
    }
  };
  return { lab, kit, state, teardown };
}

describe.skipIf(rootSkip !== undefined)("two served interfaces, two subnets", () => {
  const { lab, kit, state, teardown } = block();
  let ca = "";
  let cb = "";
  const n = { sva: "", svb: "", cla: "", clb: "" };

  beforeAll(async () => {
    const srv = await lab.ns("s");
    ca = await lab.ns("a");
    cb = await lab.ns("b");
    for (const k of Object.keys(n) as (keyof typeof n)[]) n[k] = lab.name(k);
    await lab.veth({ ns: srv, name: n.sva }, { ns: ca, name: n.cla });
    await lab.veth({ ns: srv, name: n.svb }, { ns: cb, name: n.clb });
    await lab.ip(ca, "link", "set", n.cla, "address", mac(1));
    await lab.ip(cb, "link", "set", n.clb, "address", mac(2));
    await lab.addr(srv, n.sva, "198.51.100.1/24");
    await lab.addr(srv, n.svb, "203.0.113.1/24");
    state.socle = await SocleInNetns.start(lab, srv, { interfaces: [n.sva, n.svb] });
    await state.socle.cli("subnets", "create", subnet(`a-${lab.id}`, "198.51.100.0/24"));
    await state.socle.cli("subnets", "create", subnet(`b-${lab.id}`, "203.0.113.0/24"));
  }, 40_000);
  afterAll(teardown);

  test("a client on each interface gets its own subnet's address, both at once", async () => {
    const socle = state.socle!;
    const ka = kit.udhcpcScript("a");
    const kb = kit.udhcpcScript("b");
    const [ra, rb] = await Promise.all([udhcpcOnce(lab, ca, n.cla, ka.script), udhcpcOnce(lab, cb, n.clb, kb.script)]);
    expect([ra.code, rb.code]).toEqual([0, 0]);
    const ipA = (await waitEvent(ka.events, /^bound ip=(198\.51\.100\.\d+) mask=24 serverid=198\.51\.100\.1 /))[1]!;
    const ipB = (await waitEvent(kb.events, /^bound ip=(203\.0\.113\.\d+) mask=24 serverid=203\.0\.113\.1 /))[1]!;
    expect(await socle.lease(ipA)).toMatchObject({ Token: mac(1), State: "ACK", Via: "" });
    expect(await socle.lease(ipB)).toMatchObject({ Token: mac(2), State: "ACK", Via: "" });
  }, 30_000);
});

describe.skipIf(relaySkip !== undefined)("a relayed segment (ISC dhcrelay)", () => {
  const { lab, kit, state, teardown } = block();
  let cl = "";
  let c0 = "";
  let relay: Spawned;

  // [ns c] c0 --- r0 203.0.113.1 [ns r: dhcrelay] r1 198.51.100.2 --- s1 198.51.100.1 [ns s: Socle]
  beforeAll(async () => {
    const srv = await lab.ns("s");
    const rl = await lab.ns("r");
    cl = await lab.ns("c");
    c0 = lab.name("c0");
    const [r0, r1, s1] = [lab.name("r0"), lab.name("r1"), lab.name("s1")];
    await lab.veth({ ns: cl, name: c0 }, { ns: rl, name: r0 });
    await lab.veth({ ns: rl, name: r1 }, { ns: srv, name: s1 });
    await lab.ip(cl, "link", "set", c0, "address", mac(3));
    await lab.addr(rl, r0, "203.0.113.1/24");
    await lab.addr(rl, r1, "198.51.100.2/24");
    await lab.addr(srv, s1, "198.51.100.1/24");
    await lab.ip(srv, "route", "add", "203.0.113.0/24", "via", "198.51.100.2");
    state.socle = await SocleInNetns.start(lab, srv, { interfaces: [s1] });
    // Two subnets: the server's own segment (what a direct client would get) and the relayed one.
    await state.socle.cli("subnets", "create", subnet(`local-${lab.id}`, "198.51.100.0/24"));
    await state.socle.cli("subnets", "create", subnet(`relayed-${lab.id}`, "203.0.113.0/24", { Options: [{ Code: 3, Value: "203.0.113.1" }] }));
    relay = lab.spawn(rl, ["dhcrelay", "-4", "-d", "-pf", join(kit.dir, "dhcrelay.pid"), "-id", r0, "-iu", r1, "198.51.100.1"]);
    await relay.waitFor(/Sending on\s+Socket\/fallback/, 10_000);
  }, 40_000);
  afterAll(teardown);

  test("a relayed client gets an address from the subnet that matches giaddr", async () => {
    const socle = state.socle!;
    const k = kit.udhcpcScript("c");
    const r = await udhcpcOnce(lab, cl, c0, k.script);
    expect(r.code).toBe(0);
    const ip = (await waitEvent(k.events, /^bound ip=(203\.0\.113\.\d+) mask=24 serverid=198\.51\.100\.1 /))[1]!;
    expect(await socle.lease(ip)).toMatchObject({ Token: mac(3), State: "ACK", Via: "203.0.113.1" });
    expect(Number(ip.split(".")[3])).toBeGreaterThanOrEqual(100);
    // Nothing was handed out on the server's own segment.
    const leases = await socle.cli<{ Addr: string }[]>("leases", "list");
    expect(leases.filter((l) => l.Addr.startsWith("198.51.100."))).toEqual([]);
    expect(relay.output()).toMatch(/Forwarded BOOTREPLY for 02:00:00:5c:02:03/);
  }, 30_000);
});

describe.skipIf(dnsmasqSkip !== undefined)("proxyDHCP beside dnsmasq", () => {
  const { lab, kit, state, teardown } = block();
  let srv = "";
  let cl = "";
  let br = "";

  // [ns c] client ports --- bridge br 198.51.100.1 [ns s: Socle, Proxy subnet] --- dq0 198.51.100.2 [ns d: dnsmasq]
  beforeAll(async () => {
    srv = await lab.ns("s");
    const dq = await lab.ns("d");
    cl = await lab.ns("c");
    br = lab.name("br");
    await lab.bridge(srv, br);
    await lab.addr(srv, br, "198.51.100.1/24");
    const dq0 = lab.name("dq0");
    const dqp = lab.name("dqp");
    await lab.veth({ ns: dq, name: dq0 }, { ns: srv, name: dqp });
    await lab.ip(srv, "link", "set", dqp, "master", br);
    await lab.addr(dq, dq0, "198.51.100.2/24");
    const dnsmasq = lab.spawn(dq, [
      "dnsmasq",
      "--no-daemon",
      "--conf-file=/dev/null",
      "--port=0",
      `--interface=${dq0}`,
      "--bind-interfaces",
      "--dhcp-range=198.51.100.50,198.51.100.60,255.255.255.0,10m",
      "--no-ping",
      `--dhcp-leasefile=${join(kit.dir, "dnsmasq.leases")}`,
      `--pid-file=${join(kit.dir, "dnsmasq.pid")}`,
      "--user=root",
      "--log-dhcp",
    ]);
    await dnsmasq.waitFor(/DHCP, IP range 198\.51\.100\.50 -- 198\.51\.100\.60/, 10_000);
    state.socle = await SocleInNetns.start(lab, srv, { interfaces: [br] });
    await state.socle.cli("subnets", "create", JSON.stringify({ Name: `proxy-${lab.id}`, Subnet: "198.51.100.0/24", Proxy: true }));
  }, 40_000);
  afterAll(teardown);

  test("a client that is not PXE gets its address from dnsmasq and nothing from Socle", async () => {
    const socle = state.socle!;
    const c = await clientPort(lab, cl, srv, br, "np", mac(4));
    const k = kit.udhcpcScript("np");
    expect((await udhcpcOnce(lab, cl, c, k.script)).code).toBe(0);
    await waitEvent(k.events, /^bound ip=198\.51\.100\.(5\d|60) mask=24 serverid=198\.51\.100\.2 siaddr=\S* boot_file= bootfile= /);
    expect(socle.logs().filter((l) => l.mac === mac(4) && /OFFER|ACK/.test(l.msg))).toEqual([]);
    expect(await socle.cli("leases", "list")).toEqual([]);
  }, 30_000);

  test("a BIOS PXE client gets its address from dnsmasq and undionly.kpxe from Socle (67 and 4011)", async () => {
    const socle = state.socle!;
    const m = mac(5);
    const c = await clientPort(lab, cl, srv, br, "px", m);
    const xid = 0x5c0b007;
    const pxe = (type: MessageType, init: Partial<DhcpPacket> = {}) => {
      const p = newPacket({ xid, flags: FLAG_BROADCAST, chaddr: macBytes(m), ...init });
      p.options
        .setMessageType(type)
        .setMaxMessageSize(1260)
        .setParameterList([1, 3, 43, 54, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135])
        .setVendorClass("PXEClient:Arch:00000:UNDI:002001")
        .setClientArch([0])
        .set(94, Uint8Array.of(1, 2, 1))
        .set(97, Uint8Array.of(0, ...Array.from({ length: 16 }, (_, i) => 0xa0 + i)));
      return p;
    };
    const hex = (p: DhcpPacket) => Buffer.from(formatPacket(p)).toString("hex");
    const replies = (got: ProbeDatagram[]) => got.map((d) => ({ from: d.from, p: parsePacket(Buffer.from(d.hex, "hex")) })).filter((r) => r.p.xid === xid);

    // DHCPDISCOVER: two offers, an address from dnsmasq and a proxy offer (no address) from Socle.
    const offers = replies(await probe(lab, cl, { iface: c, port: 68, sends: [{ address: "255.255.255.255", port: 67, hex: hex(pxe(MessageType.DHCPDISCOVER)) }], listenMs: 1_500 }));
    const fromDnsmasq = offers.find((o) => o.p.options.getServerId() === "198.51.100.2");
    const fromSocle = offers.find((o) => o.p.options.getServerId() === "198.51.100.1");
    expect(fromDnsmasq?.p.options.getMessageType()).toBe(MessageType.DHCPOFFER);
    const ip = fromDnsmasq!.p.yiaddr;
    expect(ip).toMatch(/^198\.51\.100\.(5\d|60)$/);
    expect(fromSocle?.p.options.getMessageType()).toBe(MessageType.DHCPOFFER);
    expect(fromSocle!.p).toMatchObject({ yiaddr: "0.0.0.0", siaddr: "198.51.100.1", file: "undionly.kpxe" });
    expect(fromSocle!.p.options.getVendorClass()).toBe("PXEClient");
    expect(fromSocle!.p.options.getBootFileName()).toBe("undionly.kpxe");
    expect(fromSocle!.p.options.get(43)).toBeDefined(); // BIOS: PXE discovery control, "boot the file in this packet"
    expect(fromSocle!.p.options.get(51)).toBeUndefined(); // no lease from a proxy

    // DHCPREQUEST for dnsmasq's offer: dnsmasq acknowledges; Socle (not the server named) is silent.
    const req = pxe(MessageType.DHCPREQUEST);
    req.options.setServerId("198.51.100.2").setRequestedIp(ip);
    const acks = replies(await probe(lab, cl, { iface: c, port: 68, sends: [{ address: "255.255.255.255", port: 67, hex: hex(req) }], listenMs: 1_000 }));
    expect(acks.map((a) => `${a.p.options.getServerId()} ${MessageType[a.p.options.getMessageType()!]} ${a.p.yiaddr}`)).toEqual([`198.51.100.2 DHCPACK ${ip}`]);

    // With its address, the PXE client asks the boot server on 4011, as PXE 2.1 does after a proxy offer.
    await lab.addr(cl, c, `${ip}/24`);
    const boot = pxe(MessageType.DHCPREQUEST, { ciaddr: ip, flags: 0 });
    const answers = replies(await probe(lab, cl, { iface: c, port: 68, sends: [{ address: "198.51.100.1", port: 4011, hex: hex(boot) }], listenMs: 1_000 }));
    expect(answers).toHaveLength(1);
    expect(answers[0]!.from).toBe("198.51.100.1:4011");
    expect(answers[0]!.p.options.getMessageType()).toBe(MessageType.DHCPACK);
    expect(answers[0]!.p).toMatchObject({ siaddr: "198.51.100.1", file: "undionly.kpxe", yiaddr: "0.0.0.0" });
    // Socle recorded no lease: the address is dnsmasq's.
    expect(await socle.cli("leases", "list")).toEqual([]);
  }, 30_000);
});
