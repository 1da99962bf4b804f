// The discovery image build with a stand-in for the lab's build-initramfs.sh (writes a fake
// kernel and base initrd): overlay contents, concatenation, the cache stamp, and errors.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { EXTRA_APPLETS, buildDiscovery, buildOverlay } from "./build.ts";

const HAVE_CPIO = Bun.which("cpio") !== null;
let dir = "";

/** Names and modes in a newc cpio archive, via cpio -tv. */
async function listing(gz: Uint8Array): Promise<string> {
  const p = Bun.spawn(["cpio", "-tv", "--quiet"], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  p.stdin.write(gunzipSync(gz));
  await p.stdin.end();
  const out = await new Response(p.stdout).text();
  await p.exited;
  return out;
}

function fakeLab(name: string, marker: string): string {
  const lab = join(dir, name);
  mkdirSync(lab, { recursive: true });
  const script = join(lab, "build-initramfs.sh");
  writeFileSync(
    script,
    `#!/bin/bash\nset -e\nmkdir -p "$1"\necho ${marker}-kernel > "$1/vmlinuz"\necho 6.1.0-test > "$1/kernel.version"\n` +
      `printf 'BASE' | gzip -n > "$1/initrd.img"\necho run >> "${lab}/runs"\n`,
  );
  chmodSync(script, 0o755);
  return lab;
}

describe.skipIf(!HAVE_CPIO)("discovery image build", () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "socle-discovery-test-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("the overlay holds /init, /etc/socle-register (executable) and the extra applets as links to busybox", async () => {
    const list = await listing(await buildOverlay());
    expect(list).toMatch(/^-rwxr-xr-x .* init$/m);
    expect(list).toMatch(/^-rwxr-xr-x .* etc\/socle-register$/m);
    for (const a of EXTRA_APPLETS) expect(list).toMatch(new RegExp(`^l.* bin/${a} -> busybox$`, "m"));
    expect(list).toMatch(/^drwx.* root +root .* etc$/m);
  });

  test("the initrd is the base archive followed by the overlay; a second build is a cache hit", async () => {
    const lab = fakeLab("lab1", "k1");
    const out = join(dir, "out1");
    const img = await buildDiscovery({ outDir: out, labDir: lab, log: () => {} });
    expect(img.built).toBe(true);
    expect(img.kernelVersion).toBe("6.1.0-test");
    expect(readFileSync(img.vmlinuz, "utf8")).toBe("k1-kernel\n");
    const initrd = readFileSync(img.initrd);
    const base = gzipSync(Buffer.from("BASE"));
    // gzip members concatenate: gunzip of the whole yields base bytes then the overlay cpio.
    const all = gunzipSync(initrd);
    expect(all.subarray(0, 4).toString()).toBe("BASE");
    expect(all.subarray(4, 10).toString()).toBe("070701"); // newc magic of the overlay
    expect(initrd.length).toBeGreaterThan(base.length);
    const again = await buildDiscovery({ outDir: out, labDir: lab, log: () => {} });
    expect(again.built).toBe(false);
    expect(readFileSync(join(lab, "runs"), "utf8").trim().split("\n").length).toBe(1);
    expect(readFileSync(join(out, "BUILD-INFO"), "utf8")).toContain("overlay_files=/init /etc/socle-register");
  });

  test("a changed base builder is rebuilt", async () => {
    const out = join(dir, "out2");
    await buildDiscovery({ outDir: out, labDir: fakeLab("lab2", "k1"), log: () => {} });
    const img = await buildDiscovery({ outDir: out, labDir: fakeLab("lab2", "k2"), log: () => {} });
    expect(img.built).toBe(true);
    expect(readFileSync(img.vmlinuz, "utf8")).toBe("k2-kernel\n");
  });

  test("errors name the missing lab and a failing base build", async () => {
    await expect(buildDiscovery({ outDir: join(dir, "out3"), labDir: join(dir, "nolab"), log: () => {} })).rejects.toThrow("build-initramfs.sh\" not found");
    const lab = join(dir, "badlab");
    mkdirSync(lab);
    writeFileSync(join(lab, "build-initramfs.sh"), "#!/bin/bash\necho 'no kernel for you' >&2\nexit 3\n");
    await expect(buildDiscovery({ outDir: join(dir, "out4"), labDir: lab, log: () => {} })).rejects.toThrow(/exit code 3: no kernel for you/);
  });
});
