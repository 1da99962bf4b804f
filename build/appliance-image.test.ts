// The appliance image's pure parts: its settings (socle-appliance-settings, run by a real shell
// over a socle.conf and a kernel command line), the builder's arguments and the init's syntax. The
// built image's layout is checked where it is built, in test/e2e/appliance.test.ts.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { APPLIANCE_IMAGE_DIR, parseApplianceArgs } from "./appliance-image.ts";

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
