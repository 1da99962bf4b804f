// Real DHCP clients (busybox udhcpc, ISC dhclient) against the whole Socle server (`bun src/main.ts
// serve`: store-backed leases, the DHCP handler, the minimal booter), configured only through its
// API, inside namespaces this file creates. Issue 3, section 7.
//
// Topology:  [ns c] one veth per client (own MAC) --> bridge br (198.51.100.1/24) [ns s: Socle]

import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { writeFileSync } from "node:fs";
import { formatPacket, newPacket } from "../src/dhcp/codec/packet.ts";
import { MessageType } from "../src/dhcp/codec/message-type.ts";
import { MAX_REQUEST_SIZE } from "../src/dhcp/net/server.ts";
import { NetLab, needsRoot } from "./helpers/netns.ts";
import { ClientKit, clientPort, events, probe, SocleInNetns, udhcpcOnce, until, waitEvent, type LogEntry } from "./helpers/socle-netns.ts";

// Namespaces, veths and child processes take seconds to set up on a loaded 2-core machine;
// hooks get the same room as tests.
setDefaultTimeout(60_000);

const skip = needsRoot() ?? (!Bun.which("busybox") ? "needs busybox (udhcpc)" : !Bun.which("dhclient") ? "needs ISC dhclient (isc-dhcp-client)" : undefined);
if (skip) console.log(`skip dhcp-clients.test.ts: ${skip}`);

const SERVER = "198.51.100.1";
const mac = (n: number) => `02:00:00:5c:01:${n.toString(16).padStart(2, "0")}`;

describe.skipIf(skip !== undefined)("DHCP with real clients against socle serve", () => {
  const lab = new NetLab();
  const kit = new ClientKit();
  let srv = "";
  let cl = "";
  let br = "";
  let socle: SocleInNetns;
  const subnet = `seg-${lab.id}`;
  const port = (tag: string, n: number) => clientPort(lab, cl, srv, br, tag, mac(n));
  const bound = (stdout: string) => /^bound ip=(\S+)/m.exec(stdout)?.[1];

  beforeAll(async () => {
    srv = await lab.ns("s");
    cl = await lab.ns("c");
    br = lab.name("br");
    await lab.bridge(srv, br);
    await lab.addr(srv, br, `${SERVER}/24`);
    await port("ua", 1); // a bridge with a port up is "running": the server serves it from the start
    socle = await SocleInNetns.start(lab, srv, { interfaces: [br] });
    await socle.cli("subnets", "create", JSON.stringify({ Name: subnet, Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.100", ActiveEnd: "198.51.100.150", ActiveLeaseTime: 600 }));
  }, 40_000);

  afterAll(async () => {
    try {
      await socle?.close();
    } finally {
      kit.remove();
      await lab.cleanup();
    }
  });

  const leaseAcks = (m: string, state: string) => socle.logs().filter((l) => l.subsystem === "dhcp" && l.msg === "DHCPACK" && l.mac === m && l.state === state);

  test("udhcpc obtains a lease the API shows; a restarted server keeps it; renew (SIGUSR1) and release (SIGUSR2)", async () => {
    const a = lab.name("ua");
    const b = await port("ub", 2);
    const ka = kit.udhcpcScript("ua");
    const kb = kit.udhcpcScript("ub");

    const ra = await udhcpcOnce(lab, cl, a, ka.script);
    expect(ra.code).toBe(0);
    const ipA = (await waitEvent(ka.events, /^bound ip=(\S+) mask=24 serverid=198\.51\.100\.1 /))[1]!;
    const rb = await udhcpcOnce(lab, cl, b, kb.script);
    expect(rb.code).toBe(0);
    const ipB = (await waitEvent(kb.events, /^bound ip=(\S+) mask=24 serverid=198\.51\.100\.1 /))[1]!;
    expect(ipB).not.toBe(ipA);
    for (const [ip, m] of [[ipA, mac(1)], [ipB, mac(2)]] as const) {
      expect(await socle.lease(ip)).toMatchObject({ Addr: ip, Token: m, State: "ACK", Via: "" });
    }

    // Restart: B asks first; had the leases been lost it would get A's (the first free) address.
    await socle.restart();
    const listed = await socle.cli<{ Addr: string; State: string }[]>("leases", "list");
    expect(listed.filter((l) => l.Addr === ipA || l.Addr === ipB).map((l) => `${l.Addr} ${l.State}`).sort()).toEqual([`${ipA} ACK`, `${ipB} ACK`].sort());
    writeFileSync(kb.events, "");
    expect((await udhcpcOnce(lab, cl, b, kb.script)).code).toBe(0);
    await waitEvent(kb.events, new RegExp(`^bound ip=${ipB.replaceAll(".", "\\.")} `));

    // A long-running client: bound, then renew on SIGUSR1 (unicast DHCPREQUEST from its address),
    // then release on SIGUSR2.
    writeFileSync(ka.events, "");
    // Killed however the test ends: a client left running would keep renewing during later tests.
    const run = lab.spawn(cl, ["busybox", "udhcpc", "-i", a, "-f", "-t", "4", "-T", "1", "-s", ka.script]);
    try {
      await waitEvent(ka.events, new RegExp(`^bound ip=${ipA.replaceAll(".", "\\.")} `));
      const before = (await socle.lease(ipA))!;
      await Bun.sleep(20); // the renewed expiry must be later than the first one by at least a millisecond
      run.proc.kill("SIGUSR1");
      await waitEvent(ka.events, new RegExp(`^renew ip=${ipA.replaceAll(".", "\\.")} `));
      const renewed = await socle.waitLease(ipA, "renewed", (l) => Date.parse(l.ExpireTime) > Date.parse(before.ExpireTime));
      expect(renewed).toMatchObject({ Token: mac(1), State: "ACK" });
      await until("the server logs the renewal", 5_000, () => leaseAcks(mac(1), "RENEWING/REBINDING").length > 0);

      run.proc.kill("SIGUSR2");
      await waitEvent(ka.events, /^deconfig /);
      await socle.waitLease(ipA, "released", (l) => l.State === "RELEASED");
    } finally {
      await run.kill();
    }
  }, 60_000);

  test("dhclient obtains a lease, gets it again at reboot (INIT-REBOOT) and releases it (-r)", async () => {
    const d = await port("dc", 3);
    const k = kit.dhclientScript("dc");
    const dhclient = (...extra: string[]) => ["dhclient", ...extra, "-v", "-lf", k.leaseFile, "-pf", k.pidFile, "-sf", k.script, d];

    // Each dhclient is killed however the test ends: one left running would keep renewing.
    const first = lab.spawn(cl, dhclient("-d", "-1"));
    let ip = "";
    try {
      ip = (await waitEvent(k.events, /^BOUND ip=(\S+) mask=255\.255\.255\.0 serverid=198\.51\.100\.1$/))[1]!;
      expect(await socle.lease(ip)).toMatchObject({ Addr: ip, Token: mac(3), State: "ACK" });
    } finally {
      await first.kill();
    }

    // A second start with the lease file: INIT-REBOOT (DHCPREQUEST naming the old address, no server id).
    writeFileSync(k.events, "");
    const second = lab.spawn(cl, dhclient("-d", "-1"));
    try {
      await waitEvent(k.events, new RegExp(`^REBOOT ip=${ip.replaceAll(".", "\\.")} `));
      expect(leaseAcks(mac(3), "INIT-REBOOT").length).toBeGreaterThan(0);
      expect((await socle.lease(ip))?.State).toBe("ACK");

      const rel = await lab.exec(cl, dhclient("-r"), 20_000);
      expect(rel.code).toBe(0);
      await socle.waitLease(ip, "released", (l) => l.State === "RELEASED" && l.Token === mac(3));
    } finally {
      await second.kill();
    }
  }, 40_000);

  test("a machine whose HardwareAddrs holds the client MAC gets Address = the leased address", async () => {
    const m = await port("mm", 0x41);
    const k = kit.udhcpcScript("mm");
    const name = `m-${lab.id}`;
    const created = await socle.cli<{ Uuid: string; Address: string }>("machines", "create", JSON.stringify({ Name: name, HardwareAddrs: [mac(0x41)] }));
    expect(created.Address).toBe("");
    expect((await udhcpcOnce(lab, cl, m, k.script)).code).toBe(0);
    const ip = (await waitEvent(k.events, /^bound ip=(\S+) /))[1]!;
    expect((await socle.lease(ip))?.State).toBe("ACK");
    let address = "";
    await until(() => `machine ${name} has Address ${ip} (has "${address}")`, 10_000, async () => {
      address = (await socle.cli<{ Address: string }>("machines", "show", `Name:${name}`)).Address;
      return address === ip;
    });
  }, 30_000);

  test("a reservation gives its MAC the reserved address; a disabled subnet answers only reservations, at once", async () => {
    const r = await port("rr", 0x31);
    const dyn = await port("rd", 0x32);
    const kr = kit.udhcpcScript("rr");
    const kd = kit.udhcpcScript("rd");
    await socle.cli("reservations", "create", JSON.stringify({ Addr: "198.51.100.20", Token: mac(0x31) }));
    expect((await udhcpcOnce(lab, cl, r, kr.script)).code).toBe(0);
    await waitEvent(kr.events, /^bound ip=198\.51\.100\.20 mask=24 serverid=198\.51\.100\.1 /);
    expect(await socle.lease("198.51.100.20")).toMatchObject({ Token: mac(0x31), State: "ACK" });

    const setEnabled = (on: boolean) => socle.cli("subnets", "patch", subnet, JSON.stringify([{ op: "replace", path: "/Enabled", value: on }]));
    await setEnabled(false);
    try {
      const silent = await udhcpcOnce(lab, cl, dyn, kd.script, [], 2);
      expect(silent.code).not.toBe(0);
      expect(events(kd.events).filter((l) => l.startsWith("bound"))).toEqual([]);
      writeFileSync(kr.events, "");
      expect((await udhcpcOnce(lab, cl, r, kr.script)).code).toBe(0);
      await waitEvent(kr.events, /^bound ip=198\.51\.100\.20 /);
    } finally {
      await setEnabled(true);
    }
    expect((await udhcpcOnce(lab, cl, dyn, kd.script)).code).toBe(0);
    const ip = (await waitEvent(kd.events, /^bound ip=(\S+) /))[1]!;
    expect(Number(ip.split(".")[3])).toBeGreaterThanOrEqual(100);
    expect(await socle.lease(ip)).toMatchObject({ Token: mac(0x32), State: "ACK" });
  }, 40_000);

  test("malformed requests from a raw socket each cost one rate-limited log line; the server still answers", async () => {
    const x = await port("mx", 0x20);
    const discover = (n: number) => {
      const p = newPacket({ xid: 0x5c00 + n, chaddr: Uint8Array.from(mac(n).split(":").map((h) => parseInt(h, 16))) });
      p.options.setMessageType(MessageType.DHCPDISCOVER);
      return formatPacket(p);
    };
    const truncated = discover(0x21).slice(0, 200);
    const tiny = discover(0x27).slice(0, 30); // too short even for the MAC
    const oversized = new Uint8Array(MAX_REQUEST_SIZE + 500);
    oversized.set(discover(0x22));
    const badCookie = discover(0x23);
    badCookie[239] = 0x62;
    const lying = discover(0x24);
    lying.set([53, 200], 240); // option 53 claims 200 bytes
    const loop = discover(0x25);
    loop.set([52, 1, 1, 53, 1, 1, 255], 240); // overload: options continue in the file field ...
    loop.set([52, 1, 3, 255], 108); // ... which overloads again
    const ieee802 = discover(0x26);
    ieee802[1] = 6; // htype IEEE 802, not Ethernet
    const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
    const to = (b: Uint8Array) => ({ address: "255.255.255.255", port: 67, hex: hex(b) });
    const sends = [truncated, tiny, oversized, badCookie, loop, ieee802, ...Array.from({ length: 20 }, () => lying)].map(to);
    await probe(lab, cl, { iface: x, port: 68, sends, gapMs: 5, listenMs: 100 });

    const dropped = (): LogEntry[] => socle.logs().filter((l) => l.subsystem === "dhcp" && l.msg === "dropped malformed DHCP packet");
    const expected: [string | undefined, string][] = [
      [mac(0x21), "short-packet"],
      [undefined, "short-packet"],
      [mac(0x22), "oversized"],
      [mac(0x23), "bad-cookie"],
      [mac(0x25), "nested-overload"],
      [`06-${mac(0x26)}`, "bad-htype"],
      [mac(0x24), "truncated-option"],
    ];
    await until(() => `a drop line for each malformed packet; seen ${JSON.stringify(dropped())}`, 10_000, () =>
      expected.every(([m, reason]) => dropped().some((l) => l.mac === m && l.reason === reason)),
    );
    for (const l of dropped()) {
      expect(l.level).toBe("warn");
      expect(l.iface).toBe(br);
      expect(typeof l.error).toBe("string");
    }
    // 20 copies of the lying packet: the rate limiter's burst, not 20 lines.
    await Bun.sleep(300);
    const lyingLines = dropped().filter((l) => l.reason === "truncated-option");
    expect(lyingLines.length).toBeGreaterThanOrEqual(1);
    expect(lyingLines.length).toBeLessThanOrEqual(5);
    expect(socle.logs().filter((l) => l.msg === "DHCP handler failed")).toEqual([]);

    const k = kit.udhcpcScript("mx");
    expect((await udhcpcOnce(lab, cl, x, k.script)).code).toBe(0);
    await waitEvent(k.events, /^bound ip=198\.51\.100\.\d+ mask=24 serverid=198\.51\.100\.1 /);
  }, 30_000);
});
