// A server without its boot assets (no apt at install time) still starts, and says once what is
// missing and the one command that supplies each, at start-up and in GET /api/v3/info. A file
// the operator supplies in <data-dir>/files counts as present at once.

import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BOOT_ASSETS } from "../src/assets/catalog.ts";
import { startTestSocle } from "./helpers/socle.ts";

test("missing loaders and discovery images: one warning each at start-up, listed in info with their fix", async () => {
  const empty = mkdtempSync(join(tmpdir(), "socle-no-assets-"));
  const s = await startTestSocle([], undefined, { assetsDir: empty });
  try {
    const info = (await s.call("GET", "/api/v3/info")).body;
    const missing = info.BootAssets.Missing as { Path: string; Fix: string; What: string }[];
    expect(missing.map((m) => m.Path).sort()).toEqual(BOOT_ASSETS.map((a) => a.path).sort());
    expect(missing.find((m) => m.Path === "undionly.kpxe")!.Fix).toContain("socle loaders import DIR");
    expect(missing.find((m) => m.Path === "discovery/arm64/initrd.img")!.Fix).toBe("socle discovery build --arch arm64");
    const warnings = s.lines.filter((l) => l.includes("WARN") || l.includes("warn"));
    expect(warnings.filter((l) => l.includes("is missing; supply it with:")).length).toBe(BOOT_ASSETS.length);
    expect(warnings.some((l) => l.includes("undionly.kpxe: iPXE for x86 BIOS PXE (UNDI) is missing; supply it with: socle loaders import DIR"))).toBe(true);

    // The operator supplies one: info stops listing it, without a restart.
    mkdirSync(join(s.dir, "files", "discovery", "arm64"), { recursive: true });
    writeFileSync(join(s.dir, "files", "discovery", "arm64", "vmlinuz"), "kernel");
    const again = (await s.call("GET", "/api/v3/info")).body.BootAssets.Missing.map((m: { Path: string }) => m.Path);
    expect(again).not.toContain("discovery/arm64/vmlinuz");
    expect(again).toContain("discovery/arm64/initrd.img");
  } finally {
    await s.stop();
    rmSync(empty, { recursive: true, force: true });
  }
});

test("with every asset present nothing is reported", async () => {
  const full = mkdtempSync(join(tmpdir(), "socle-assets-"));
  for (const a of BOOT_ASSETS) {
    mkdirSync(join(full, "boot", a.path, ".."), { recursive: true });
    writeFileSync(join(full, "boot", a.path), a.path);
  }
  const s = await startTestSocle([], undefined, { assetsDir: full });
  try {
    expect((await s.call("GET", "/api/v3/info")).body.BootAssets.Missing).toEqual([]);
    expect(s.lines.some((l) => l.includes("is missing; supply it with:"))).toBe(false);
  } finally {
    await s.stop();
    rmSync(full, { recursive: true, force: true });
  }
});
