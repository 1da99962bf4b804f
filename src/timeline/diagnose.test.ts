import { expect, test } from "bun:test";
import { ATTEMPT_GAP_MS, STEP_WAIT_MS, currentAttempt, diagnose, type DiagnoseFacts } from "./diagnose.ts";
import { DhcpOutcome, Foreign, HttpMethod, HttpOutcome, Kind, TftpOutcome } from "./kinds.ts";
import { Timeline, type TimelineRow } from "./recorder.ts";

const MAC = 0x525400000001;
const names = { messageType: (n: number) => `type ${n}`, arch: (n: number) => `arch ${n}` };
const T0 = Date.parse("2026-12-07T09:00:00Z");

/** A recorder on a hand-driven clock; `at(ms)` moves it. */
function fixture() {
  let now = T0;
  const t = new Timeline({ now: () => now });
  const at = (ms: number) => (now = T0 + ms);
  const facts = (extra: Partial<DiagnoseFacts> = {}): DiagnoseFacts => ({ now, leases: [], ...extra });
  const run = (extra: Partial<DiagnoseFacts> = {}) => diagnose(t.of(MAC), facts(extra), names);
  const discover = (arch: number, file: string, userClass = "") => t.record(MAC, Kind.Dhcp, 1, DhcpOutcome.Offer, arch, 67, "198.51.100.20", file, "PXEClient", userClass, "");
  t.learn("198.51.100.20", MAC);
  return { t, at, run, discover };
}

const codes = (d: { Code: string }[]) => d.map((x) => x.Code).sort();

test("a clean boot has no diagnosis", () => {
  const { t, at, run, discover } = fixture();
  discover(7, "ipxe.efi");
  at(500);
  t.recordFrom("198.51.100.20", Kind.Tftp, 0, TftpOutcome.Probe, 0, "ipxe.efi", "");
  t.recordFrom("198.51.100.20", Kind.Tftp, 0, TftpOutcome.Served, 1_000_000, "ipxe.efi", "");
  at(3000);
  discover(7, "http://198.51.100.1:8091/default.ipxe", "iPXE");
  at(3200);
  t.recordFrom("198.51.100.20", Kind.Http, HttpMethod.Get, HttpOutcome.Served, 200, "default.ipxe", "");
  t.recordFrom("198.51.100.20", Kind.Tftp, 0, TftpOutcome.NotFound, 0, "pxelinux.cfg/01-52-54-00-00-00-01", ""); // a probe: normal
  at(60_000);
  expect(run({ machine: { Uuid: "u", Name: "n", Address: "198.51.100.20", Arch: "amd64", BootEnv: "discovery" }, leases: [{ Addr: "198.51.100.20", State: "ACK" }], bootEnv: { Name: "discovery", Available: true, Problems: [] } })).toEqual([]);
});

test("iPXE told to fetch a script it never asked for: script-not-fetched, only once the client had time", () => {
  const { at, run, discover } = fixture();
  discover(7, "http://198.51.100.1:8091/default.ipxe", "iPXE");
  at(STEP_WAIT_MS - 1);
  expect(run()).toEqual([]);
  at(STEP_WAIT_MS + 1);
  const d = run();
  expect(codes(d)).toEqual(["script-not-fetched"]);
  expect(d[0]!.Message).toContain("http://198.51.100.1:8091/default.ipxe");
});

test("the loader was fetched, then the firmware started over twice: loader-did-not-run, with the firmware's arch", () => {
  const { t, at, run, discover } = fixture();
  discover(11, "ipxe.efi");
  t.recordFrom("198.51.100.20", Kind.Tftp, 0, TftpOutcome.Served, 1_000_000, "ipxe.efi", "");
  at(5000);
  discover(11, "ipxe.efi");
  expect(run()).toEqual([]); // one restart may be a retry
  at(9000);
  discover(11, "ipxe.efi");
  const d = run();
  expect(codes(d)).toEqual(["loader-did-not-run"]);
  expect(d[0]!.Message).toContain("arch 11");
  expect(d[0]!.Evidence).toHaveLength(3);
});

test("rogue replies, relay without subnet, exhausted pool, unconfirmed leases, render failures", () => {
  const { t, run } = fixture();
  t.record(MAC, Kind.DhcpForeign, 2, Foreign.Rogue, -1, 0, "198.51.100.61", "", "198.51.100.2", "198.51.100.2", "br0");
  t.record(MAC, Kind.DhcpForeign, 2, Foreign.Partner, -1, 0, "198.51.100.62", "", "198.51.100.10", "198.51.100.3", "br0"); // the HA partner: fine
  t.record(MAC, Kind.Dhcp, 1, DhcpOutcome.NoSubnet, -1, 67, "", "relay 203.0.113.1, link 203.0.113.0", "", "", "203.0.113.1");
  t.record(MAC, Kind.Dhcp, 1, DhcpOutcome.PoolExhausted, -1, 67, "", "no free address in lab", "", "", "");
  t.record(MAC, Kind.Dhcp, 3, DhcpOutcome.Unconfirmed, -1, 67, "", "the HA partner did not confirm", "", "", "");
  t.recordFrom("198.51.100.20", Kind.Http, HttpMethod.Get, HttpOutcome.Failed, 500, "machines/u/ks.cfg", "param ntp missing");
  const d = run();
  expect(codes(d)).toEqual(["file-failed", "lease-unconfirmed", "pool-exhausted", "relay-no-subnet", "rogue-dhcp"]);
  expect(d.find((x) => x.Code === "rogue-dhcp")!.Evidence).toHaveLength(1);
  expect(d.find((x) => x.Code === "file-failed")!.Message).toContain("param ntp missing");
});

test("a BootEnv that is not Available, an Address that is not the lease, firmware arch against the machine's", () => {
  const { discover, run } = fixture();
  discover(0, "undionly.kpxe");
  const d = run({
    machine: { Uuid: "u", Name: "n", Address: "198.51.100.99", Arch: "arm64", BootEnv: "debian-12" },
    leases: [{ Addr: "198.51.100.20", State: "ACK" }, { Addr: "198.51.100.30", State: "EXPIRED" }],
    bootEnv: { Name: "debian-12", Available: false, Problems: ['Kernel: "debian-12/linux" is not on the boot file server'] },
  });
  expect(codes(d)).toEqual(["address-mismatch", "arch-mismatch", "bootenv-unavailable"]);
  expect(d.find((x) => x.Code === "address-mismatch")!.Message).toContain("198.51.100.20");
  expect(d.find((x) => x.Code === "address-mismatch")!.Message).not.toContain("198.51.100.30");
  expect(d.find((x) => x.Code === "bootenv-unavailable")!.Message).toContain("debian-12/linux");
  // BIOS firmware on an amd64 or 386 machine is fine
  expect(codes(run({ machine: { Uuid: "u", Name: "n", Address: "", Arch: "386", BootEnv: "" }, leases: [] }))).toEqual([]);
});

test("only the newest attempt counts: findings older than a quiet gap are history", () => {
  const { t, at, run } = fixture();
  t.recordFrom("198.51.100.20", Kind.Tftp, 0, TftpOutcome.NotFound, 0, "old-missing.efi", "");
  at(ATTEMPT_GAP_MS + 10);
  t.recordFrom("198.51.100.20", Kind.Tftp, 0, TftpOutcome.Served, 10, "ipxe.efi", "");
  expect(run()).toEqual([]);
  const rows: TimelineRow[] = t.of(MAC);
  expect(currentAttempt(rows).map((r) => r.text)).toEqual(["ipxe.efi"]);
});

test("proxyDHCP beside the site's DHCP server: its address offers are expected; one naming a boot file competes", () => {
  const { t, at, run } = fixture();
  t.record(MAC, Kind.Dhcp, 1, DhcpOutcome.ProxyOffer, 7, 67, "", "ipxe.efi", "PXEClient", "", "");
  t.record(MAC, Kind.DhcpForeign, 2, Foreign.Rogue, -1, 0, "198.51.100.55", "", "198.51.100.2", "198.51.100.2", "br0");
  expect(run()).toEqual([]);
  t.record(MAC, Kind.DhcpForeign, 2, Foreign.Rogue, -1, 0, "198.51.100.56", "pxelinux.0", "198.51.100.3", "198.51.100.3", "br0");
  const d = run();
  expect(codes(d)).toEqual(["rogue-dhcp"]);
  expect(d[0]!.Message).toContain("198.51.100.3");
  // proxy: the script URL went to a client whose address Socle never gave: no finding either way
  t.record(MAC, Kind.Dhcp, 1, DhcpOutcome.ProxyOffer, 7, 67, "", "http://198.51.100.1:8091/default.ipxe", "PXEClient", "iPXE", "");
  at(STEP_WAIT_MS + 1000);
  expect(codes(run())).toEqual(["rogue-dhcp"]);
});

test("a loader that runs (GRUB fetched its config and kernel) and an installer's own DHCP afterwards: no loader-did-not-run", () => {
  const { t, at, run, discover } = fixture();
  discover(11, "grubnetaa64.efi");
  t.recordFrom("198.51.100.20", Kind.Tftp, 0, TftpOutcome.Served, 1_000_000, "grubnetaa64.efi");
  t.recordFrom("198.51.100.20", Kind.Tftp, 0, TftpOutcome.Served, 2_000, "grub/grub.cfg-01-52-54-00-00-00-01");
  at(8000);
  t.record(MAC, Kind.Dhcp, 1, DhcpOutcome.Offer, -1, 67, "198.51.100.20", "", "udhcp 1.36.1", "", "");
  t.record(MAC, Kind.Dhcp, 1, DhcpOutcome.Offer, -1, 67, "198.51.100.20", "", "udhcp 1.36.1", "", "");
  at(60_000 - 1);
  expect(run()).toEqual([]);
});

test("an expired lease is not the machine's address", () => {
  const { discover, run } = fixture();
  discover(7, "ipxe.efi");
  const machine = { Uuid: "u", Name: "n", Address: "198.51.100.99", Arch: "amd64", BootEnv: "" };
  expect(run({ machine, leases: [{ Addr: "198.51.100.20", State: "ACK", ExpireTime: "2026-12-07T08:00:00Z" }] })).toEqual([]);
  expect(codes(run({ machine, leases: [{ Addr: "198.51.100.20", State: "ACK", ExpireTime: "2026-12-07T10:00:00Z" }] }))).toEqual(["address-mismatch"]);
});
