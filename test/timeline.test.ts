// The boot timeline and its diagnoses with real clients in namespaces: each diagnosis is caused for
// real (a rogue dnsmasq answering a broadcast-flag udhcpc, a dhcrelay whose link has no subnet,
// busybox tftp and curl asking for files that do not exist, a machine whose Address is not its
// lease), then read back through the CLI (`socle doctor`, `socle machines timeline`) and the API.

import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { NetLab, needsRoot, type Spawned } from "./helpers/netns.ts";
import { ClientKit, clientPort, SocleInNetns, udhcpcOnce, until, waitEvent } from "./helpers/socle-netns.ts";

setDefaultTimeout(60_000);

const rootSkip = needsRoot() ?? (Bun.which("busybox") ? undefined : "needs busybox (udhcpc, tftp)");
const rogueSkip = rootSkip ?? (Bun.which("dnsmasq") ? undefined : "needs dnsmasq (dnsmasq-base)");
const relaySkip = rootSkip ?? (Bun.which("dhcrelay") ? undefined : "needs ISC dhcrelay (isc-dhcp-relay)");
const curlSkip = Bun.which("curl") ? undefined : "needs curl";
for (const [what, why] of [["segment", rootSkip], ["rogue server", rogueSkip], ["relay", relaySkip], ["http", curlSkip]] as const) {
  if (why) console.log(`skip timeline.test.ts (${what}): ${why}`);
}

const mac = (n: number) => `02:00:00:5c:0c:${n.toString(16).padStart(2, "0")}`;

interface Timeline {
  Mac: string;
  Machine?: string;
  Events: { Seq: number; Kind: string; Summary: string; Detail: Record<string, unknown> }[];
  Diagnoses: { Code: string; Severity: string; Message: string; Fix?: string; Evidence: number[] }[];
}

describe.skipIf(rootSkip !== undefined)("a served segment: real clients, their timeline and diagnoses", () => {
  const lab = new NetLab();
  const kit = new ClientKit();
  let socle: SocleInNetns;
  let srv = "";
  let cl = "";
  let br = "";
  let dnsmasq: Spawned | undefined;

  // [ns c] client ports --- bridge br 198.51.100.1 [ns s: Socle, TFTP, HTTP] --- dq0 198.51.100.2 [ns d: dnsmasq, started by one test]
  beforeAll(async () => {
    srv = await lab.ns("s");
    cl = await lab.ns("c");
    br = lab.name("br");
    await lab.bridge(srv, br);
    await lab.addr(srv, br, "198.51.100.1/24");
    socle = await SocleInNetns.start(lab, srv, { interfaces: [br], allServices: true });
    await socle.cli("subnets", "create", JSON.stringify({ Name: `tl-${lab.id}`, Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.100", ActiveEnd: "198.51.100.150" }));
    mkdirSync(join(socle.dataDir, "files"), { recursive: true });
    writeFileSync(join(socle.dataDir, "files", "hello.txt"), "hello from the boot file server\n");
  }, 40_000);
  afterAll(async () => {
    try {
      await dnsmasq?.kill();
      await socle?.close();
    } finally {
      kit.remove();
      await lab.cleanup();
    }
  });

  const api = async (path: string): Promise<any> => {
    const r = await socle.lab.exec(socle.ns, ["curl", "-sS", "--cacert", join(socle.dataDir, "pki", "ca.pem"), "-u", "admin:netns-admin-horse-7", `https://127.0.0.1:${socle.port}/api/v3${path}`], 20_000);
    if (r.code !== 0) throw new Error(`curl ${path}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };

  test.skipIf(curlSkip !== undefined)("a client's lease, a TFTP file served, a missing TFTP file and a missing HTTP file: the events in order, and the file-missing diagnosis naming both", async () => {
    const m = mac(1);
    const c = await clientPort(lab, cl, srv, br, "f1", m);
    const k = kit.udhcpcScript("f1");
    expect((await udhcpcOnce(lab, cl, c, k.script)).code).toBe(0);
    const ip = (await waitEvent(k.events, /^bound ip=(198\.51\.100\.\d+) /))[1]!;
    const got = await lab.exec(cl, ["busybox", "tftp", "-g", "-r", "hello.txt", "-l", join(kit.dir, "hello.txt"), "198.51.100.1"]);
    expect(got.code).toBe(0);
    const missing = await lab.exec(cl, ["busybox", "tftp", "-g", "-r", "no-such-loader.efi", "-l", join(kit.dir, "x"), "198.51.100.1"]);
    expect(missing.code).not.toBe(0);
    const http = await lab.exec(cl, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://198.51.100.1:8091/images/no-such-kernel"]);
    expect(http.stdout).toBe("404");
    let t: Timeline | undefined;
    await until("the HTTP 404 in the timeline", 5_000, async () => {
      t = await api(`/timeline?mac=${m}`);
      return t!.Events.some((e) => e.Kind === "http");
    });
    const kinds = t!.Events.map((e) => `${e.Kind}:${e.Detail.Outcome}`);
    expect(kinds).toEqual(["dhcp:DHCPOFFER", "dhcp:DHCPACK", "tftp:served", "tftp:not found", "http:not found"]);
    expect(t!.Events[0]!.Detail).toMatchObject({ Type: "DHCPDISCOVER", Address: ip, Port: 67 });
    expect(t!.Events[2]!.Detail).toMatchObject({ Path: "hello.txt", Bytes: 32, Client: ip });
    const d = t!.Diagnoses.find((x) => x.Code === "file-missing");
    expect(d?.Message).toContain("no-such-loader.efi");
    expect(d?.Message).toContain("images/no-such-kernel");
    expect(d?.Evidence).toEqual([t!.Events[3]!.Seq, t!.Events[4]!.Seq]);
    // Logs and the timeline join: each TFTP line about this client carries its MAC.
    const tftpLines = socle.logs().filter((l) => l.subsystem === "tftp" && String(l.client ?? "").startsWith(`${ip}:`));
    expect(tftpLines.length).toBeGreaterThanOrEqual(2);
    expect(tftpLines.filter((l) => l.mac !== m)).toEqual([]);
    const httpLines = socle.logs().filter((l) => l.subsystem === "http" && l.remote === ip);
    expect(httpLines.length).toBeGreaterThanOrEqual(1);
    expect(httpLines.filter((l) => l.mac !== m)).toEqual([]);
    // The CLI reads it the same way: `socle doctor` says it in words and exits 1 on an error.
    const doctor = await socle.cliRaw(["doctor", m]);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toContain("no-such-loader.efi");
  });

  test("a machine whose Address is not its lease: address-mismatch on its timeline, with the registration event", async () => {
    const m = mac(2);
    const c = await clientPort(lab, cl, srv, br, "f2", m);
    const k = kit.udhcpcScript("f2");
    expect((await udhcpcOnce(lab, cl, c, k.script)).code).toBe(0);
    const ip = (await waitEvent(k.events, /^bound ip=(198\.51\.100\.\d+) /))[1]!;
    const machine = await socle.cli<{ Uuid: string }>("machines", "create", JSON.stringify({ Name: `tl-m2-${lab.id}`, HardwareAddrs: [m], Address: "198.51.100.99" }));
    let t: Timeline | undefined;
    await until("the registration in the timeline", 5_000, async () => {
      t = await api(`/machines/${machine.Uuid}/timeline`);
      return t!.Events.some((e) => e.Kind === "register");
    });
    expect(t!.Machine).toBe(machine.Uuid);
    const d = t!.Diagnoses.find((x) => x.Code === "address-mismatch");
    expect(d?.Message).toContain("198.51.100.99");
    expect(d?.Message).toContain(ip);
    const cli = await socle.cliRaw(["machines", "timeline", machine.Uuid]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain("DHCPACK");
    expect(cli.stdout).toContain("198.51.100.99");
  });

  test("a UEFI x64 client (option 93 = 7) recorded as arm64, on a BootEnv whose kernel is not there: arch-mismatch and bootenv-unavailable", async () => {
    const m = mac(5);
    const c = await clientPort(lab, cl, srv, br, "f5", m);
    const machine = await socle.cli<{ Uuid: string }>("machines", "create", JSON.stringify({ Name: `tl-m5-${lab.id}`, HardwareAddrs: [m], Arch: "arm64", BootEnv: "debian-12" }));
    const k = kit.udhcpcScript("f5");
    // udhcpc as a UEFI PXE client: the PXE vendor class and option 93 (client architecture) = 7.
    expect((await udhcpcOnce(lab, cl, c, k.script, ["-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007"])).code).toBe(0);
    let t: Timeline | undefined;
    await until("the DHCPACK in the timeline", 5_000, async () => {
      t = await api(`/machines/${machine.Uuid}/timeline`);
      return t!.Events.some((e) => e.Detail.Outcome === "DHCPACK");
    });
    expect(t!.Events.find((e) => e.Kind === "dhcp")!.Detail).toMatchObject({ Arch: 7, VendorClass: "PXEClient:Arch:00007:UNDI:003016" });
    const codes = t!.Diagnoses.map((d) => d.Code);
    expect(codes).toContain("arch-mismatch");
    expect(codes).toContain("bootenv-unavailable");
    expect(t!.Diagnoses.find((d) => d.Code === "arch-mismatch")!.Message).toContain("arm64");
    expect(t!.Diagnoses.find((d) => d.Code === "bootenv-unavailable")!.Message).toContain("debian-12/install/linux");
  });

  test("a UEFI client fetches its loader over TFTP, then its firmware starts over twice asking for nothing: loader-did-not-run", async () => {
    const m = mac(6);
    // A namespace of its own: its TFTP request must leave from this client's address, not from
    // another client port's on the same network.
    const own = await lab.ns("c6");
    const c = await clientPort(lab, own, srv, br, "f6", m);
    writeFileSync(join(socle.dataDir, "files", "ipxe.efi"), "MZ not really a loader\n");
    const k = kit.udhcpcScript("f6");
    const firmware = ["-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007"];
    expect((await udhcpcOnce(lab, own, c, k.script, firmware)).code).toBe(0);
    expect((await lab.exec(own, ["busybox", "tftp", "-g", "-r", "ipxe.efi", "-l", join(kit.dir, "ipxe.efi"), "198.51.100.1"])).code).toBe(0);
    // The loader did not run: the firmware tries again, twice, as PXE firmware does.
    for (let i = 0; i < 2; i++) expect((await udhcpcOnce(lab, own, c, k.script, firmware)).code).toBe(0);
    let t: Timeline | undefined;
    await until(() => `loader-did-not-run in:\n${t?.Events.map((e) => `${e.Seq} ${e.Summary} ${JSON.stringify(e.Detail)}`).join("\n")}`, 5_000, async () => {
      t = await api(`/timeline?mac=${m}`);
      return t!.Diagnoses.some((d) => d.Code === "loader-did-not-run");
    });
    const d = t!.Diagnoses.find((x) => x.Code === "loader-did-not-run")!;
    expect(d.Message).toContain("ipxe.efi");
    expect(d.Message).toContain("x64 UEFI");
    expect(d.Evidence.length).toBeGreaterThanOrEqual(3);
  });

  test("iPXE told to fetch its script by URL never asks for it: script-not-fetched once it has had 30 s", async () => {
    const m = mac(7);
    const c = await clientPort(lab, cl, srv, br, "f7", m);
    const k = kit.udhcpcScript("f7");
    // udhcpc as iPXE: its user class (77, iPXE's plain form) and UEFI x64; it never fetches the script.
    expect((await udhcpcOnce(lab, cl, c, k.script, ["-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007", "-x", "0x4d:69505845"])).code).toBe(0);
    const first = await api(`/timeline?mac=${m}`);
    const ack = (first as Timeline).Events.find((e) => e.Detail.Outcome === "DHCPACK");
    expect(String(ack?.Detail.BootFile)).toMatch(/^http:\/\/198\.51\.100\.1:8091\//);
    expect((first as Timeline).Diagnoses.map((x) => x.Code)).not.toContain("script-not-fetched"); // too early to say
    await Bun.sleep(31_000);
    const t = (await api(`/timeline?mac=${m}`)) as Timeline;
    const d = t.Diagnoses.find((x) => x.Code === "script-not-fetched");
    expect(d?.Message).toContain(String(ack!.Detail.BootFile));
    expect(d?.Evidence).toEqual([ack!.Seq]);
  }, 60_000);

  test.skipIf(rogueSkip !== undefined)("another DHCP server on the segment (dnsmasq) answers a broadcast-flag client: rogue-dhcp names it", async () => {
    const dq = await lab.ns("d");
    const dq0 = lab.name("dq0");
    const dqp = lab.name("dqp");
    await lab.veth({ ns: dq, name: dq0 }, { ns: srv, name: dqp });
    await lab.ip(srv, "link", "set", dqp, "master", br);
    await lab.addr(dq, dq0, "198.51.100.2/24");
    dnsmasq = lab.spawn(dq, [
      "dnsmasq",
      "--no-daemon",
      "--conf-file=/dev/null",
      "--port=0",
      `--interface=${dq0}`,
      "--bind-interfaces",
      "--dhcp-range=198.51.100.50,198.51.100.60,255.255.255.0,10m",
      "--dhcp-boot=rogue-pxelinux.0",
      "--no-ping",
      `--dhcp-leasefile=${join(kit.dir, "dnsmasq.leases")}`,
      `--pid-file=${join(kit.dir, "dnsmasq.pid")}`,
      "--user=root",
    ]);
    await dnsmasq.waitFor(/DHCP, IP range 198\.51\.100\.50 -- 198\.51\.100\.60/, 10_000);
    const m = mac(3);
    const c = await clientPort(lab, cl, srv, br, "f3", m);
    const k = kit.udhcpcScript("f3");
    // -B: the broadcast flag, so both servers' offers cross the segment (a unicast offer from the
    // other server never reaches Socle: it only ever sees what is broadcast).
    expect((await udhcpcOnce(lab, cl, c, k.script, ["-B"])).code).toBe(0);
    let t: Timeline | undefined;
    await until("the other server's reply in the timeline", 5_000, async () => {
      t = await api(`/timeline?mac=${m}`);
      return t!.Events.some((e) => e.Kind === "dhcp-foreign");
    });
    const foreign = t!.Events.find((e) => e.Kind === "dhcp-foreign")!;
    expect(foreign.Detail).toMatchObject({ ServerId: "198.51.100.2", Partner: false, BootFile: "rogue-pxelinux.0" });
    const d = t!.Diagnoses.find((x) => x.Code === "rogue-dhcp");
    expect(d?.Severity).toBe("error");
    expect(d?.Message).toContain("198.51.100.2");
    expect(d?.Evidence).toContain(foreign.Seq);
    await dnsmasq.kill();
    dnsmasq = undefined;
  });
});

describe.skipIf(relaySkip !== undefined)("a relay whose link has no subnet", () => {
  const lab = new NetLab();
  const kit = new ClientKit();
  let socle: SocleInNetns | undefined;
  let relay: Spawned | undefined;
  let cl = "";
  let c0 = "";

  // [ns c] c0 --- r0 203.0.113.1 [ns r: dhcrelay] r1 198.51.100.2 --- s1 198.51.100.1 [ns s: Socle, no subnet for 203.0.113.0/24]
  beforeAll(async () => {
    const srv = await lab.ns("s");
    const rl = await lab.ns("r");
    cl = await lab.ns("c");
    c0 = lab.name("c0");
    const [r0, r1, s1] = [lab.name("r0"), lab.name("r1"), lab.name("s1")];
    await lab.veth({ ns: cl, name: c0 }, { ns: rl, name: r0 });
    await lab.veth({ ns: rl, name: r1 }, { ns: srv, name: s1 });
    await lab.ip(cl, "link", "set", c0, "address", mac(4));
    await lab.addr(rl, r0, "203.0.113.1/24");
    await lab.addr(rl, r1, "198.51.100.2/24");
    await lab.addr(srv, s1, "198.51.100.1/24");
    await lab.ip(srv, "route", "add", "203.0.113.0/24", "via", "198.51.100.2");
    socle = await SocleInNetns.start(lab, srv, { interfaces: [s1] });
    await socle.cli("subnets", "create", JSON.stringify({ Name: `local-${lab.id}`, Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.100", ActiveEnd: "198.51.100.150" }));
    relay = lab.spawn(rl, ["dhcrelay", "-4", "-d", "-pf", join(kit.dir, "dhcrelay.pid"), "-id", r0, "-iu", r1, "198.51.100.1"]);
    await relay.waitFor(/Sending on\s+Socket\/fallback/, 10_000);
  }, 40_000);
  afterAll(async () => {
    try {
      await relay?.kill();
      await socle?.close();
    } finally {
      kit.remove();
      await lab.cleanup();
    }
  });

  test("udhcpc behind dhcrelay gets no answer; `socle doctor` says the relay's giaddr matches no subnet", async () => {
    const k = kit.udhcpcScript("rl");
    const r = await udhcpcOnce(lab, cl, c0, k.script, [], 2);
    expect(r.code).not.toBe(0);
    const doctor = await socle!.cliRaw(["doctor", mac(4).toUpperCase(), "-o", "json"]);
    expect(doctor.code).toBe(1);
    const t = JSON.parse(doctor.stdout) as Timeline;
    expect(t.Events.length).toBeGreaterThan(0);
    expect(t.Events.every((e) => e.Detail.Outcome === "ignored: no subnet for this link" && e.Detail.Relay === "203.0.113.1")).toBe(true);
    expect(t.Diagnoses.map((d) => d.Code)).toEqual(["relay-no-subnet"]);
    expect(t.Diagnoses[0]!.Message).toContain("203.0.113.1");
    expect(t.Diagnoses[0]!.Fix).toContain("giaddr 203.0.113.1");
  });
});
