// Network boot end to end (issue 4, section 6): real VM firmware in the QEMU lab boots from Socle
// into discovery and registers; configuration only through the API, and nothing uploaded: the
// loaders and the discovery image are the ones `npm install` obtained (assets/boot), embedded in
// the compiled executable, which runs alone from an empty directory, as on a fresh host. Runs as root with the lab's packages (test/lab/install-deps.sh); otherwise every
// test is skipped with the reason.
//
//   npm run test:e2e            (bun test ./test/e2e)
//
// One Socle serves the whole file (a fresh data dir), so the tests run in order and later ones
// use what earlier ones registered. The VMs' serial logs and the server log are copied to
// <E2E_STATE>-logs (default /run/socle-e2e-logs) at the end of every run.
//
// The "iso:" test imports Debian's netboot installer as an ISO through the API (build/installer-
// iso.ts builds it, cached) and boots a VM into that installer until it fetches its preseed.
//
// The "jobs:" tests, last, run workflows through the agent in the discovery image: two unknown
// machines deploy the e2e disk image (build/e2e-image.ts, built first when missing or stale, which
// needs apt) and boot it, a task fails until an operator fixes it, and the server is killed with
// SIGKILL while a log streams. `bun test ./test/e2e -t "setup|jobs:"` runs only those (2-3 min).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ADMIN_PASSWORD, ASSETS, LAB_ENV, LabSocle, ROOT, lab, labUp, sh, skipReason, type Ran } from "./lab.ts";
import { checkMachineTimelinePage, launchBrowser, login, newPage } from "../ui/browser.ts";
import { compile } from "../../build/compile.ts";
import { E2E_IMAGE_DIR, buildE2eImage } from "../../build/e2e-image.ts";
import { INSTALLER_ISO_NAME, buildInstallerIso } from "../../build/installer-iso.ts";

const SKIP = skipReason();
if (SKIP) console.log(`e2e: skipped: ${SKIP}`);

const MAC = {
  bios: "52:54:00:e2:10:01",
  uefi: "52:54:00:e2:10:02",
  edk2: "52:54:00:e2:10:03",
  probe: "52:54:00:e2:ff:01",
  arm64: "52:54:00:e2:10:04",
  httpBoot: "52:54:00:e2:10:05",
  stormPrefix: "52:54:00:e2:20",
};
/**
 * Per VM. Boots here take 25-35 s under TCG, a storm of 4 about 45 s; a machine loaded by other
 * work was measured at 140 s for the storm, so the limits leave that much room.
 */
const VM_TIMEOUT_S = 150;
const STORM_TIMEOUT_S = 240;
/** The boot storm: 8 VMs at once, mixed firmware (QEMU takes about 280 MB each). */
const STORM_VMS = 8;
/** arm64 under TCG: about 17 s to the kernel, then the discovery image's module loads and DHCP. */
const ARM64_TIMEOUT_S = 240;

let socle: LabSocle | undefined;
let setupError: Error | undefined;
let logs = "";
let vars: Record<string, string> = {};
let binDir: string | undefined;
const started = Date.now();

function ready(): LabSocle {
  if (setupError) throw new Error(`lab setup failed: ${setupError.message}`);
  if (!socle) throw new Error("lab setup did not run");
  return socle;
}

/** vm-boot.sh; on failure the error carries the tail of the serial log and of Socle's log. */
async function boot(name: string, mac: string, args: string[], marker?: string, timeoutS = VM_TIMEOUT_S): Promise<string> {
  const s = ready(); // fail at once, not after a VM timeout, when the lab is not up
  const log = join(logs, `${name}.serial.log`);
  const extra = marker ? ["--marker", marker] : [];
  const r = await sh(lab("vm-boot.sh", "--mac", mac, "--timeout", String(timeoutS), "--log", log, ...args, ...extra), (timeoutS + 30) * 1000);
  if (r.code !== 0) {
    const serial = existsSync(log) ? readFileSync(log, "utf8").slice(-2500) : "(no serial log)";
    throw new Error(`vm-boot ${name} (${mac}) failed with ${r.code}:\n${r.out}\n--- serial ---\n${serial}\n--- socle ---\n${s.log().slice(-2500)}`);
  }
  return r.out;
}

async function expectRegistered(mac: string): Promise<any> {
  const s = ready();
  const found = await s.machinesWith(mac);
  expect(found.length).toBe(1);
  const m = found[0];
  expect(m.HardwareAddrs).toContain(mac);
  expect(m.Address).toMatch(/^198\.51\.100\.(1[0-9][0-9])$/);
  expect(m.Params?.inventory?.CPUs).toBeGreaterThan(0);
  expect(m.Params?.inventory?.MemoryBytes).toBeGreaterThan(100 * 1024 * 1024);
  return m;
}


// --- Workflows run by the agent: helpers -----------------------------------------------------------

/** The installer scenario: a VM that boots Debian's netboot installer under TCG (kernel, initrd, DHCP, preseed). */
const ISO_MAC = "52:54:00:e2:50:01";
const INSTALLER_TIMEOUT_S = 300;

/** The e2e disk image (npm run e2e:prepare; built here when missing or stale), written by the image-deploy workflow. */
const E2E_IMAGE = E2E_IMAGE_DIR;
const JOB_MAC = { bios: "52:54:00:e2:40:01", uefi: "52:54:00:e2:40:02", flaky: "52:54:00:e2:40:03" };
/** Discovery, inventory, deploy, reboot, disk boot: 1-2 min under TCG with three VMs on two cores. */
const WORKFLOW_TIMEOUT_S = 300;
/** The flaky machine lives through scenarios (1) to (4), which run one after the other. */
const FLAKY_VM_TIMEOUT_S = 2 * WORKFLOW_TIMEOUT_S + 300;

interface BackgroundVm {
  name: string;
  log: string;
  waitFile: string;
  done: Promise<Ran>;
}
const background: BackgroundVm[] = [];
/** When the jobs scenarios' VMs were started. */
let jobsStarted = Date.now();

/**
 * vm-boot.sh in the background: the VM runs until the test says it has seen enough (end(), which
 * creates vm-boot's --wait-file: a PASS), or vm-boot's timeout.
 */
function bootInBackground(name: string, mac: string, args: string[], timeoutS = WORKFLOW_TIMEOUT_S): BackgroundVm {
  ready();
  const log = join(logs, `${name}.serial.log`);
  const waitFile = join(logs, `${name}.end`);
  const done = sh(lab("vm-boot.sh", "--mac", mac, "--timeout", String(timeoutS), "--log", log, "--wait-file", waitFile, ...args), (timeoutS + 30) * 1000);
  const vm = { name, log, waitFile, done };
  background.push(vm);
  return vm;
}

async function endVm(vm: BackgroundVm): Promise<Ran> {
  writeFileSync(vm.waitFile, "");
  return vm.done;
}

async function endBackgroundVms(): Promise<void> {
  await Promise.all(background.map((vm) => endVm(vm)));
}

const serialOf = (vm: BackgroundVm) => (existsSync(vm.log) ? readFileSync(vm.log, "utf8") : "");

/** Polls `probe` every 2 s until it returns a value; the error names `what` and shows `context`. */
async function waitFor<T>(what: string, timeoutS: number, probe: () => Promise<T | undefined>, context: () => string = () => ""): Promise<T> {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutS} s waiting for ${what}\n${context()}`);
    await Bun.sleep(2000);
  }
}

/** The one machine with `mac`, once it exists. */
async function machineOf(mac: string): Promise<any | undefined> {
  const [m] = await ready().machinesWith(mac);
  return m;
}

async function jobsOf(uuid: string): Promise<any[]> {
  const list = await ready().must("GET", `/api/v3/jobs?Machine=Eq(${uuid})`);
  // In the order they ran (StartTime is no index to sort on; jobs not started yet last).
  const key = (j: any) => String(j.StartTime || "~");
  return Array.isArray(list) ? list.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)) : [];
}

const isTaskJob = (j: any) => !String(j.Task).startsWith("stage:") && !String(j.Task).startsWith("bootenv:");

/** Every task job's log, read through the API and through the CLI (`socle jobs log <id>`): the same text. */
async function expectLogsReadable(uuid: string): Promise<Map<string, string>> {
  const s = ready();
  const out = new Map<string, string>();
  for (const j of (await jobsOf(uuid)).filter(isTaskJob)) {
    const api = await s.call("GET", `/api/v3/jobs/${j.Uuid}/log`);
    expect(api.status).toBe(200);
    const cli = await s.cli("jobs", "log", j.Uuid);
    expect(cli.code, cli.out).toBe(0);
    expect(cli.out.trim()).toBe(api.text.trim());
    out.set(`${j.Task}:${j.Uuid}`, api.text);
  }
  return out;
}

function vmContext(vm: BackgroundVm): () => string {
  return () => `--- serial ${vm.name} (end) ---\n${serialOf(vm).slice(-3000)}\n--- socle (end) ---\n${ready().log().slice(-2500)}`;
}

/** Scenarios (1) and (2): one VM from unknown to its deployed OS reporting back. */
async function imageDeployWorkflow(vm: BackgroundVm, mac: string, viaLocalScript: boolean): Promise<void> {
  const m = await waitFor(`the machine of ${mac} to complete its workflow`, WORKFLOW_TIMEOUT_S, async () => {
    const m = await machineOf(mac);
    // OVMF's menu: the firmware found nothing to boot (no disk boot option after the network).
    if (serialOf(vm).includes('starting Boot0000 "UiApp"')) throw new Error(`${vm.name}: the firmware ended in its menu\n${vmContext(vm)()}`);
    if (m && m.Runnable === false && (await jobsOf(m.Uuid)).some((j) => j.State === "failed")) {
      throw new Error(`a job of ${mac} failed: ${JSON.stringify(await jobsOf(m.Uuid))}\n${vmContext(vm)()}`);
    }
    return m?.WorkflowComplete === true ? m : undefined;
  }, vmContext(vm));
  const elapsed = ((Date.now() - jobsStarted) / 1000).toFixed(1);
  expect(m.Workflow).toBe("image-deploy");
  expect(m.BootEnv).toBe("local");
  const serial = serialOf(vm);
  // Discovery ran the agent, the deploy rebooted the VM, the firmware booted the disk, and the
  // deployed OS's agent (RS_BOOTENV=local, from the config area the deploy wrote) completed it.
  expect(serial).toContain("socle-discovery: agent: machine " + m.Uuid);
  expect(serial).toContain("socle-agent: reboot: reboot -f");
  // SeaBIOS: the network boot's local env (iPXE's sanboot of the first disk) hands over to the disk.
  if (viaLocalScript) expect(serial).toMatch(/Socle: booting \S+ from local disk/);
  expect(serial).toContain("socle-image: booted from disk");
  expect(serial).toContain(`socle-image: config RS_UUID=${m.Uuid}`);
  expect(serial).toContain("socle-image: config RS_BOOTENV=local");
  expect(serial).toMatch(/socle-image: config ca\.pem [0-9]+ bytes, 1 certificate/);
  const jobs = await jobsOf(m.Uuid);
  const tasks = jobs.filter(isTaskJob);
  expect(tasks.map((j) => j.Task)).toEqual(["inventory", "image-deploy"]);
  for (const j of tasks) expect([j.Task, j.State, j.ExitState]).toEqual([j.Task, "finished", "complete"]);
  const logsByTask = await expectLogsReadable(m.Uuid);
  const deploy = [...logsByTask.entries()].find(([k]) => k.startsWith("image-deploy:"))?.[1] ?? "";
  const sum = JSON.parse(readFileSync(join(E2E_IMAGE, "socle-e2e.json"), "utf8")).gzip.sha256;
  expect(deploy).toContain(`image-deploy: SHA-256 ${sum} verified`);
  expect(deploy).toMatch(/agent configuration written to \/dev\/vda2/);
  const inventory = [...logsByTask.entries()].find(([k]) => k.startsWith("inventory:"))?.[1] ?? "";
  expect(inventory.length).toBeGreaterThan(0);
  console.log(`e2e: ${vm.name}: unknown -> discovery -> inventory -> image-deploy -> local disk -> WorkflowComplete in ${elapsed} s (since the VMs started)`);
  const end = await endVm(vm);
  expect(end.code, end.out).toBe(0);
}

describe.skipIf(SKIP !== undefined)("network boot in the QEMU lab", () => {
  beforeAll(async () => {
    try {
      await sh(lab("lab-down.sh"), 60_000); // leftovers of an earlier, killed run
      vars = await labUp();
      const ns = vars.E2E_NS_SRV ?? LAB_ENV.E2E_NS_SRV!;
      // The executable alone, as on a fresh host: compiled now (it embeds assets/boot), copied
      // into a directory holding nothing else. SOCLE_E2E_SOURCE=1 runs `bun src/main.ts` instead.
      let command: string[] | undefined;
      if (process.env.SOCLE_E2E_SOURCE !== "1") {
        const [bin] = await compile(ROOT, { targets: ["amd64"], outdir: mkdtempSync(join(tmpdir(), "socle-e2e-bin-")) });
        command = [bin!];
        binDir = join(bin!, "..");
      }
      socle = new LabSocle(ns, vars.E2E_SRV_IF ?? "lan0", vars.E2E_SRV_IP ?? "198.51.100.1", command);
      logs = join(socle.work, "logs");
      mkdirSync(logs, { recursive: true });
      await socle.start();
      // Configuration through the API only.
      await socle.must("POST", "/api/v3/subnets", {
        json: {
          Name: "lab",
          Subnet: "198.51.100.0/24",
          ActiveStart: vars.E2E_POOL_START ?? "198.51.100.100",
          ActiveEnd: vars.E2E_POOL_END ?? "198.51.100.199",
          ActiveLeaseTime: 600,
        },
      });
      await socle.must("POST", "/api/v3/prefs", { json: { unknownBootEnv: "discovery" } });
    } catch (err) {
      setupError = err instanceof Error ? err : new Error(String(err));
      console.error(`e2e: setup failed: ${setupError.message}\n${socle?.log().slice(-3000) ?? ""}`);
    }
  }, 180_000);

  afterAll(async () => {
    try {
      await endBackgroundVms();
      await socle?.stop();
    } finally {
      await sh(lab("lab-down.sh"), 60_000);
      if (socle) {
        const keep = `${LAB_ENV.E2E_STATE}-logs`;
        mkdirSync(keep, { recursive: true });
        cpSync(logs, keep, { recursive: true });
        cpSync(socle.logFile, join(keep, "socle.log"));
        for (const f of readdirSync(socle.work)) if (/^socle\.killed-\d+\.log$/.test(f)) cpSync(join(socle.work, f), join(keep, f));
        socle.remove();
        if (binDir) rmSync(binDir, { recursive: true, force: true });
        console.log(`e2e: logs kept in ${keep}; whole stage ${((Date.now() - started) / 1000).toFixed(1)} s`);
      }
    }
  }, 90_000);

  test("setup: lab up, Socle serving, subnet + unknownBootEnv=discovery via the API, no boot file missing", async () => {
    const s = ready();
    const info = await s.must("GET", "/api/v3/info");
    expect(info.Services.Dhcp.Running).toBe(true);
    expect(info.Services.Tftp.Running).toBe(true);
    expect(info.Services.Static.Running).toBe(true);
    const prefs = await s.must("GET", "/api/v3/prefs");
    expect(prefs.unknownBootEnv).toBe("discovery");
    expect(info.BootAssets.Missing).toEqual([]);
    // The obtained discovery kernel is what the boot file server hands out (from the VM side).
    const r = await sh(["ip", "netns", "exec", LAB_ENV.E2E_NS_VM!, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", `http://${s.address}:8091/discovery/amd64/vmlinuz`]);
    expect(r.out.trim()).toBe(`200 ${readFileSync(join(ASSETS, "discovery/amd64/vmlinuz")).length}`);
  }, 60_000);

  test("1. SeaBIOS + iPXE ROM boots discovery and registers", async () => {
    await boot("bios", MAC.bios, ["--fw", "bios"]);
    await expectRegistered(MAC.bios);
  }, (VM_TIMEOUT_S + 40) * 1000);

  test("2. OVMF + iPXE EFI ROM boots discovery and registers", async () => {
    await boot("uefi", MAC.uefi, ["--fw", "uefi"]);
    await expectRegistered(MAC.uefi);
  }, (VM_TIMEOUT_S + 40) * 1000);

  test("3. OVMF's EDK2 PXE (virtio, no ROM): TFTP ipxe.efi, then HTTP, then registered", async () => {
    await boot("edk2", MAC.edk2, ["--fw", "uefi", "--nic", "virtio", "--rom", "none"]);
    await expectRegistered(MAC.edk2);
  }, (VM_TIMEOUT_S + 40) * 1000);

  test("3b. the EDK2 machine's boot timeline: firmware DISCOVER (arch 7) -> ipxe.efi over TFTP -> iPXE's DHCP -> its script over HTTP -> registered; no error diagnosis", async () => {
    const s = ready();
    const m = await expectRegistered(MAC.edk2);
    const t = await s.must("GET", `/api/v3/machines/${m.Uuid}/timeline`);
    const events = t.Events as { Seq: number; Kind: string; Summary: string; Detail: Record<string, unknown> }[];
    const at = (what: string, ok: (e: (typeof events)[number]) => boolean) => {
      const i = events.findIndex(ok);
      if (i < 0) throw new Error(`no ${what} in the timeline:\n${events.map((e) => `${e.Seq} ${e.Kind} ${e.Summary}`).join("\n")}`);
      return i;
    };
    const firmware = at("firmware DISCOVER answered with ipxe.efi", (e) => e.Kind === "dhcp" && e.Detail.Arch === 7 && e.Detail.Outcome === "DHCPOFFER" && e.Detail.BootFile === "ipxe.efi");
    const loader = at("ipxe.efi served over TFTP", (e) => e.Kind === "tftp" && e.Detail.Path === "ipxe.efi" && e.Detail.Outcome === "served");
    const ipxe = at("iPXE's DHCP", (e) => e.Kind === "dhcp" && e.Detail.UserClass === "iPXE" && e.Detail.Outcome === "DHCPACK");
    const script = at("the iPXE script over HTTP", (e) => e.Kind === "http" && String(e.Detail.Path).endsWith(".ipxe") && e.Detail.Status === 200);
    const reg = at("the registration", (e) => e.Kind === "register");
    expect(firmware < loader && loader < ipxe && ipxe < script && script < reg).toBe(true);
    expect((t.Diagnoses as { Severity: string }[]).filter((d) => d.Severity === "error")).toEqual([]);
    console.log(`e2e: EDK2 timeline: ${events.length} events, ${events[reg]!.Seq - events[firmware]!.Seq} Seqs from the firmware's DISCOVER to the registration`);
    // The same timeline in the web UI, in a real browser inside the server's namespace.
    const launched = await launchBrowser({ netns: s.ns });
    if (launched) {
      try {
        const { page } = await newPage(launched.browser);
        await login(page, s.api, "admin", ADMIN_PASSWORD);
        const shown = await checkMachineTimelinePage(page, s.api, m.Uuid);
        expect(shown.steps).toBe(events.length);
        console.log(`e2e: the machine page shows its ${shown.steps} timeline steps; screenshot ${shown.screenshot}`);
      } finally {
        await launched.close();
      }
    }
  }, 60_000);

  test("4. classic BIOS PXE (dhcp-probe): undionly.kpxe over TFTP, byte-identical to the one obtained from Debian", async () => {
    ready();
    const dir = mkdtempSync(join(tmpdir(), "socle-e2e-probe-"));
    try {
      const r = await sh(lab("dhcp-probe.sh", "--mac", MAC.probe, "--arch", "0", "--tftp-get", dir), 60_000);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/boot_file=undionly\.kpxe/);
      expect(r.out).toMatch(/siaddr=198\.51\.100\.1\b/);
      const got = readFileSync(join(dir, "undionly.kpxe"));
      const debian = readFileSync(join(ASSETS, "undionly.kpxe"));
      expect(got.length).toBe(debian.length);
      expect(Buffer.compare(got, debian)).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  test("4b. a registered machine set to discovery boots again and re-registers with its own machine token: still one machine", async () => {
    const s = ready();
    const [before] = await s.machinesWith(MAC.bios);
    expect(before).toBeDefined();
    await s.must("PATCH", `/api/v3/machines/${before.Uuid}`, { json: [{ op: "replace", path: "/BootEnv", value: "discovery" }], type: "application/json-patch+json" });
    await boot("bios-again", MAC.bios, ["--fw", "bios"]);
    const after = await s.machinesWith(MAC.bios);
    expect(after.length).toBe(1);
    expect(after[0].Uuid).toBe(before.Uuid);
    expect(after[0].Params?.inventory?.CPUs).toBeGreaterThan(0);
  }, (VM_TIMEOUT_S + 40) * 1000);

  test("5. a registered machine set to BootEnv local gets the local-boot script on its next boot", async () => {
    const s = ready();
    const [m] = await s.machinesWith(MAC.bios);
    expect(m).toBeDefined();
    await s.must("PATCH", `/api/v3/machines/${m.Uuid}`, { json: [{ op: "replace", path: "/BootEnv", value: "local" }], type: "application/json-patch+json" });
    // Its iPXE script is the machine's own: asked from the observer's address (not the VM's
    // lease), it is "not found" (pref bindMachineFiles) ...
    const r = await sh(["ip", "netns", "exec", LAB_ENV.E2E_NS_VM!, "curl", "-sS", "-w", "\n%{http_code}", `http://${s.address}:8091/${MAC.bios}.ipxe`]);
    expect(r.out.trim().split("\n").at(-1)).toBe("404");
    expect(r.out).not.toContain("#!ipxe");
    expect(s.log()).toContain("file of a known machine refused");
    // ... and on a real next boot, from the VM's own lease, iPXE gets and runs the local script
    // (its echo reaches the serial log).
    await boot("bios-local", MAC.bios, ["--fw", "bios"], "booting .* from local disk", 60);
    expect((await s.machinesWith(MAC.bios)).length).toBe(1);
  }, (VM_TIMEOUT_S + 60) * 1000);

  test("6. arm64 UEFI (AAVMF, EDK2 PXE): TFTP grubnetaa64.efi, GRUB's per-MAC config, the arm64 discovery image, registered", async () => {
    const s = ready();
    const t0 = Date.now();
    const out = await boot("arm64", MAC.arm64, ["--fw", "arm64"], undefined, ARM64_TIMEOUT_S);
    const m = await expectRegistered(MAC.arm64);
    expect(m.Arch === "arm64" || m.Arch === "aarch64").toBe(true);
    // GRUB asked for its dispatch config and then this MAC's, both over TFTP.
    expect(s.log()).toMatch(new RegExp(`GRUB: boot script mac=${MAC.arm64}`));
    console.log(`e2e: arm64 boot to registration ${((Date.now() - t0) / 1000).toFixed(1)} s (${out.trim().split("\n").at(-1)})`);
  }, (ARM64_TIMEOUT_S + 40) * 1000);

  test("7. UEFI HTTP boot (OVMF, PXE switched off): ipxe.efi fetched by URL over HTTP, then discovery, registered", async () => {
    const s = ready();
    await boot("http-boot", MAC.httpBoot, ["--fw", "uefi", "--nic", "virtio", "--rom", "none", "--http-boot"]);
    await expectRegistered(MAC.httpBoot);
    // The firmware's own HTTP client fetched the loader by URL (no other test fetches it over HTTP).
    expect(s.log()).toMatch(/DEBUG http: GET path=ipxe\.efi .*status=200/);
  }, (VM_TIMEOUT_S + 40) * 1000);

  test(`8. ${STORM_VMS} VMs at once, mixed firmware: all registered`, async () => {
    const s = ready();
    const out = join(logs, "storm");
    const r = await sh(lab("boot-storm.sh", String(STORM_VMS), "--fw", "mix", "--timeout", String(STORM_TIMEOUT_S), "--outdir", out, "--mac-prefix", MAC.stormPrefix), (STORM_TIMEOUT_S + 60) * 1000);
    expect(r.code, `${r.out}\n--- socle ---\n${s.log().slice(-2500)}`).toBe(0);
    for (let i = 1; i <= STORM_VMS; i++) await expectRegistered(`${MAC.stormPrefix}:0${i}`);
    console.log(`e2e: boot storm:\n${r.out.trim()}`);
  }, (STORM_TIMEOUT_S + 90) * 1000);

  test("no machine was registered twice", async () => {
    const all = await ready().must("GET", "/api/v3/machines");
    const macs = (all as any[]).flatMap((m) => m.HardwareAddrs as string[]);
    expect(new Set(macs).size).toBe(macs.length);
    // At most bios, uefi, edk2, arm64, http-boot and the storm VMs (the probe runs no discovery).
    expect(all.length).toBeLessThanOrEqual(5 + STORM_VMS);
  }, 30_000);

  // --- ISO import: Debian's real netboot installer as an ISO (build/installer-iso.ts), imported
  // through the API into the shipped debian-12 boot environment's install tree; a known machine
  // set to debian-12 boots into that installer, which takes its own DHCP lease (vendor class d-i,
  // no iPXE user class: a plain lease with a router and a DNS server, no boot file) and fetches
  // its preseed.
  test("iso: the netboot installer ISO imported through the API; a VM boots into the installer, which leases as d-i (no boot file; a router and a DNS server) and fetches its rendered preseed", async () => {
    const s = ready();
    const iso = await buildInstallerIso({ log: (l) => console.log(`installer-iso: ${l}`) });
    // The installer configures its network from DHCP and wants a router and a DNS server there
    // (without a router it stops to ask whether to go on).
    const srv = vars.E2E_SRV_IP ?? "198.51.100.1";
    await s.must("PATCH", "/api/v3/subnets/lab", {
      type: "application/json-patch+json",
      json: [
        { op: "add", path: "/Options/-", value: { Code: 3, Value: srv } },
        { op: "add", path: "/Options/-", value: { Code: 6, Value: srv } },
      ],
    });
    expect((await s.must("GET", "/api/v3/bootenvs/debian-12")).Available).toBe(false);
    const up = await s.must("PUT", `/api/v3/isos/${INSTALLER_ISO_NAME}`, { file: iso.path });
    expect(up.Exploded).toEqual([expect.objectContaining({ BootEnv: "debian-12", Path: "debian-12/install", Files: 2 })]);
    expect((await s.must("GET", "/api/v3/bootenvs/debian-12")).Available).toBe(true);
    const m = await s.must("POST", "/api/v3/machines", {
      json: { Name: "e2e-installer", HardwareAddrs: [ISO_MAC], BootEnv: "debian-12", Params: { "provisioner-default-password-hash": "$6$e2e$Jx1ZPfH0Q4g1m1tuNmHTFbXfS3Dz2zYwKq5dDtbf3bQm1xW3kJbX6v8Yw3H3n0xJ7Yl9kZc2Wc1kq3lQ9y5oM0" } },
    });
    const preseed = `machines/${m.Uuid}/preseed.cfg`;
    // debian-installer asks about "low memory mode" (and stops there) below about 1 GB.
    const vm = bootInBackground("installer", ISO_MAC, ["--fw", "bios", "--mem", "1280"], INSTALLER_TIMEOUT_S);
    try {
      const fetched = await waitFor("the installer's GET of its preseed", INSTALLER_TIMEOUT_S, async () => {
        const line = s.log().split("\n").find((l) => l.includes(`path=${preseed}`) && l.includes("status=200"));
        return line;
      }, () => `--- serial ---\n${serialOf(vm).slice(-3000)}\n--- socle ---\n${s.log().slice(-2500)}`);
      const addr = /remote=(\S+)/.exec(fetched)?.[1] ?? "";
      // The installer's own lease: vendor class d-i, no user class, no boot file; and the preseed
      // went to that address (machine files are bound to the machine's leases).
      const acks = s.log().split("\n").filter((l) => l.includes("DHCPACK") && l.includes(`mac=${ISO_MAC}`));
      const di = acks.find((l) => l.includes("vendorClass=d-i"));
      expect(di, acks.join("\n")).toBeDefined();
      expect(di).toMatch(/ userClass= file=(\s|$)/);
      expect(di).toContain(`addr=${addr.replace(/^::ffff:/, "")}`);
      // iPXE asked first, with its user class, and got its boot script.
      expect(acks.some((l) => l.includes("userClass=iPXE"))).toBe(true);
      console.log(`e2e: installer: preseed fetched ${((Date.now() - started) / 1000).toFixed(0)} s into the stage, from ${addr}`);
    } finally {
      await endVm(vm);
    }
  }, (INSTALLER_TIMEOUT_S + 120) * 1000);

  // --- Workflows run by the agent. Three VMs at once: two unknown machines (SeaBIOS,
  // OVMF) with blank disks go through the image-deploy workflow to their deployed OS, and a known
  // machine runs a task that fails until an operator fixes its param; then the server is killed
  // while that machine's agent streams a log.
  let vms: Record<"bios" | "uefi" | "flaky", BackgroundVm> | undefined;
  let flakyUuid = "";

  test("jobs: setup: the e2e image in the file server, params on global, test tasks, defaultWorkflow=image-deploy; three VMs started", async () => {
    const s = ready();
    // Current with the agent and the discovery image of this tree: does nothing when it is.
    const image = await buildE2eImage({ outDir: E2E_IMAGE, cacheDir: join(ROOT, ".cache", "assets"), log: (l) => console.log(`e2e-image: ${l}`) });
    jobsStarted = Date.now();
    mkdirSync(join(s.dataDir, "files", "images"), { recursive: true });
    copyFileSync(join(E2E_IMAGE, image.gzip.file), join(s.dataDir, "files", "images", image.gzip.file));
    const params = { "image-url": `images/${image.gzip.file}`, "image-sha256": image.gzip.sha256, "operating-system-disk": "/dev/vda" };
    await s.must("PATCH", "/api/v3/profiles/global", {
      type: "application/json-patch+json",
      json: Object.entries(params).map(([k, v]) => ({ op: "add", path: `/Params/${k}`, value: v })),
    });
    // A task that fails until its param says ok, and one that streams a line every 0.5 s for 15 s.
    const flaky = [
      "#!/bin/sh",
      'echo "e2e-flaky: flag is <%= it.param("e2e-flaky-flag") %>"',
      '[ "<%= it.param("e2e-flaky-flag") %>" = ok ] || { echo "e2e-flaky: not ok, exit 1"; exit 1; }',
      'echo "e2e-flaky: ok"',
    ].join("\n");
    const stream = 'i=1; while [ $i -le 30 ]; do echo "e2e-stream: line $i"; i=$((i + 1)); sleep 0.5; done';
    for (const [name, script] of [["e2e-flaky", flaky], ["e2e-stream", stream]] as const) {
      await s.must("POST", "/api/v3/tasks", { json: { Name: name, Templates: [{ Name: name, Path: "", Contents: script }] } });
      await s.must("POST", "/api/v3/stages", { json: { Name: name, Tasks: [name] } });
      await s.must("POST", "/api/v3/workflows", { json: { Name: name, Stages: ["discover", name] } });
    }
    // The flaky machine is known before it boots: in discovery, with the flaky workflow.
    const created = await s.must("POST", "/api/v3/machines", {
      json: { Name: "e2e-flaky", HardwareAddrs: [JOB_MAC.flaky], BootEnv: "discovery", Params: { "e2e-flaky-flag": "no" } },
    });
    flakyUuid = created.Uuid;
    await s.must("PATCH", `/api/v3/machines/${flakyUuid}`, { type: "application/json-patch+json", json: [{ op: "replace", path: "/Workflow", value: "e2e-flaky" }] });
    await s.must("POST", "/api/v3/prefs", { json: { defaultWorkflow: "image-deploy" } });
    const disk = (name: string) => {
      const f = join(s.work, `${name}.disk`);
      writeFileSync(f, "");
      truncateSync(f, 64 * 1024 * 1024);
      return f;
    };
    vms = {
      bios: bootInBackground("deploy-bios", JOB_MAC.bios, ["--fw", "bios", "--mem", "512", "--disk", disk("bios")]),
      uefi: bootInBackground("deploy-uefi", JOB_MAC.uefi, ["--fw", "uefi", "--mem", "512", "--disk", disk("uefi"), "--disk-first"]),
      flaky: bootInBackground("flaky", JOB_MAC.flaky, ["--fw", "bios", "--mem", "384"], FLAKY_VM_TIMEOUT_S),
    };
  }, 15 * 60_000);

  test("jobs: (1) SeaBIOS, unknown -> discovery -> register -> inventory -> image-deploy -> reboot -> local disk -> its agent completes the workflow", async () => {
    if (!vms) throw new Error("jobs setup did not run");
    await imageDeployWorkflow(vms.bios, JOB_MAC.bios, true);
  }, (WORKFLOW_TIMEOUT_S + 60) * 1000);

  // OVMF boots the disk first (vm-boot.sh --disk-first: after iPXE's exit it did not reliably
  // offer the disk); blank, the disk is skipped and the machine network-boots into discovery.
  test("jobs: (2) the same on OVMF (UEFI), the disk first in the boot order", async () => {
    if (!vms) throw new Error("jobs setup did not run");
    await imageDeployWorkflow(vms.uefi, JOB_MAC.uefi, false);
  }, (WORKFLOW_TIMEOUT_S + 60) * 1000);

  test("jobs: (3) a task that exits 1 stops the workflow (Runnable=false, job failed with its log); param fixed, `socle machines runnable` true: the retry succeeds", async () => {
    if (!vms) throw new Error("jobs setup did not run");
    const s = ready();
    const vm = vms.flaky;
    const failed = await waitFor("the e2e-flaky job to fail", WORKFLOW_TIMEOUT_S, async () => (await jobsOf(flakyUuid)).find((j) => j.Task === "e2e-flaky" && j.State === "failed"), vmContext(vm));
    expect(failed.ExitState).toBe("failed");
    const stopped = await s.must("GET", `/api/v3/machines/${flakyUuid}`);
    expect(stopped.Runnable).toBe(false);
    expect(stopped.WorkflowComplete).toBe(false);
    const log = await s.call("GET", `/api/v3/jobs/${failed.Uuid}/log`);
    expect(log.text).toContain("e2e-flaky: flag is no");
    expect(log.text).toContain("e2e-flaky: not ok, exit 1");
    const cliLog = await s.cli("jobs", "log", failed.Uuid);
    expect(cliLog.code, cliLog.out).toBe(0);
    expect(cliLog.out).toContain("e2e-flaky: not ok, exit 1");
    // The operator fixes the param, then lets the machine go on.
    await s.must("PATCH", `/api/v3/machines/${flakyUuid}`, { type: "application/json-patch+json", json: [{ op: "replace", path: "/Params/e2e-flaky-flag", value: "ok" }] });
    const r = await s.cli("machines", "runnable", flakyUuid, "true");
    expect(r.code, r.out).toBe(0);
    const done = await waitFor("the flaky machine to complete its workflow", 180, async () => {
      const m = await s.must("GET", `/api/v3/machines/${flakyUuid}`);
      return m.WorkflowComplete === true ? m : undefined;
    }, vmContext(vm));
    expect(done.Runnable).toBe(true);
    const runs = (await jobsOf(flakyUuid)).filter((j) => j.Task === "e2e-flaky");
    expect(runs.map((j) => j.State)).toEqual(["failed", "finished"]);
    const logs = await expectLogsReadable(flakyUuid);
    expect(logs.get(`e2e-flaky:${runs[1].Uuid}`)).toContain("e2e-flaky: ok");
    console.log(`e2e: flaky: failed, fixed, retried and complete ${((Date.now() - jobsStarted) / 1000).toFixed(1)} s after the jobs setup`);
  }, (WORKFLOW_TIMEOUT_S + 240) * 1000);

  test("jobs: (4) the server is killed (-9) while an agent streams a log; restarted on the same data dir: the job is failed, no acknowledged line lost", async () => {
    if (!vms) throw new Error("jobs setup did not run");
    const s = ready();
    const vm = vms.flaky;
    await s.must("PATCH", `/api/v3/machines/${flakyUuid}`, { type: "application/json-patch+json", json: [{ op: "replace", path: "/Workflow", value: "e2e-stream" }] });
    const job = await waitFor("the e2e-stream job to have logged 6 lines", 120, async () => {
      const j = (await jobsOf(flakyUuid)).find((j) => j.Task === "e2e-stream" && j.State === "running");
      if (!j) return undefined;
      const l = await s.call("GET", `/api/v3/jobs/${j.Uuid}/log`);
      return l.text.includes("e2e-stream: line 6\n") ? j : undefined;
    }, vmContext(vm));
    // What the server holds now is acknowledged (or about to be): all of it must survive the kill.
    const before = (await s.must("GET", `/api/v3/jobs/${job.Uuid}/log`)) as string;
    const pid = s.pid;
    const kept = await s.kill9();
    console.log(`e2e: killed socle (pid ${pid}) with ${before.split("\n").length - 1} log lines acknowledged; its log is ${kept}`);
    await Bun.sleep(1000);
    await s.start();
    const after = await s.must("GET", `/api/v3/jobs/${job.Uuid}`);
    expect(after.State).toBe("failed");
    const m = await s.must("GET", `/api/v3/machines/${flakyUuid}`);
    expect(m.Runnable).toBe(false);
    // The agent goes on sending once the server answers again; wait until it has had the chance.
    await Bun.sleep(5000);
    const log = (await s.must("GET", `/api/v3/jobs/${job.Uuid}/log`)) as string;
    expect(log.startsWith(before)).toBe(true);
    expect(log).toContain("server restarted while the job was running: marked failed");
    // The task's lines up to the kill, in order and none missing (the agent's own lines around them).
    const lines = before.split("\n").filter((l) => l.startsWith("e2e-stream: "));
    expect(lines.length).toBeGreaterThanOrEqual(6);
    for (let i = 1; i <= lines.length; i++) expect(lines[i - 1]).toBe(`e2e-stream: line ${i}`);
    const cli = await s.cli("jobs", "log", job.Uuid);
    expect(cli.code, cli.out).toBe(0);
    expect(cli.out.startsWith(before)).toBe(true);
    console.log(`e2e: the stream job's log after the restart:\n${log}`);
    const end = await endVm(vm);
    expect(end.code, end.out).toBe(0);
    console.log(`e2e: jobs scenarios ${((Date.now() - jobsStarted) / 1000).toFixed(1)} s`);
  }, 240_000);
});
