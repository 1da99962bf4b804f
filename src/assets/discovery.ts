// Socle's discovery image, per architecture: Debian's kernel, and an initramfs of Debian's static
// busybox, Debian's curl with the shared libraries it loads, the kernel modules a server's NICs
// and disks need, Socle's /init and /etc/socle-register (beside this file), and the machine agent
// (assets/agent/socle-agent, as /usr/bin/socle-agent), which /init starts once registered. Built
// from Debian packages (debian.ts); the initramfs is written here (cpio.ts), so the host needs
// apt-get and dpkg-deb, nothing else.

import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import { cpioArchive, type CpioEntry } from "./cpio.ts";
import { AssetError, debFor, dependencyClosure, unpackDeb, type AptOptions, type DebArch } from "./debian.ts";
import { EM_AARCH64, EM_X86_64 } from "./elf.ts";
import { loadOrder, moduleName, parseModinfo } from "./modinfo.ts";
import { programClosure } from "./program-closure.ts";
import { replaceFile } from "../files/atomic-write.ts";
import initScript from "./discovery/init" with { type: "text" };
import registerScript from "./discovery/socle-register" with { type: "text" };
import { AGENT_FILES } from "./agent-files.ts";
const agentScript = AGENT_FILES.get("socle-agent")!;

/**
 * Modules loaded at boot, in this order (their dependencies first). A name this kernel lacks is
 * either built in or not built for the architecture; it is skipped and listed in BUILD-INFO.
 * - virtual: virtio (QEMU/KVM, most clouds), vmxnet3 (VMware), e1000/e1000e (QEMU, old Intel)
 * - server NICs: Intel igb/ixgbe/i40e/ice, Mellanox mlx4/mlx5, Broadcom bnxt/tg3, Realtek r8169
 * - disks, so the inventory sees them: AHCI, NVMe, LSI MegaRAID and SAS HBAs, virtio block/SCSI
 */
export const DISCOVERY_MODULES = [
  "virtio_pci", "virtio_mmio", "virtio_net", "vmxnet3", "e1000", "e1000e",
  "igb", "ixgbe", "i40e", "ice", "mlx4_en", "mlx5_core", "bnxt_en", "tg3", "r8169",
  "ahci", "nvme", "megaraid_sas", "mpt3sas", "virtio_blk", "virtio_scsi", "sd_mod",
];

/**
 * Debian programs in the initramfs besides busybox, each with exactly the shared libraries it
 * loads (program-closure.ts), none of its package's docs, man pages or locales. curl is there
 * because busybox wget checks no TLS certificate at all, and the machine agent must check
 * Socle's against the CA it was given (`curl --cacert /etc/socle/ca.pem https://...`). It costs
 * 19 MB unpacked, 6.5 MB of the compressed initramfs (amd64: 4.3 MB without, 11.0 MB with), most
 * of it OpenSSL, GnuTLS (libldap's), libunistring and Kerberos: libcurl is linked against them,
 * so the loader maps them whether or not a request uses them.
 */
export const DISCOVERY_PROGRAMS: readonly { pkg: string; paths: readonly string[] }[] = [{ pkg: "curl", paths: ["usr/bin/curl"] }];

const ELF_MACHINE: Record<DebArch, number> = { amd64: EM_X86_64, arm64: EM_AARCH64 };

export interface DiscoveryImage {
  arch: DebArch;
  vmlinuz: string;
  initrd: string;
  kernelVersion: string;
  /** Bytes of vmlinuz + initrd.img. */
  bytes: number;
  /** false when the image in outDir was already built from the same inputs. */
  built: boolean;
}

export interface DiscoveryOptions extends AptOptions {
  arch: DebArch;
  /** Gets vmlinuz and initrd.img (and nothing else: it is served as it is). */
  outDir: string;
  /** Use these .deb files instead of asking apt (tests, offline builds). */
  kernelDeb?: string;
  busyboxDeb?: string;
  /** The packages of DISCOVERY_PROGRAMS and everything they depend on. */
  programDebs?: string[];
}

/**
 * The kernel file as served. arm64's Image is not compressed by Debian (33 MB); GRUB and the
 * EFI stub's loaders unpack a gzip'd one, which brings it to a third.
 */
const GZIP_KERNEL: Record<DebArch, boolean> = { amd64: false, arm64: true };

/**
 * The initramfs is zstd-compressed (level 19): a quarter smaller than gzip -9 with curl's
 * libraries in it (amd64: 11.0 MB against 13.5 MB), at about 20 s of build time per
 * architecture. Debian's kernels unpack it (CONFIG_RD_ZSTD=y on amd64 and arm64, bookworm's
 * initramfs-tools default); the loaders only carry the bytes.
 */
const INITRD_ZSTD_LEVEL = 19;

/** Raise when the image layout changes in a way the inputs below do not show. */
const BUILDER_VERSION = 3;

const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

export async function buildDiscoveryImage(opts: DiscoveryOptions): Promise<DiscoveryImage> {
  const { arch, outDir } = opts;
  const kernelDeb = opts.kernelDeb ?? (await debFor(opts, arch, `linux-image-${arch}`));
  const busyboxDeb = opts.busyboxDeb ?? (await debFor(opts, arch, "busybox-static"));
  const programDebs = [...(opts.programDebs ?? (await programDebsFor(opts, arch)))].sort();
  mkdirSync(outDir, { recursive: true });
  const vmlinuz = join(outDir, "vmlinuz");
  const initrd = join(outDir, "initrd.img");
  const stamps = join(opts.cacheDir, "stamps");
  mkdirSync(stamps, { recursive: true });
  // One stamp per output directory: the cache is shared (npm install's assets/boot and `socle
  // discovery build`'s data dir), and a stamp says what is in one place, not everywhere.
  const where = sha(outDir).slice(0, 12);
  const stamp = join(stamps, `discovery-${arch}-${where}.inputs`);
  const digest = sha(
    [
      String(BUILDER_VERSION), basename(kernelDeb), basename(busyboxDeb), DISCOVERY_MODULES.join(","), String(GZIP_KERNEL[arch]), sha(initScript), sha(registerScript), sha(agentScript),
      `zstd-${INITRD_ZSTD_LEVEL}`, JSON.stringify(DISCOVERY_PROGRAMS), ...programDebs.map((d) => basename(d)),
    ].join("\n"),
  );
  const info = join(stamps, `discovery-${arch}-${where}.build-info`);
  if (existsSync(vmlinuz) && existsSync(initrd) && existsSync(stamp) && readFileSync(stamp, "utf8").trim() === digest) {
    const kv = /kernel_version=(.*)/.exec(existsSync(info) ? readFileSync(info, "utf8") : "")?.[1] ?? "";
    opts.log(`discovery ${arch}: ${outDir} is current (kernel ${kv})`);
    return { arch, vmlinuz, initrd, kernelVersion: kv, bytes: statSync(vmlinuz).size + statSync(initrd).size, built: false };
  }
  const work = join(opts.cacheDir, "work", `discovery-${arch}`);
  const k = join(work, "kernel");
  const bb = join(work, "busybox");
  await unpackDeb(kernelDeb, k);
  await unpackDeb(busyboxDeb, bb);

  const boot = existsSync(join(k, "boot")) ? readdirSync(join(k, "boot")).find((f) => f.startsWith("vmlinuz-")) : undefined;
  if (!boot) throw new AssetError(`discovery ${arch}: ${kernelDeb} has no /boot/vmlinuz-*`);
  const kver = boot.slice("vmlinuz-".length);
  const modRoot = join(k, "lib", "modules", kver);
  if (!existsSync(modRoot)) throw new AssetError(`discovery ${arch}: ${kernelDeb} has no /lib/modules/${kver}`);
  const files = new Map<string, string>(); // module name -> path below modRoot
  const index = (dir: string, rel: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) index(full, `${rel}${name}/`);
      else if (/\.ko$/.test(name)) files.set(moduleName(name), `${rel}${name}`);
    }
  };
  index(join(modRoot, "kernel"), "kernel/");
  if (files.size === 0) throw new AssetError(`discovery ${arch}: no uncompressed modules under /lib/modules/${kver}/kernel in ${kernelDeb}`);
  const bytesOf = new Map<string, Uint8Array>();
  const { order, missing } = loadOrder(DISCOVERY_MODULES, (name) => {
    const rel = files.get(name);
    if (!rel) return undefined;
    const bytes = readFileSync(join(modRoot, rel));
    bytesOf.set(name, bytes);
    return parseModinfo(bytes, rel).depends.map(moduleName);
  });

  const busybox = join(bb, "bin", "busybox");
  if (!existsSync(busybox)) throw new AssetError(`discovery ${arch}: ${busyboxDeb} has no /bin/busybox`);
  const programs = await programFiles(arch, programDebs, join(work, "programs"));
  const dirs = ["bin", "sbin", "dev", "proc", "sys", "run", "tmp", "etc", "lib", "lib/modules", "usr", "usr/bin", "usr/sbin"];
  for (const f of programs) {
    const parts = f.name.split("/");
    for (let i = 1; i < parts.length; i++) if (!dirs.includes(parts.slice(0, i).join("/"))) dirs.push(parts.slice(0, i).join("/"));
  }
  const entries: CpioEntry[] = [
    ...dirs.map((name) => ({ name, type: "dir" as const })),
    { name: "bin/busybox", type: "file", data: readFileSync(busybox), mode: 0o755 },
    // The rest of the applets are linked by /init (busybox --install -s) on the machine itself.
    { name: "bin/sh", type: "symlink", target: "busybox" },
    { name: "init", type: "file", data: new TextEncoder().encode(initScript), mode: 0o755 },
    { name: "etc/socle-register", type: "file", data: new TextEncoder().encode(registerScript), mode: 0o755 },
    { name: "usr/bin/socle-agent", type: "file", data: new TextEncoder().encode(agentScript), mode: 0o755 },
    { name: "etc/udhcpc.script", type: "file", data: new TextEncoder().encode(UDHCPC_SCRIPT), mode: 0o755 },
    { name: "etc/modules.order", type: "file", data: new TextEncoder().encode(order.map((m) => `${m}.ko\n`).join("")) },
    ...order.map((m) => ({ name: `lib/modules/${m}.ko`, type: "file" as const, data: bytesOf.get(m)! })),
    ...programs,
  ];
  const image = Bun.zstdCompressSync(cpioArchive(entries), { level: INITRD_ZSTD_LEVEL });
  const kernel = readFileSync(join(k, "boot", boot));
  const kernelOut = GZIP_KERNEL[arch] ? gzipSync(kernel, { level: 9 }) : kernel;
  // A crash between the two is harmless: the stamp, written last, is what says the pair is current.
  await replaceFile(initrd, (tmp) => writeFile(tmp, image));
  await replaceFile(vmlinuz, (tmp) => writeFile(tmp, kernelOut));
  writeFileSync(
    info,
    [
      `arch=${arch}`,
      `kernel_package=${basename(kernelDeb)}`,
      `kernel_version=${kver}`,
      `kernel_bytes=${kernelOut.length}${GZIP_KERNEL[arch] ? " (gzip)" : ""}`,
      `busybox_package=${basename(busyboxDeb)}`,
      `programs=${DISCOVERY_PROGRAMS.flatMap((p) => p.paths).join(" ")}`,
      `program_files=${programs.map((f) => f.name).join(" ")}`,
      `program_bytes=${programs.reduce((n, f) => n + (f.type === "file" ? f.data.length : 0), 0)}`,
      `program_packages=${programDebs.map((d) => basename(d)).join(" ")}`,
      `initrd_bytes=${image.length} (zstd -${INITRD_ZSTD_LEVEL})`,
      `modules=${order.join(" ")}`,
      `modules_not_in_this_kernel=${missing.join(" ")}`,
    ].join("\n") + "\n",
  );
  writeFileSync(stamp, digest + "\n");
  // The unpacked kernel package is about 300 MB; the .deb stays cached for the next build.
  rmSync(work, { recursive: true, force: true });
  opts.log(`discovery ${arch}: kernel ${kver} ${kernelOut.length} bytes, initrd ${image.length} bytes (${order.length} modules) in ${outDir}`);
  return { arch, vmlinuz, initrd, kernelVersion: kver, bytes: kernelOut.length + image.length, built: true };
}

/** Every package of DISCOVERY_PROGRAMS' dependency closure, downloaded (or found in the cache). */
async function programDebsFor(opts: AptOptions, arch: DebArch): Promise<string[]> {
  const names = new Set<string>();
  for (const p of DISCOVERY_PROGRAMS) for (const n of await dependencyClosure(opts, arch, p.pkg)) names.add(n);
  const out: string[] = [];
  for (const n of [...names].sort()) out.push(await debFor(opts, arch, n));
  return out;
}

/** DISCOVERY_PROGRAMS out of `debs` (unpacked below `work`), as archive entries. */
async function programFiles(arch: DebArch, debs: readonly string[], work: string): Promise<CpioEntry[]> {
  const roots: string[] = [];
  for (const [i, deb] of debs.entries()) {
    const root = join(work, String(i));
    await unpackDeb(deb, root);
    roots.push(root);
  }
  const { files, missing } = programClosure(roots, DISCOVERY_PROGRAMS.flatMap((p) => p.paths), ELF_MACHINE[arch]);
  if (missing.length > 0) {
    throw new AssetError(`discovery ${arch}: the packages of ${DISCOVERY_PROGRAMS.map((p) => p.pkg).join(", ")} and their dependencies have no ${missing.join(", ")}`);
  }
  return files.map((f) => ("target" in f ? { name: f.path, type: "symlink", target: f.target } : { name: f.path, type: "file", data: f.data, mode: f.mode }));
}

/** busybox udhcpc's hook: configure the interface and save the lease for /init. */
const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then
      for r in $router; do ip route add default via "$r" dev "$interface" 2>/dev/null && break; done
    fi
    if [ -n "$dns" ]; then for d in $dns; do echo "nameserver $d"; done > /etc/resolv.conf; fi
    {
      echo "ip='$ip'"; echo "mask='$mask'"; echo "router='$router'"
      echo "serverid='$serverid'"; echo "siaddr='$siaddr'"; echo "dns='$dns'"
    } > /run/lease.env
    ;;
esac
exit 0
`;
