// The appliance image end to end: Socle's own bootable disk image (build/appliance-image.ts, built
// by `npm run e2e:prepare`, or here when missing or stale) is a VM's only disk on the lab bridge.
// It boots (SeaBIOS), creates and formats its data partition, and serves DHCP, TFTP and HTTP at
// the static address its socle.conf gives; configured through its API from the lab's server
// namespace, it PXE-boots a second VM into discovery, which registers. Then the appliance is
// powered off (QEMU ends: no shutdown runs, the guest's page cache is lost) and booted again on UEFI (OVMF) from the same disk: the
// machine is still there, and so is the lease of a client whose DHCPACK came just before the power
// cut (the cut follows the ACK within 0.25 s). Measured and printed: the image's sizes, power-on to the API at the
// first boot, and power-on to the first answered DHCP request after the power cycle (a client on
// the bridge asks once a second from the moment QEMU starts).
//
//   bun test --timeout 600000 ./test/e2e/appliance.test.ts          (3-5 min; as root)
//
// Runs on its own lab namespaces (socle-appl-srv, socle-appl-vm, /run/socle-appl), so it neither
// meets the network-boot suite's Socle on the bridge nor needs it. SOCLE_APPLIANCE_SOCLE=FILE puts
// that executable in the image instead of compiling src/main.ts. Serial logs are copied to
// /run/socle-appl-logs.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LAB_DIR, ROOT, skipReason, type Ran } from "./lab.ts";
import { APPLIANCE_IMAGE_DIR, BOOT_PARTITION, buildApplianceImage, writeApplianceConf, type ApplianceImage } from "../../build/appliance-image.ts";
import { GPT_TYPE, LEGACY_BIOS_BOOTABLE, SECTOR, readGpt } from "../../src/assets/gpt.ts";

const SKIP = skipReason();
if (SKIP) console.log(`e2e appliance: skipped: ${SKIP}`);

const ENV: Record<string, string> = {
  E2E_NS_SRV: process.env.E2E_APPLIANCE_NS_SRV ?? "socle-appl-srv",
  E2E_NS_VM: process.env.E2E_APPLIANCE_NS_VM ?? "socle-appl-vm",
  E2E_STATE: process.env.E2E_APPLIANCE_STATE ?? "/run/socle-appl",
};
const APPLIANCE_IP = "198.51.100.2";
const API = `https://${APPLIANCE_IP}:8092`;
const MAC = { appliance: "52:54:00:e2:a0:01", client: "52:54:00:e2:a0:10", probe: "52:54:00:e2:a0:f1" };
/** The disk: the image and 1 GiB of free space for the data partition (a stick larger than the image). */
const FREE_BYTES = 1024 * 1024 * 1024;
/** Under TCG: kernel, first-boot partitioning and formatting, Socle's first start (the CA's keys): about 60 s. */
const BOOT_TIMEOUT_S = 240;
const CLIENT_TIMEOUT_S = 200;

const ASSET_CACHE = join(ROOT, ".cache", "assets");
const work = mkdtempSync(join(tmpdir(), "socle-appl-"));
const logs = join(work, "logs");
const disk = join(work, "appliance.img");
let image: ApplianceImage | undefined;
let setupError: Error | undefined;
let password = "";

async function sh(cmd: string[], timeoutMs = 120_000): Promise<Ran> {
  const p = Bun.spawn(cmd, { env: { ...process.env, ...ENV }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => p.kill("SIGTERM"), timeoutMs);
  const [o, e, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, out: o + e };
}
const lab = (script: string, ...args: string[]) => [join(LAB_DIR, script), ...args];

function ready(): void {
  if (setupError) throw new Error(`setup failed: ${setupError.message}`);
  if (!image) throw new Error("setup did not run");
}

interface Vm {
  log: string;
  waitFile: string;
  started: number;
  done: Promise<Ran>;
}
const vms: Vm[] = [];

/**
 * The appliance VM: the disk first in the boot order, no NIC ROM, 1 GiB. `-cpu Nehalem`: a CPU
 * without AVX2, which the image's executable (Bun's baseline runtime) must run on; QEMU's default
 * qemu64 lacks SSE4.2, which that runtime needs.
 */
function bootAppliance(name: string, fw: "bios" | "uefi"): Vm {
  const log = join(logs, `${name}.serial.log`);
  const waitFile = join(logs, `${name}.end`);
  const started = Date.now();
  const done = sh(
    lab("vm-boot.sh", "--mac", MAC.appliance, "--fw", fw, "--cpu", "Nehalem", "--nic", "virtio", "--rom", "none", "--mem", "1024",
      "--disk", disk, "--disk-first", "--timeout", "900", "--log", log, "--wait-file", waitFile),
    930_000,
  );
  const vm = { log, waitFile, started, done };
  vms.push(vm);
  return vm;
}

async function powerOff(vm: Vm): Promise<void> {
  writeFileSync(vm.waitFile, "");
  const r = await vm.done;
  expect(r.code, r.out).toBe(0);
}

const serial = (vm: Vm) => (existsSync(vm.log) ? readFileSync(vm.log, "latin1") : "");

/** Waits for `re` on the VM's serial console; returns the match. */
async function waitSerial(vm: Vm, re: RegExp, timeoutS: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const m = re.exec(serial(vm));
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutS} s waiting for ${re} on ${vm.log}:\n${serial(vm).slice(-4000)}`);
    await Bun.sleep(500);
  }
}

/** An API call to the appliance from the lab's server namespace (its CA is not at hand: -k). */
async function api(method: string, path: string, json?: unknown): Promise<{ status: number; body: any }> {
  const args = ["ip", "netns", "exec", ENV.E2E_NS_SRV!, "curl", "-sSk", "--max-time", "60", "-X", method, "-u", `admin:${password}`, "-w", "\n%{http_code}"];
  if (json !== undefined) args.push("-H", "Content-Type: application/json", "--data-binary", JSON.stringify(json));
  const r = await sh([...args, `${API}${path}`], 90_000);
  const cut = r.out.lastIndexOf("\n");
  let body: any = r.out.slice(0, Math.max(cut, 0));
  try {
    body = JSON.parse(body);
  } catch {}
  return { status: Number(r.out.slice(cut + 1).trim()) || 0, body };
}

async function must(method: string, path: string, json?: unknown): Promise<any> {
  const r = await api(method, path, json);
  if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.body).slice(0, 600)}`);
  return r.body;
}

/**
 * A DHCP client on the bridge from now on: busybox udhcpc on a veth port, a DISCOVER every second
 * until a lease comes. Resolves with the wall-clock time (ms) of the lease.
 */
/**
 * A DHCP client (udhcpc) on the bridge from its own veth, asking once a second. `leased`: when it
 * bound (ms since the epoch) and the address. With `endFile`, its bind hook also creates that file
 * (a VM's --wait-file: vm-boot.sh then ends that QEMU within 0.25 s).
 */
function dhcpProbe(endFile?: string): { leased: Promise<{ at: number; ip: string }>; stop: () => Promise<void> } {
  const port = `pa${MAC.probe.replace(/:/g, "").slice(-8)}`;
  const peer = `pb${MAC.probe.replace(/:/g, "").slice(-8)}`;
  const result = join(work, "probe.result");
  const hook = join(work, "probe.hook");
  rmSync(result, { force: true });
  const end = endFile ? ` && : > ${endFile}` : "";
  writeFileSync(hook, `#!/bin/sh\n[ "$1" = bound ] && echo "$(date +%s%N) $ip" > ${result}${end}\nexit 0\n`, { mode: 0o755 });
  const ns = ENV.E2E_NS_VM!;
  const inNs = (...c: string[]) => sh(["ip", "netns", "exec", ns, ...c], 30_000);
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const leased = (async () => {
    await inNs("ip", "link", "del", peer);
    for (const c of [["ip", "link", "add", peer, "type", "veth", "peer", "name", port], ["ip", "link", "set", port, "address", MAC.probe], ["ip", "link", "set", peer, "master", "br0", "up"], ["ip", "link", "set", port, "up"]]) {
      const r = await inNs(...c);
      if (r.code !== 0) throw new Error(`probe: ${c.join(" ")}: ${r.out}`);
    }
    proc = Bun.spawn(["ip", "netns", "exec", ns, "busybox", "udhcpc", "-i", port, "-f", "-q", "-n", "-t", "300", "-T", "1", "-s", hook], { stdout: "ignore", stderr: "ignore" });
    await proc.exited;
    if (!existsSync(result)) throw new Error("probe: udhcpc ended without a lease");
    const [stamp, ip] = readFileSync(result, "utf8").trim().split(" ");
    return { at: Number(stamp) / 1e6, ip: ip ?? "" };
  })();
  const stop = async () => {
    if (proc && proc.exitCode === null) proc.kill("SIGTERM");
    await inNs("ip", "link", "del", peer);
  };
  return { leased, stop };
}

const BANNER = new RegExp(`socle-appliance: API and web UI: https://${APPLIANCE_IP.replace(/\./g, "\\.")}:8092/`);

describe.skipIf(SKIP !== undefined)("appliance image in the QEMU lab", () => {
  let appliance: Vm | undefined;

  beforeAll(async () => {
    try {
      mkdirSync(logs, { recursive: true });
      await sh(lab("lab-down.sh"), 60_000);
      const up = await sh(lab("lab-up.sh"), 60_000);
      if (up.code !== 0) throw new Error(`lab-up.sh: ${up.out}`);
      image = await buildApplianceImage({ outDir: APPLIANCE_IMAGE_DIR, cacheDir: ASSET_CACHE, socle: process.env.SOCLE_APPLIANCE_SOCLE, log: (l) => console.error(`appliance-image: ${l}`) });
      copyFileSync(join(APPLIANCE_IMAGE_DIR, image.raw.file), disk);
      truncateSync(disk, image.raw.bytes + FREE_BYTES);
      await writeApplianceConf(disk, image.boot.offset, `ip=${APPLIANCE_IP}/24\nlog=console\n`, { cacheDir: ASSET_CACHE, log: () => {} });
      const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
      console.log(`e2e appliance: image ${image.raw.bytes} bytes (${mb(image.raw.bytes)}); gzip -6 ${image.gzip.bytes} (${mb(image.gzip.bytes)}); zstd -9 ${image.zstd.bytes} (${mb(image.zstd.bytes)}); Socle executable ${mb(image.socleBytes)}, initrd ${mb(image.initrdBytes)}`);
    } catch (e) {
      setupError = e instanceof Error ? e : new Error(String(e));
      console.error(`e2e appliance: setup failed: ${setupError.message}`);
    }
  }, 600_000);

  afterAll(async () => {
    try {
      await Promise.all(vms.map((vm) => (writeFileSync(vm.waitFile, ""), vm.done)));
    } finally {
      await sh(lab("lab-down.sh"), 60_000);
      const keep = `${ENV.E2E_STATE}-logs`;
      mkdirSync(keep, { recursive: true });
      cpSync(logs, keep, { recursive: true });
      rmSync(work, { recursive: true, force: true });
      console.log(`e2e appliance: serial logs kept in ${keep}`);
    }
  }, 120_000);

  test("appliance: the built image: one partition, socle-boot (ESP, BIOS-bootable) at 1 MiB, SYSLINUX's FAT boot sector; the backup GPT at the end; no data partition yet", () => {
    ready();
    const m = image!;
    const disk = readFileSync(join(APPLIANCE_IMAGE_DIR, m.raw.file));
    expect(disk.length).toBe(m.raw.bytes);
    expect([disk[510], disk[511], disk[446 + 4]]).toEqual([0x55, 0xaa, 0xee]); // protective MBR
    const gpt = readGpt(disk);
    expect(gpt.backupLba).toBe(gpt.lastLba);
    expect(gpt.partitions.map((p) => [p.name, p.type, p.firstLba, p.attributes & LEGACY_BIOS_BOOTABLE])).toEqual([[BOOT_PARTITION, GPT_TYPE.efiSystem.toUpperCase(), 2048, LEGACY_BIOS_BOOTABLE]]);
    const boot = gpt.partitions[0]!;
    expect(m.boot).toEqual({ partition: 1, name: BOOT_PARTITION, offset: boot.firstLba * SECTOR, bytes: (boot.lastLba - boot.firstLba + 1) * SECTOR });
    const fat = disk.subarray(m.boot.offset, m.boot.offset + SECTOR);
    expect([fat[510], fat[511]]).toEqual([0x55, 0xaa]);
    expect(new DataView(fat.buffer, fat.byteOffset).getUint32(28, true)).toBe(boot.firstLba); // FAT hidden sectors
    expect(m.modules).toEqual(expect.arrayContaining(["ext4", "vfat", "usb_storage"]));
  });

  test("appliance: first boot on SeaBIOS: data partition created, Socle serving on its static address, the admin password on the console", async () => {
    ready();
    appliance = bootAppliance("appliance-bios", "bios");
    await waitSerial(appliance, BANNER, BOOT_TIMEOUT_S);
    const apiUp = (Date.now() - appliance.started) / 1000;
    const pw = await waitSerial(appliance, /admin password \(shown on this first start only\): (\S+)/, 10);
    password = pw[1]!;
    const out = serial(appliance);
    expect(out).toContain("socle-appliance: first boot: creating the data partition socle-data");
    expect(out).toMatch(/socle-appliance: formatting \/dev\/vda2 \(socle-data\) as ext4/);
    expect(out).toContain("socle-appliance: eth0: static address 198.51.100.2/24");
    expect(out).toContain("admin password: in the file data/initial-admin-password on the socle-data partition");
    expect(out).toMatch(/socle-appliance: data: \/dev\/vda2 \(socle-data, ext4\) on \/var\/lib\/socle/);
    const info = await must("GET", "/api/v3/info");
    expect(info.Services.Dhcp.Running).toBe(true);
    expect(info.Services.Tftp.Running).toBe(true);
    expect(info.Services.Static.Running).toBe(true);
    expect(info.BootAssets.Missing).toEqual([]);
    // Configuration through the API, as an operator would do after the first boot.
    await must("POST", "/api/v3/subnets", { Name: "lab", Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.100", ActiveEnd: "198.51.100.199", ActiveLeaseTime: 600 });
    await must("POST", "/api/v3/prefs", { unknownBootEnv: "discovery" });
    console.log(`e2e appliance: first boot (SeaBIOS): power-on to the API answering (banner on the console): ${apiUp.toFixed(1)} s`);
  }, (BOOT_TIMEOUT_S + 60) * 1000);

  test("appliance: a second VM PXE-boots from it into discovery and registers", async () => {
    ready();
    const log = join(logs, "client.serial.log");
    const t0 = Date.now();
    const r = await sh(lab("vm-boot.sh", "--mac", MAC.client, "--fw", "bios", "--timeout", String(CLIENT_TIMEOUT_S), "--log", log), (CLIENT_TIMEOUT_S + 30) * 1000);
    if (r.code !== 0) {
      throw new Error(`client VM failed (${r.code}): ${r.out}\n--- client serial ---\n${existsSync(log) ? readFileSync(log, "latin1").slice(-2500) : ""}\n--- appliance ---\n${serial(appliance!).slice(-2500)}`);
    }
    const list = await must("GET", `/api/v3/machines?HardwareAddrs=Eq(${MAC.client})`);
    expect(list.length).toBe(1);
    expect(list[0].Address).toMatch(/^198\.51\.100\.1[0-9][0-9]$/);
    console.log(`e2e appliance: client PXE boot -> discovery -> registered in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, (CLIENT_TIMEOUT_S + 60) * 1000);

  test("appliance: power cut right after a DHCPACK, booted again on OVMF (UEFI) from the same disk: the acknowledged lease and the machine are still there; power-on to the first answered DHCP request", async () => {
    ready();
    // The power cut: a client leases an address, and its bind hook ends the appliance's QEMU at
    // once (no shutdown runs; the guest's page cache is lost, and the kernel writes dirty pages
    // back only after 5 s or more). Socle makes a lease durable before it sends the ACK, so the
    // lease must be there after the reboot.
    const cut = dhcpProbe(appliance!.waitFile);
    let acked: { at: number; ip: string };
    try {
      acked = await cut.leased;
    } finally {
      await cut.stop();
    }
    const ended = await appliance!.done;
    expect(ended.code, ended.out).toBe(0);
    expect(acked.ip).toMatch(/^198\.51\.100\.\d+$/);
    console.log(`e2e appliance: power cut within ${Math.round(Date.now() - acked.at)} ms of the DHCPACK for ${acked.ip}: QEMU had ended by then`);
    const probe = dhcpProbe();
    try {
      await Bun.sleep(500); // the probe port is on the bridge and asking before the power-on
      appliance = bootAppliance("appliance-uefi", "uefi");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const leasedAt = await Promise.race([
        probe.leased,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no DHCP answer within ${BOOT_TIMEOUT_S} s of the power-on:\n${serial(appliance!).slice(-3000)}`)), BOOT_TIMEOUT_S * 1000);
        }),
      ]).finally(() => clearTimeout(timer));
      const firstDhcp = (leasedAt.at - appliance.started) / 1000;
      await waitSerial(appliance, BANNER, BOOT_TIMEOUT_S);
      const apiUp = (Date.now() - appliance.started) / 1000;
      const out = serial(appliance);
      expect(out).not.toContain("first boot: creating");
      expect(out).not.toContain("formatting /dev/");
      expect(out).not.toContain("shown on this first start only");
      expect(out).toContain("admin password: in the file data/initial-admin-password");
      const leases = (await must("GET", "/api/v3/leases")) as { Addr: string; Token: string; State: string }[];
      const kept = leases.find((l) => l.Addr === acked.ip);
      expect(kept, `the lease ACKed before the power cut (${acked.ip} for ${MAC.probe}); leases now: ${JSON.stringify(leases)}`).toBeDefined();
      expect(kept!.Token.toLowerCase()).toBe(MAC.probe);
      // The client asked again after the reboot and got the address it held.
      expect(leasedAt.ip).toBe(acked.ip);
      const list = await must("GET", `/api/v3/machines?HardwareAddrs=Eq(${MAC.client})`);
      expect(list.length).toBe(1);
      const subnets = await must("GET", "/api/v3/subnets");
      expect(subnets.map((s: any) => s.Name)).toContain("lab");
      console.log(`e2e appliance: after the power cycle (OVMF): power-on to the first answered DHCP request ${firstDhcp.toFixed(1)} s; to the banner ${apiUp.toFixed(1)} s`);
    } finally {
      await probe.stop();
    }
    await powerOff(appliance!);
  }, (2 * BOOT_TIMEOUT_S + 60) * 1000);
});
