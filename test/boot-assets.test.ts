// A server without its boot assets (no apt at install time) still starts, and says once what is
// missing and the one command that supplies each, at start-up and in GET /api/v3/info. A file
// the operator supplies in <data-dir>/files counts as present at once.

import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BOOT_ASSETS } from "../src/assets/catalog.ts";
import { startTestSocle } from "./helpers/socle.ts";
import { createLogger } from "../src/log/logger.ts";
import { reportMissingAssets } from "../src/main.ts";
import type { FileSource } from "../src/files/file-source.ts";

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
    const assets = (await s.call("GET", "/api/v3/info")).body.BootAssets;
    const again = assets.Missing.map((m: { Path: string }) => m.Path);
    expect(again).not.toContain("discovery/arm64/vmlinuz");
    expect(again).toContain("discovery/arm64/initrd.img");
    expect(assets.Present).toEqual([{ Path: "discovery/arm64/vmlinuz", Arch: "arm64", What: expect.any(String) }]);
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
    const assets = (await s.call("GET", "/api/v3/info")).body.BootAssets;
    expect(assets.Missing).toEqual([]);
    expect(assets.Present.map((a: { Path: string }) => a.Path).sort()).toEqual(BOOT_ASSETS.map((a) => a.path).sort());
    expect(s.lines.some((l) => l.includes("is missing; supply it with:"))).toBe(false);
  } finally {
    await s.stop();
    rmSync(full, { recursive: true, force: true });
  }
});

test("a client asking for a missing boot asset gets a warning with the fix, once a minute per path; other misses stay quiet", async () => {
  const lines: string[] = [];
  const log = createLogger({ level: "debug", sink: (l) => void lines.push(l) });
  const empty: FileSource = { get: async () => undefined };
  const src = reportMissingAssets(empty, log);
  const tftp = { protocol: "tftp" as const, remoteAddress: "198.51.100.7", serverAddress: "198.51.100.1" };
  expect(await src.get("undionly.kpxe", tftp)).toBeUndefined();
  expect(await src.get("/undionly.kpxe", { ...tftp, protocol: "http" })).toBeUndefined();
  expect(await src.get("grub/arm64-efi/command.lst", tftp)).toBeUndefined();
  expect(lines.length).toBe(1);
  expect(lines[0]).toContain("TFTP request for a missing boot file: undionly.kpxe: iPXE for x86 BIOS PXE (UNDI) is missing; supply it with: socle loaders import DIR");
  await src.get("discovery/arm64/vmlinuz", { ...tftp, protocol: "http" });
  expect(lines.length).toBe(2);
  expect(lines[1]).toContain("HTTP request for a missing boot file: discovery/arm64/vmlinuz");
  expect(lines[1]).toContain("socle discovery build --arch arm64");
});
