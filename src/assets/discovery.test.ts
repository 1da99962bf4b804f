// The discovery image build over hand-made .deb files (dpkg-deb -b): what the initramfs holds and
// in which order modules load, curl with the libraries it loads, the arm64 kernel gzip'd, the
// cache stamp, and the errors.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { buildDiscoveryImage } from "./discovery.ts";
import { EM_AARCH64 } from "./elf.ts";
import { fakeElf } from "./elf-fixture.ts";

const HAVE = Bun.which("dpkg-deb") !== null;
let dir = "";

/** A minimal ELF64 module whose .modinfo says depends=<deps>. */
function module(deps: string[]): Uint8Array {
  const enc = new TextEncoder();
  const shstr = enc.encode("\0.shstrtab\0.modinfo\0");
  const info = enc.encode(`license=GPL\0depends=${deps.join(",")}\0`);
  const infoOff = 64 + shstr.length;
  const shoff = (infoOff + info.length + 7) & ~7;
  const out = new Uint8Array(shoff + 3 * 64);
  const dv = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  dv.setBigUint64(0x28, BigInt(shoff), true);
  dv.setUint16(0x3a, 64, true);
  dv.setUint16(0x3c, 3, true);
  dv.setUint16(0x3e, 1, true);
  out.set(shstr, 64);
  out.set(info, infoOff);
  for (const [i, name, off, size] of [[1, 1, 64, shstr.length], [2, 11, infoOff, info.length]]) {
    dv.setUint32(shoff + i! * 64, name!, true);
    dv.setBigUint64(shoff + i! * 64 + 0x18, BigInt(off!), true);
    dv.setBigUint64(shoff + i! * 64 + 0x20, BigInt(size!), true);
  }
  return out;
}

async function deb(name: string, files: Record<string, Uint8Array | string>): Promise<string> {
  const root = join(dir, `${name}-tree`);
  mkdirSync(join(root, "DEBIAN"), { recursive: true });
  writeFileSync(join(root, "DEBIAN", "control"), `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: test <t@example.org>\nDescription: test\n`);
  for (const [path, data] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), data);
  }
  const out = join(dir, `${name}_1.0_all.deb`);
  const p = Bun.spawn(["dpkg-deb", "--root-owner-group", "-b", root, out], { stdout: "ignore", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(await new Response(p.stderr).text());
  return out;
}

/** Names in a newc archive, in order (the format is ours: cpio.ts). */
function names(zst: Uint8Array): string[] {
  const a = Bun.zstdDecompressSync(zst);
  const out: string[] = [];
  let off = 0;
  const text = new TextDecoder();
  while (off + 110 <= a.length) {
    const h = text.decode(a.subarray(off, off + 110));
    const size = parseInt(h.slice(54, 62), 16);
    const nlen = parseInt(h.slice(94, 102), 16);
    const name = text.decode(a.subarray(off + 110, off + 110 + nlen - 1));
    if (name === "TRAILER!!!") break;
    out.push(name);
    off += 110 + nlen;
    off += (4 - (off % 4)) % 4;
    off += size + ((4 - (size % 4)) % 4);
  }
  return out;
}

describe.skipIf(!HAVE)("discovery image from .deb files", () => {
  let kernel = "";
  let busybox = "";
  let programDebs: string[] = [];
  let arm64Debs: string[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "socle-discovery-"));
    const m = "lib/modules/6.1.0-test/kernel";
    kernel = await deb("linux-image-test", {
      "boot/vmlinuz-6.1.0-test": "KERNEL".repeat(1000),
      [`${m}/drivers/net/virtio_net.ko`]: module(["net_failover", "virtio"]),
      [`${m}/drivers/net/net_failover.ko`]: module(["failover"]),
      [`${m}/net/core/failover.ko`]: module([]),
      [`${m}/drivers/virtio/virtio.ko`]: module([]),
      [`${m}/drivers/nvme/host/nvme.ko`]: module(["nvme-core"]),
      [`${m}/drivers/nvme/host/nvme-core.ko`]: module([]),
    });
    busybox = await deb("busybox-static", { "bin/busybox": "BUSYBOX" });
    const T = "x86_64-linux-gnu";
    programDebs = [
      await deb("curl", { "usr/bin/curl": fakeElf({ interp: "/lib64/ld-linux-x86-64.so.2", needed: ["libcurl.so.4", "libc.so.6"] }), "usr/share/man/man1/curl.1.gz": "man" }),
      await deb("libcurl4", { [`usr/lib/${T}/libcurl.so.4`]: fakeElf({ soname: "libcurl.so.4", needed: ["libc.so.6"] }) }),
      await deb("libc6", { [`lib/${T}/libc.so.6`]: fakeElf({ soname: "libc.so.6" }), "lib64/ld-linux-x86-64.so.2": fakeElf({ soname: "ld-linux-x86-64.so.2" }), [`lib/${T}/libm.so.6`]: fakeElf({}) }),
    ];
    const arm = (f: Parameters<typeof fakeElf>[0]) => fakeElf({ ...f, machine: EM_AARCH64 });
    arm64Debs = [
      await deb("curl-arm64", { "usr/bin/curl": arm({ interp: "/lib/ld-linux-aarch64.so.1", needed: ["libc.so.6"] }) }),
      await deb("libc6-arm64", { "lib/aarch64-linux-gnu/libc.so.6": arm({ soname: "libc.so.6" }), "lib/ld-linux-aarch64.so.1": arm({}) }),
    ];
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const opts = (arch: "amd64" | "arm64", out: string) => ({ arch, outDir: join(dir, out), cacheDir: join(dir, "cache"), kernelDeb: kernel, busyboxDeb: busybox, programDebs: arch === "arm64" ? arm64Debs : programDebs, log: () => {} });

  test("the initramfs: busybox, /init, the registration script, the agent, modules after their dependencies (dash names too)", async () => {
    const img = await buildDiscoveryImage(opts("amd64", "amd64"));
    expect(img.built).toBe(true);
    expect(img.kernelVersion).toBe("6.1.0-test");
    expect(readFileSync(img.vmlinuz, "utf8")).toBe("KERNEL".repeat(1000));
    const list = names(readFileSync(img.initrd));
    for (const n of ["bin/busybox", "bin/sh", "init", "etc/socle-register", "usr/bin/socle-agent", "etc/udhcpc.script", "etc/modules.order"]) expect(list).toContain(n);
    const order = ["failover", "net_failover", "virtio", "virtio_net", "nvme_core", "nvme"];
    expect(Buffer.from(Bun.zstdDecompressSync(readFileSync(img.initrd))).toString("latin1")).toContain(order.map((m) => `${m}.ko\n`).join(""));
    expect(list.filter((n) => n.startsWith("lib/modules/"))).toEqual(order.map((m) => `lib/modules/${m}.ko`));
  });

  test("curl, its loader and the libraries it loads (nothing else of their packages), below directories that come first", async () => {
    const list = names(readFileSync((await buildDiscoveryImage(opts("amd64", "amd64"))).initrd));
    const T = "x86_64-linux-gnu";
    for (const n of ["usr/bin/curl", "lib64/ld-linux-x86-64.so.2", `usr/lib/${T}/libcurl.so.4`, `lib/${T}/libc.so.6`]) expect(list).toContain(n);
    for (const n of list) {
      const parent = n.split("/").slice(0, -1).join("/");
      if (parent) expect(list.indexOf(parent)).toBeLessThan(list.indexOf(n));
    }
    expect(list.join(" ")).not.toMatch(/libm|man1|share/);
  });

  test("the stamp follows the package list: another package set is another build", async () => {
    const first = await buildDiscoveryImage(opts("amd64", "programs"));
    expect(first.built).toBe(true);
    const extra = await deb("libextra", { "usr/lib/x86_64-linux-gnu/libextra.so.1": fakeElf({}) });
    const again = await buildDiscoveryImage({ ...opts("amd64", "programs"), programDebs: [...programDebs, extra] });
    expect(again.built).toBe(true);
  });

  test("a library that no package has is an error naming it and who needs it", async () => {
    await expect(buildDiscoveryImage({ ...opts("amd64", "nolib"), programDebs: programDebs.slice(0, 2) })).rejects.toThrow(/have no .*libc\.so\.6 \(needed by usr\/bin\/curl\)/);
  });

  test("arm64: the kernel is gzip'd; a second build with the same inputs does nothing", async () => {
    const img = await buildDiscoveryImage(opts("arm64", "arm64"));
    expect(gunzipSync(readFileSync(img.vmlinuz)).toString()).toBe("KERNEL".repeat(1000));
    const again = await buildDiscoveryImage(opts("arm64", "arm64"));
    expect(again.built).toBe(false);
  });

  test("the cache is shared, the stamp is not: a second output directory gets its own build", async () => {
    await buildDiscoveryImage(opts("amd64", "first"));
    const other = await buildDiscoveryImage(opts("amd64", "second"));
    expect(other.built).toBe(true);
    expect(Buffer.compare(readFileSync(join(dir, "second", "initrd.img")), readFileSync(join(dir, "first", "initrd.img")))).toBe(0);
  });

  test("a kernel package without a kernel is an error naming the package", async () => {
    const empty = await deb("linux-image-empty", { "usr/share/doc/x": "x" });
    await expect(buildDiscoveryImage({ ...opts("amd64", "bad"), kernelDeb: empty })).rejects.toThrow(/linux-image-empty_1\.0_all\.deb has no \/boot\/vmlinuz-\*/);
  });
});
