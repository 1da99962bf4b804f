// socle-image-config under real busybox (the applets the image has) over a fake /sys and /dev:
// the config blob configBlob writes comes back as /etc/socle/agent.env and ca.pem; values a
// shell must not see are left out, secrets are not printed, and an empty or absent area says so.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONFIG_AREA, configBlob } from "./config-area.ts";

const SCRIPT = join(import.meta.dir, "socle-image-config");
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
const APPLETS = ["sh", "grep", "sed", "sleep", "mkdir", "dd", "tr", "mv", "chmod", "rm", "wc"];
const CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";

let dir = "";
let bin = "";

/** A root whose /sys lists `parts` (name -> PARTNAME) and whose /dev holds their bytes. */
function fakeRoot(parts: Record<string, { label: string; bytes: Uint8Array }>): string {
  const r = mkdtempSync(join(dir, "root-"));
  mkdirSync(join(r, "dev"));
  mkdirSync(join(r, "sys", "class", "block", "vda"), { recursive: true });
  writeFileSync(join(r, "sys", "class", "block", "vda", "uevent"), "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n");
  for (const [name, p] of Object.entries(parts)) {
    mkdirSync(join(r, "sys", "class", "block", name), { recursive: true });
    writeFileSync(join(r, "sys", "class", "block", name, "uevent"), `MAJOR=254\nMINOR=2\nDEVNAME=${name}\nDEVTYPE=partition\nPARTN=2\nPARTNAME=${p.label}\n`);
    writeFileSync(join(r, "dev", name), p.bytes);
  }
  return r;
}

async function run(root: string): Promise<{ code: number; out: string }> {
  const p = Bun.spawn([join(bin, "sh"), SCRIPT], { env: { PATH: bin, SOCLE_ROOT: root, SOCLE_CONFIG_WAIT: "0" }, stdout: "pipe", stderr: "pipe" });
  const [o, e, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out: o + e };
}

describe.skipIf(!BUSYBOX)("socle-image-config (busybox)", () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "socle-image-config-"));
    bin = join(dir, "bin");
    mkdirSync(bin);
    for (const a of APPLETS) symlinkSync(BUSYBOX as string, join(bin, a));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("the blob comes back as agent.env (mode 600) and ca.pem; the token is not printed", async () => {
    const values = { RS_ENDPOINT: "https://198.51.100.1:8092", RS_UUID: "6f2c8a1e-0b1d-4c7e-9a53-5e2f0d4b8c01", RS_TOKEN: "a.b-c_d~e+f/g=", RS_BOOTENV: "local" };
    const root = fakeRoot({ vda2: { label: CONFIG_AREA.name, bytes: configBlob(values, CA) } });
    const r = await run(root);
    expect(r.code).toBe(0);
    expect(readFileSync(join(root, "etc/socle/agent.env"), "utf8")).toBe(Object.entries(values).map(([k, v]) => `${k}=${v}\n`).join(""));
    expect(statSync(join(root, "etc/socle/agent.env")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(root, "etc/socle/ca.pem"), "utf8")).toBe(CA);
    expect(r.out).toContain("socle-image: config RS_UUID=6f2c8a1e-0b1d-4c7e-9a53-5e2f0d4b8c01\n");
    expect(r.out).toContain("socle-image: config RS_TOKEN=(14 characters)\n");
    expect(r.out).toContain(`socle-image: config ca.pem ${CA.length} bytes, 1 certificate(s)\n`);
    expect(r.out).toContain("socle-image: config from /dev/vda2: 4 keys in /etc/socle/agent.env\n");
    expect(r.out).not.toContain("a.b-c_d");
  });

  test("a hand-written area: CRLF lines, comments, a value with shell characters and a bad key are left out, saying so", async () => {
    const text = "# written by hand\r\nRS_UUID=u-1\r\nRS_ENDPOINT=https://x/$(reboot)\r\nlower=1\r\nnot a setting\r\nRS_BOOTENV=local\r\n";
    const bytes = new Uint8Array(CONFIG_AREA.bytes);
    bytes.set(new TextEncoder().encode(text));
    const root = fakeRoot({ sdb2: { label: CONFIG_AREA.name, bytes } });
    const r = await run(root);
    expect(r.code).toBe(0);
    expect(readFileSync(join(root, "etc/socle/agent.env"), "utf8")).toBe("RS_UUID=u-1\nRS_BOOTENV=local\n");
    expect(r.out).toContain("config: RS_ENDPOINT left out: its value has characters outside");
    expect(r.out).toContain("config: ignored a line whose key is not [A-Z_][A-Z0-9_]*");
    expect(r.out).toContain("config: ignored a line that is not KEY=value");
    expect(r.out).toContain("config: no CA after -----CA-----");
    expect(existsSync(join(root, "etc/socle/ca.pem"))).toBe(false);
  });

  test("the partition is found by its name; with several, the first is used and the others named", async () => {
    const root = fakeRoot({
      vdb1: { label: "something-else", bytes: configBlob({ RS_UUID: "wrong" }) },
      vdb2: { label: CONFIG_AREA.name, bytes: configBlob({ RS_UUID: "first" }) },
      vdc2: { label: CONFIG_AREA.name, bytes: configBlob({ RS_UUID: "second" }) },
    });
    const r = await run(root);
    expect(r.code).toBe(0);
    expect(r.out).toContain("several partitions named socle-config (vdc2): using /dev/vdb2");
    expect(readFileSync(join(root, "etc/socle/agent.env"), "utf8")).toBe("RS_UUID=first\n");
  });

  test("an all-zero area exits 2 and writes nothing; no such partition exits 1", async () => {
    const empty = fakeRoot({ vda2: { label: CONFIG_AREA.name, bytes: new Uint8Array(CONFIG_AREA.bytes) } });
    const r = await run(empty);
    expect(r.code).toBe(2);
    expect(r.out).toContain("config area /dev/vda2 is empty or holds no KEY=value line");
    expect(existsSync(join(empty, "etc/socle/agent.env"))).toBe(false);
    const none = await run(fakeRoot({}));
    expect(none.code).toBe(1);
    expect(none.out).toContain("no partition named socle-config on any disk: no config");
  });
});

describe("configBlob", () => {
  test("KEY=value lines, the CA after its marker, NUL padding to 1 MiB", () => {
    const b = configBlob({ RS_UUID: "u", RS_BOOTENV: "local" }, CA);
    expect(b.length).toBe(1024 * 1024);
    const text = new TextDecoder().decode(b).replace(/\0+$/, "");
    expect(text).toBe(`RS_UUID=u\nRS_BOOTENV=local\n-----CA-----\n${CA}`);
  });

  test("refuses what the reader would leave out, naming it", () => {
    expect(() => configBlob({ rs_uuid: "u" })).toThrow('config area: key "rs_uuid" is not [A-Z_][A-Z0-9_]*');
    expect(() => configBlob({ RS_UUID: "a b" })).toThrow('config area: RS_UUID: value "a b" has characters outside');
    expect(() => configBlob({}, "x".repeat(1024 * 1024))).toThrow(/do not fit its 1048576/);
  });
});
