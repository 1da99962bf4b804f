// Builds Socle's discovery image: a Debian kernel and an initramfs that registers the machine.
//
// The base is the QEMU lab's image (shared/e2e/build-initramfs.sh): Debian's linux-image-amd64
// kernel, static busybox, the NIC drivers (e1000, e1000e, virtio_net) with their dependencies,
// and a udhcpc hook. It is also the "real" discovery image: a stock Debian kernel with NIC
// modules boots real x86-64 hardware with those NICs; a wider driver set means adding modules
// to that script's list. Over it goes a second cpio archive (the kernel unpacks concatenated
// archives in order, later files replacing earlier ones) with Socle's /init and
// /etc/socle-register (both beside this file) and the busybox applets they use.
//
//   bun build/discovery/build.ts OUTDIR     -> OUTDIR/{vmlinuz,initrd.img,BUILD-INFO}

import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";

const HERE = import.meta.dir;
export const OVERLAY_FILES = [
  { src: "init", dest: "init" },
  { src: "socle-register", dest: "etc/socle-register" },
] as const;
/** Applets the overlay scripts use beyond those the base image links. */
export const EXTRA_APPLETS = ["mkdir", "rm", "uname", "reboot", "ssl_client"];

export interface DiscoveryImage {
  vmlinuz: string;
  initrd: string;
  kernelVersion: string;
  /** false when the cached image was still current. */
  built: boolean;
}

export interface BuildOptions {
  outDir: string;
  /** shared/e2e (holds build-initramfs.sh). */
  labDir: string;
  log?: (line: string) => void;
}

async function run(cmd: string[], cwd?: string): Promise<string> {
  const p = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`discovery: ${cmd.join(" ")} failed with exit code ${code}: ${err.trim().slice(-2000)}`);
  return out;
}

/** Hash of every input: the base image builder and the overlay files. */
export function inputsDigest(labDir: string): string {
  const h = createHash("sha256");
  for (const f of [join(labDir, "build-initramfs.sh"), ...OVERLAY_FILES.map((o) => join(HERE, o.src))]) {
    h.update(f.replace(/.*\//, "")).update("\0").update(readFileSync(f));
  }
  h.update(EXTRA_APPLETS.join(","));
  return h.digest("hex");
}

/** The overlay as a gzip'd newc cpio archive (made with cpio(1), owner root). */
export async function buildOverlay(): Promise<Uint8Array> {
  const stage = mkdtempSync(join(tmpdir(), "socle-discovery-"));
  try {
    mkdirSync(join(stage, "etc"), { recursive: true });
    mkdirSync(join(stage, "bin"), { recursive: true });
    for (const o of OVERLAY_FILES) {
      copyFileSync(join(HERE, o.src), join(stage, o.dest));
      chmodSync(join(stage, o.dest), 0o755);
    }
    for (const a of EXTRA_APPLETS) symlinkSync("busybox", join(stage, "bin", a));
    const list = ["bin", "etc", "init", "etc/socle-register", ...EXTRA_APPLETS.map((a) => `bin/${a}`)].join("\n") + "\n";
    const p = Bun.spawn(["cpio", "-o", "-H", "newc", "--owner=0:0", "--quiet"], { cwd: stage, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    p.stdin.write(list);
    await p.stdin.end();
    const [out, err, code] = await Promise.all([new Response(p.stdout).arrayBuffer(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`discovery: cpio failed with exit code ${code}: ${err.trim()}`);
    return gzipSync(new Uint8Array(out), { level: 9 });
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

export async function buildDiscovery(opts: BuildOptions): Promise<DiscoveryImage> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const outDir = resolve(opts.outDir);
  const labDir = resolve(opts.labDir);
  const script = join(labDir, "build-initramfs.sh");
  if (!existsSync(script)) throw new Error(`discovery: "${script}" not found (the QEMU lab, shared/e2e, must sit beside the repository)`);
  mkdirSync(outDir, { recursive: true });
  const vmlinuz = join(outDir, "vmlinuz");
  const initrd = join(outDir, "initrd.img");
  const stamp = join(outDir, "INPUTS");
  const digest = inputsDigest(labDir);
  const kernelVersion = () => (existsSync(join(outDir, "base", "kernel.version")) ? readFileSync(join(outDir, "base", "kernel.version"), "utf8").trim() : "");
  if (existsSync(vmlinuz) && existsSync(initrd) && existsSync(stamp) && readFileSync(stamp, "utf8").trim() === digest) {
    log(`discovery: ${outDir} is current (kernel ${kernelVersion()})`);
    return { vmlinuz, initrd, kernelVersion: kernelVersion(), built: false };
  }
  const base = join(outDir, "base");
  log(`discovery: building the base image with ${script}`);
  await run(["bash", script, base]);
  const overlay = await buildOverlay();
  const baseInitrd = readFileSync(join(base, "initrd.img"));
  writeFileSync(`${initrd}.tmp`, Buffer.concat([baseInitrd, overlay]));
  copyFileSync(join(base, "vmlinuz"), `${vmlinuz}.tmp`);
  await run(["mv", "-f", `${initrd}.tmp`, initrd]);
  await run(["mv", "-f", `${vmlinuz}.tmp`, vmlinuz]);
  const info = [
    `kernel_version=${kernelVersion()}`,
    `base=${script}`,
    `base_initrd_bytes=${baseInitrd.length}`,
    `overlay_bytes=${overlay.length}`,
    `overlay_files=${OVERLAY_FILES.map((o) => `/${o.dest}`).join(" ")}`,
  ];
  writeFileSync(join(outDir, "BUILD-INFO"), info.join("\n") + "\n");
  writeFileSync(stamp, digest + "\n");
  log(`discovery: wrote ${vmlinuz} and ${initrd} (${baseInitrd.length + overlay.length} bytes, overlay ${overlay.length})`);
  return { vmlinuz, initrd, kernelVersion: kernelVersion(), built: true };
}

if (import.meta.main) {
  const out = process.argv[2];
  if (!out) {
    console.error("usage: bun build/discovery/build.ts OUTDIR [LABDIR]");
    process.exit(2);
  }
  try {
    const img = await buildDiscovery({ outDir: out, labDir: process.argv[3] ?? join(HERE, "..", "..", "..", "shared", "e2e") });
    console.log(`${img.vmlinuz}\n${img.initrd}`);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
