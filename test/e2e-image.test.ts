// The e2e disk image (`npm run e2e:prepare`, build/e2e-image.ts) boots from a virtio disk under
// SeaBIOS and under OVMF, finds its config area and hands it to the agent, as an image-deploy
// workflow will leave it: the image copied onto a larger disk, the config blob (KEY=value lines
// and a CA) written into partition 2 with dd. Each VM runs in the test's own lab namespaces
// (test/lab/lab-up.sh, no DHCP server in them): the SeaBIOS one without any network device, the
// OVMF one with a virtio NIC on a tap, which asks for a lease nobody answers. QEMU runs through
// test/lab/disk-boot.sh, which kills it by PID; lab-down.sh removes the namespaces and the taps.
//
// Needs root, qemu-system-x86_64 and OVMF (test/lab/install-deps.sh), apt (the image is built, or
// found current, first: a cold build downloads its Debian packages) and an x86-64 host; skipped
// with the reason otherwise.
//
//   bun test test/e2e-image.test.ts

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { aptUnavailable } from "../src/assets/debian.ts";
import { CA_KEY_BITS, buildCaCert, generateRsaKey } from "../src/pki/certs.ts";
import { E2E_IMAGE_DIR, buildE2eImage, type E2eImage } from "../build/e2e-image.ts";
import { configBlob } from "../build/e2e-image/config-area.ts";

const ROOT = resolve(import.meta.dir, "..");
const LAB = join(ROOT, "test", "lab");
/** Per boot; both take 20-40 s under TCG on an idle 2-core machine. */
const BOOT_TIMEOUT_S = 90;

function skipReason(): string | undefined {
  if (process.platform !== "linux") return "needs Linux";
  if (process.getuid?.() !== 0) return "needs root (network namespaces, taps)";
  if (process.arch !== "x64") return `builds and boots an amd64 image, this host is ${process.arch}`;
  for (const f of ["/usr/bin/qemu-system-x86_64", "/usr/share/ovmf/OVMF.fd"]) if (!existsSync(f)) return `${f} is missing (run ${LAB}/install-deps.sh)`;
  for (const c of ["ip", "dd"]) if (Bun.which(c) === null) return `${c} is not on PATH`;
  const noApt = aptUnavailable();
  return noApt ? `the image is built from Debian packages: ${noApt}` : undefined;
}

const SKIP = skipReason();
if (SKIP) console.log(`skip e2e-image.test.ts: ${SKIP}`);

const work = SKIP ? "" : mkdtempSync(join(tmpdir(), "socle-e2e-image-"));
/** This suite's namespaces: other users of the lab on this machine keep theirs. */
const LAB_ENV = { E2E_NS_SRV: "socle-img-srv", E2E_NS_VM: "socle-img-vm", E2E_STATE: join(work, "state"), E2E_IPV6_RA: "0" };

async function lab(script: string, args: string[], timeoutMs: number): Promise<{ code: number; out: string }> {
  const p = Bun.spawn([join(LAB, script), ...args], { env: { ...process.env, ...LAB_ENV }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => p.kill("SIGTERM"), timeoutMs);
  const [o, e, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, out: o + e };
}

let image: E2eImage | undefined;
let setupError: Error | undefined;
let caPem = "";

describe.skipIf(SKIP !== undefined)("the e2e disk image boots from disk", () => {
  beforeAll(async () => {
    try {
      const t0 = Date.now();
      image = await buildE2eImage({ outDir: E2E_IMAGE_DIR, cacheDir: join(ROOT, ".cache", "assets"), log: (l) => console.log(`e2e-image: ${l}`) });
      console.log(`e2e-image: ${image.raw.bytes} bytes raw, ${image.built ? "built" : "current"} in ${((Date.now() - t0) / 1000).toFixed(1)} s, agent ${image.agent}`);
      caPem = buildCaCert(await generateRsaKey(CA_KEY_BITS), "e2e image test CA");
      await lab("lab-down.sh", [], 60_000); // leftovers of an earlier, killed run
      const up = await lab("lab-up.sh", [], 60_000);
      if (up.code !== 0) throw new Error(`lab-up.sh failed (${up.code}): ${up.out}`);
    } catch (e) {
      setupError = e instanceof Error ? e : new Error(String(e));
    }
  }, 20 * 60_000);

  afterAll(async () => {
    const down = await lab("lab-down.sh", [], 60_000);
    if (down.code !== 0) console.error(`e2e-image: lab-down.sh: ${down.out}`);
    rmSync(work, { recursive: true, force: true });
  }, 90_000);

  /** A copy of the image on a 64 MiB disk, with the config area written by dd. */
  async function deployedDisk(name: string, uuid: string): Promise<string> {
    if (setupError) throw new Error(`setup failed: ${setupError.message}`);
    const img = image!;
    const disk = join(work, `${name}.img`);
    copyFileSync(join(E2E_IMAGE_DIR, img.raw.file), disk);
    truncateSync(disk, 64 * 1024 * 1024);
    const blob = join(work, `${name}.config`);
    writeFileSync(blob, configBlob({ RS_ENDPOINT: "https://198.51.100.1:8092", RS_UUID: uuid, RS_TOKEN: "e2e.token-abc_123", RS_BOOTENV: "local" }, caPem));
    const dd = Bun.spawnSync(["dd", `if=${blob}`, `of=${disk}`, "bs=512", `seek=${img.configArea.offset / 512}`, "conv=notrunc", "status=none"], { stderr: "pipe" });
    if (dd.exitCode !== 0) throw new Error(`dd failed: ${dd.stderr.toString()}`);
    return disk;
  }

  async function boot(name: string, disk: string, args: string[], markers: string[]): Promise<string> {
    const log = join(work, `${name}.serial.log`);
    const r = await lab("disk-boot.sh", ["--disk", disk, "--log", log, "--timeout", String(BOOT_TIMEOUT_S), ...args, ...markers.flatMap((m) => ["--marker", m])], (BOOT_TIMEOUT_S + 30) * 1000);
    const serial = existsSync(log) ? readFileSync(log, "utf8") : "";
    if (r.code !== 0) throw new Error(`disk-boot.sh ${name} failed with ${r.code}:\n${r.out}\n--- serial (end) ---\n${serial.slice(-3000)}`);
    console.log(`e2e-image: ${name}: ${r.out.trim().split("\n").at(-1)}`);
    return serial;
  }

  const common = (uuid: string) => [
    "socle-image: booted from disk",
    `socle-image: config RS_UUID=${uuid}`,
    "socle-image: config RS_BOOTENV=local",
    "socle-image: config RS_TOKEN=\\(17 characters\\)",
    "socle-image: config ca.pem [0-9]+ bytes, 1 certificate",
    "socle-image: curl 7\\.[0-9.]+ .*OpenSSL",
    "socle-image: (no agent|running /usr/sbin/socle-agent)",
  ];

  test("SeaBIOS, no network device: gptmbr.bin -> syslinux -> kernel; config read from the disk", async () => {
    const uuid = "6f2c8a1e-0b1d-4c7e-9a53-5e2f0d4b8c01";
    const serial = await boot("bios", await deployedDisk("bios", uuid), ["--fw", "bios"], [...common(uuid), "socle-image: no Ethernet interface"]);
    expect(serial).toContain("socle-image: config RS_ENDPOINT=https://198.51.100.1:8092");
    expect(serial).not.toContain("e2e.token-abc_123"); // the token is never printed
  }, (BOOT_TIMEOUT_S + 60) * 1000);

  test("OVMF, virtio NIC on a tap without a DHCP server: systemd-boot -> kernel; config read; DHCP tried and left in the background", async () => {
    const uuid = "0d9e4b7a-3c2f-4e1a-8b6d-7f5a9c3e2b10";
    const serial = await boot("uefi", await deployedDisk("uefi", uuid), ["--fw", "uefi", "--mac", "52:54:00:e2:30:01"], [
      ...common(uuid),
      "socle-image: nic \\S+: no DHCP lease yet",
    ]);
    expect(serial).toContain("EFI stub: Loaded initrd");
    expect(serial).not.toContain("e2e.token-abc_123");
  }, (BOOT_TIMEOUT_S + 60) * 1000);
});
