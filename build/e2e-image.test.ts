// build/e2e-image.ts without building: its arguments, and what the loaders on the ESP are told.
// The build itself, and both firmwares booting it, are test/e2e-image.test.ts.

import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { E2E_IMAGE_DIR, parseE2eImageArgs } from "./e2e-image.ts";
import { espFiles } from "./e2e-image/esp.ts";

test("arguments: --out, default .cache/e2e-image; anything else is refused with the usage", () => {
  expect(parseE2eImageArgs([])).toEqual({ out: E2E_IMAGE_DIR });
  expect(E2E_IMAGE_DIR).toMatch(/\/\.cache\/e2e-image$/);
  expect(parseE2eImageArgs(["--out", "x/y"])).toEqual({ out: resolve("x/y") });
  expect(parseE2eImageArgs(["--out=/tmp/z"])).toEqual({ out: "/tmp/z" });
  expect(() => parseE2eImageArgs(["--arch", "arm64"])).toThrow(/unknown argument "--arch"\nusage: bun build\/e2e-image\.ts/);
  expect(() => parseE2eImageArgs(["--out"])).toThrow("--out: missing value");
});

test("both loaders boot the same kernel, initrd and command line; systemd-boot at the removable-media path", () => {
  const tools = { mtools: "/m", syslinux: "/s", systemdBoot: "/sd" };
  const files = espFiles({ kernel: "/k/vmlinuz", initrd: "/k/initrd.img", cmdline: "console=ttyS0,115200 panic=10", startLba: 2048, serial: "0badcafe" }, tools);
  const text = (p: string) => new TextDecoder().decode(files[p] as Uint8Array);
  expect(files["/vmlinuz"]).toBe("/k/vmlinuz");
  expect(files["/initrd.img"]).toBe("/k/initrd.img");
  expect(files["/EFI/BOOT/BOOTX64.EFI"]).toBe("/sd/usr/lib/systemd/boot/efi/systemd-bootx64.efi");
  expect(text("/syslinux.cfg")).toContain("  LINUX /vmlinuz\n  INITRD /initrd.img\n  APPEND console=ttyS0,115200 panic=10\n");
  expect(text("/syslinux.cfg")).toMatch(/^SERIAL 0 115200\n/);
  expect(text("/loader/loader.conf")).toContain("default socle.conf\ntimeout 0\n");
  expect(text("/loader/entries/socle.conf")).toContain("linux /vmlinuz\ninitrd /initrd.img\noptions console=ttyS0,115200 panic=10\n");
});
