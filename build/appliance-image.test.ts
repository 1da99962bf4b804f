// The appliance image's pure parts: its settings (socle-appliance-settings, run by a real shell
// over a socle.conf and a kernel command line), the builder's arguments, the init's syntax, and,
// when `npm run build:image` has built one, the image's layout read back from its GPT.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { APPLIANCE_IMAGE_DIR, BOOT_PARTITION, imageName, parseApplianceArgs, type ApplianceImage } from "./appliance-image.ts";
import { GPT_TYPE, LEGACY_BIOS_BOOTABLE, SECTOR } from "../src/assets/gpt.ts";

const SETTINGS = join(import.meta.dir, "appliance-image", "socle-appliance-settings");
const INIT = join(import.meta.dir, "appliance-image", "init");
/** The image runs the settings under busybox sh; dash (Debian's /bin/sh) is as strict. */
const SHELL = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p)) ?? "/bin/sh";
const shell = (...args: string[]) => (SHELL.endsWith("busybox") ? [SHELL, "sh", ...args] : [SHELL, ...args]);

const dir = mkdtempSync(join(tmpdir(), "socle-appliance-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function settings(cmdline: string, conf?: string): Promise<{ vars: Record<string, string>; exports: string[]; warnings: string[] }> {
  const c = join(dir, "cmdline");
  const f = join(dir, "socle.conf");
  writeFileSync(c, cmdline);
  rmSync(f, { force: true });
  if (conf !== undefined) writeFileSync(f, conf);
  const p = Bun.spawn(shell(SETTINGS, c, f), { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(code).toBe(0);
  const vars: Record<string, string> = {};
  const exports: string[] = [];
  for (const line of out.split("\n").filter(Boolean)) {
    if (line.startsWith("export ")) exports.push(line.slice(7));
    else {
      const m = /^(APPLIANCE_[A-Z]+)='(.*)'$/.exec(line);
      expect(m, line).not.toBeNull();
      vars[m![1]!] = m![2]!;
    }
  }
  return { vars, exports, warnings: err.split("\n").filter(Boolean) };
}

describe("socle-appliance-settings", () => {
  test("defaults without a file: DHCP on the first NIC, log to the data partition", async () => {
    const r = await settings("BOOT_IMAGE=/vmlinuz console=ttyS0,115200");
    expect(r.vars).toEqual({ APPLIANCE_IP: "dhcp", APPLIANCE_GATEWAY: "", APPLIANCE_DNS: "", APPLIANCE_INTERFACE: "", APPLIANCE_LOG: "file" });
    expect(r.exports).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  test("socle.conf as Windows writes it: comments, spaces, CRLF, quotes; SOCLE_* passed on", async () => {
    const conf = ["# static", "ip = 198.51.100.2/24", "gateway=198.51.100.254", "dns=192.0.2.53, 192.0.2.54", 'interface="eno1"', "log=console", "SOCLE_DHCP_INTERFACES=eno1", "SOCLE_ADMIN_PASSWORD=it's long enough", ""].join("\r\n");
    const r = await settings("quiet", conf);
    expect(r.warnings).toEqual([]);
    expect(r.vars).toEqual({ APPLIANCE_IP: "198.51.100.2/24", APPLIANCE_GATEWAY: "198.51.100.254", APPLIANCE_DNS: "192.0.2.53 192.0.2.54", APPLIANCE_INTERFACE: "eno1", APPLIANCE_LOG: "console" });
    expect(r.exports).toEqual(["SOCLE_DHCP_INTERFACES='eno1'", "SOCLE_ADMIN_PASSWORD='it'\\''s long enough'"]);
    // What /init does with it: the quoting survives a shell.
    const p = Bun.spawn(shell("-c", `export ${r.exports[1]}; printf %s "$SOCLE_ADMIN_PASSWORD"`), { stdout: "pipe" });
    expect(await new Response(p.stdout).text()).toBe("it's long enough");
  });

  test("the kernel command line wins over the file", async () => {
    const r = await settings("ro socle.ip=203.0.113.5/24 socle.SOCLE_DISABLE_DHCP=true socle.log=file", "ip=198.51.100.2/24\nlog=console\nSOCLE_DISABLE_DHCP=false\n");
    expect(r.vars.APPLIANCE_IP).toBe("203.0.113.5/24");
    expect(r.vars.APPLIANCE_LOG).toBe("file");
    // Both lines; /init evaluates them in order, so the command line's is the one that holds.
    expect(r.exports).toEqual(["SOCLE_DISABLE_DHCP='false'", "SOCLE_DISABLE_DHCP='true'"]);
  });

  test("invalid values are named with where they came from and ignored; the default stays", async () => {
    const r = await settings("socle.ip=300.1.1.1/24 socle.interface=a/b socle.*=x", "ip=198.51.100.2\ngateway=198.51.100\ndns=192.0.2.1,nope\nlog=syslog\nSOCLE_bad=1\nfoo=bar\njust words\n");
    expect(r.vars).toEqual({ APPLIANCE_IP: "dhcp", APPLIANCE_GATEWAY: "", APPLIANCE_DNS: "192.0.2.1", APPLIANCE_INTERFACE: "", APPLIANCE_LOG: "file" });
    expect(r.exports).toEqual([]);
    expect(r.warnings).toEqual([
      'socle-appliance: socle.conf line 1: ip "198.51.100.2" is neither dhcp nor ADDRESS/PREFIX (such as 198.51.100.2/24): ignored',
      'socle-appliance: socle.conf line 2: gateway "198.51.100" is not an IPv4 address: ignored',
      'socle-appliance: socle.conf line 3: dns "nope" is not an IPv4 address: ignored',
      'socle-appliance: socle.conf line 4: log "syslog" is neither file nor console: ignored',
      'socle-appliance: socle.conf line 5: "SOCLE_bad" is not a SOCLE_* variable name: ignored',
      'socle-appliance: socle.conf line 6: unknown setting "foo" (known: ip, gateway, dns, interface, log, SOCLE_*): ignored',
      'socle-appliance: socle.conf line 7: "just words" is not KEY=VALUE: ignored',
      'socle-appliance: kernel command line socle.ip: ip "300.1.1.1/24" is neither dhcp nor ADDRESS/PREFIX (such as 198.51.100.2/24): ignored',
      'socle-appliance: kernel command line socle.interface: interface "a/b" is not an interface name: ignored',
      'socle-appliance: kernel command line socle.*: unknown setting "*" (known: ip, gateway, dns, interface, log, SOCLE_*): ignored',
    ]);
  });

  test("addresses: octets above 255, empty octets, prefixes above 32 are refused", async () => {
    for (const bad of ["256.0.0.1/24", "1..2.3/24", "1.2.3.4/33", "1.2.3.4/", "1.2.3.4.5/24", "01234.1.1.1/8"]) {
      const r = await settings(`socle.ip=${bad}`);
      expect(r.vars.APPLIANCE_IP, bad).toBe("dhcp");
    }
    for (const good of ["0.0.0.0/0", "255.255.255.255/32", "10.0.0.1/8"]) expect((await settings(`socle.ip=${good}`)).vars.APPLIANCE_IP).toBe(good);
  });
});

test("the init parses (sh -n)", async () => {
  const p = Bun.spawn(shell("-n", INIT), { stdout: "pipe", stderr: "pipe" });
  expect([await p.exited, await new Response(p.stderr).text()]).toEqual([0, ""]);
});

test("parseApplianceArgs: --out, --socle, --arch amd64 only", () => {
  expect(parseApplianceArgs([])).toEqual({ out: APPLIANCE_IMAGE_DIR, arch: "amd64" });
  expect(parseApplianceArgs(["--out", "/tmp/x", "--socle=/tmp/s", "--arch", "amd64"])).toEqual({ out: "/tmp/x", arch: "amd64", socle: "/tmp/s" });
  expect(() => parseApplianceArgs(["--arch", "arm64"])).toThrow('appliance-image: --arch "arm64": only amd64 is built');
  expect(() => parseApplianceArgs(["--out"])).toThrow("appliance-image: --out: missing value");
  expect(() => parseApplianceArgs(["--zip"])).toThrow('appliance-image: unknown argument "--zip"');
});

/** The partitions of a GPT disk image, read from its primary header and entries (CRCs checked). */
function readGpt(disk: Uint8Array): { lastLba: number; backupLba: number; parts: { name: string; type: string; first: number; last: number; attributes: bigint }[] } {
  const h = new DataView(disk.buffer, disk.byteOffset + SECTOR, 92);
  if (new TextDecoder().decode(disk.subarray(SECTOR, SECTOR + 8)) !== "EFI PART") throw new Error("no GPT header at LBA 1");
  const hdr = new Uint8Array(disk.subarray(SECTOR, SECTOR + 92)); // a copy (Buffer.slice would be a view)
  new DataView(hdr.buffer).setUint32(16, 0, true);
  if (crc32(hdr) !== h.getUint32(16, true)) throw new Error("GPT header CRC mismatch");
  const entriesLba = Number(h.getBigUint64(72, true));
  const count = h.getUint32(80, true);
  const size = h.getUint32(84, true);
  const entries = disk.subarray(entriesLba * SECTOR, entriesLba * SECTOR + count * size);
  if (crc32(entries) !== h.getUint32(88, true)) throw new Error("GPT entries CRC mismatch");
  const guid = (b: Uint8Array) => {
    const x = Buffer.from(b).toString("hex");
    const le = (s: string) => s.match(/../g)!.reverse().join("");
    return `${le(x.slice(0, 8))}-${le(x.slice(8, 12))}-${le(x.slice(12, 16))}-${x.slice(16, 20)}-${x.slice(20)}`.toUpperCase();
  };
  const parts = [];
  for (let i = 0; i < count; i++) {
    const e = entries.subarray(i * size, (i + 1) * size);
    if (e.subarray(0, 16).every((b) => b === 0)) continue;
    const v = new DataView(e.buffer, e.byteOffset, size);
    const name = Buffer.from(e.subarray(56, 128)).toString("utf16le").replace(/\0.*$/, "");
    parts.push({ name, type: guid(e.subarray(0, 16)), first: Number(v.getBigUint64(32, true)), last: Number(v.getBigUint64(40, true)), attributes: v.getBigUint64(48, true) });
  }
  return { lastLba: disk.length / SECTOR - 1, backupLba: Number(h.getBigUint64(32, true)), parts };
}

const manifestFile = join(APPLIANCE_IMAGE_DIR, "socle-appliance-amd64.json");
test.skipIf(!existsSync(manifestFile))("the built image: one partition, socle-boot (ESP, BIOS-bootable) at 1 MiB; the backup GPT at the end; no data partition yet", () => {
  const m = JSON.parse(readFileSync(manifestFile, "utf8")) as ApplianceImage;
  const disk = readFileSync(join(APPLIANCE_IMAGE_DIR, imageName("amd64")));
  expect(disk.length).toBe(m.raw.bytes);
  expect([disk[510], disk[511], disk[446 + 4]]).toEqual([0x55, 0xaa, 0xee]);
  const gpt = readGpt(disk);
  expect(gpt.backupLba).toBe(gpt.lastLba);
  expect(gpt.parts.length).toBe(1);
  const [boot] = gpt.parts;
  expect(boot!.name).toBe(BOOT_PARTITION);
  expect(boot!.type).toBe(GPT_TYPE.efiSystem.toUpperCase());
  expect(boot!.attributes & LEGACY_BIOS_BOOTABLE).toBe(LEGACY_BIOS_BOOTABLE);
  expect(boot!.first).toBe(2048);
  expect(m.boot).toEqual({ partition: 1, name: BOOT_PARTITION, offset: boot!.first * SECTOR, bytes: (boot!.last - boot!.first + 1) * SECTOR });
  // FAT boot sector of the partition (SYSLINUX installed it): the signature and the hidden sectors.
  const fat = disk.subarray(m.boot.offset, m.boot.offset + SECTOR);
  expect([fat[510], fat[511]]).toEqual([0x55, 0xaa]);
  expect(new DataView(fat.buffer, fat.byteOffset).getUint32(28, true)).toBe(boot!.first);
  expect(m.modules).toContain("ext4");
  expect(m.modules).toContain("vfat");
  expect(m.modules).toContain("usb_storage");
});
