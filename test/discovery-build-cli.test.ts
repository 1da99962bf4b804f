// `socle discovery build`, the fix the server names for a missing discovery image, run for real:
// from the packages `npm install` already cached (no download), into a data directory, where a
// server with no embedded assets then finds the image. Byte-identical to the image npm install
// built from the same packages (the initramfs is written deterministically: cpio.ts, mtime 0).

import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startTestSocle } from "./helpers/socle.ts";

const ROOT = resolve(import.meta.dir, "..");
const CACHE = join(ROOT, ".cache", "assets");
const BUILT = join(ROOT, "assets", "boot", "discovery", "amd64");
const debs = existsSync(join(CACHE, "debs", "amd64")) ? readdirSync(join(CACHE, "debs", "amd64")) : [];
const why =
  !debs.some((f) => f.startsWith("linux-image-")) || !debs.some((f) => f.startsWith("busybox-static_")) ? "npm install cached no Debian packages here (no apt)"
  : !existsSync(join(BUILT, "initrd.img")) ? "assets/boot has no amd64 discovery image to compare with"
  : Bun.which("dpkg-deb") === null ? "needs dpkg-deb"
  : undefined;
if (why) console.log(`skip discovery-build-cli.test.ts: ${why}`);

const dir = mkdtempSync(join(tmpdir(), "socle-discovery-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.skipIf(why !== undefined)("socle discovery build --arch amd64 writes the image into <data-dir>/files, and the server then has it", async () => {
  const data = join(dir, "data");
  const p = Bun.spawn([process.execPath, join(ROOT, "src/main.ts"), "discovery", "build", "--arch", "amd64", "--data-dir", data, "--cache", CACHE], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, SOCLE_ENDPOINT: "https://127.0.0.1:1" },
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(code, err).toBe(0);
  expect(out).toMatch(/^discovery amd64: .*vmlinuz and .*initrd\.img \(\d+\.\d MB, kernel 6\./m);
  for (const f of ["vmlinuz", "initrd.img"]) {
    expect(Buffer.compare(readFileSync(join(data, "files", "discovery", "amd64", f)), readFileSync(join(BUILT, f)))).toBe(0);
  }
  // A server whose binary embeds nothing finds the image in its data dir: amd64 discovery is not missing.
  const empty = mkdtempSync(join(dir, "no-assets-"));
  const s = await startTestSocle([], data, { assetsDir: empty });
  try {
    const missing = (await s.call("GET", "/api/v3/info")).body.BootAssets.Missing.map((m: { Path: string }) => m.Path);
    expect(missing).not.toContain("discovery/amd64/vmlinuz");
    expect(missing).not.toContain("discovery/amd64/initrd.img");
    expect(missing).toContain("discovery/arm64/vmlinuz");
  } finally {
    await s.stop({ keep: true });
  }
}, 180_000);
