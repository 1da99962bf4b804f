import { expect, test } from "bun:test";
import { normalisePath } from "./paths.ts";

test("backslashes, leading slashes, empty and dot segments are normalised", () => {
  expect(normalisePath("\\Boot\\x64\\wdsmgfw.efi")).toEqual({ ok: true, path: "Boot/x64/wdsmgfw.efi" });
  expect(normalisePath("/pxelinux.cfg//01-52-54-00-12-34-56")).toEqual({ ok: true, path: "pxelinux.cfg/01-52-54-00-12-34-56" });
  expect(normalisePath("./a/./b")).toEqual({ ok: true, path: "a/b" });
  expect(normalisePath("a..b/c..")).toEqual({ ok: true, path: "a..b/c.." });
});

test("escapes are refused with the reason", () => {
  expect(normalisePath("../etc/passwd")).toEqual({ ok: false, reason: 'refuse path "../etc/passwd": ".." is not allowed' });
  expect(normalisePath("a\\..\\..\\b")).toMatchObject({ ok: false });
  expect(normalisePath("/a/../../b")).toMatchObject({ ok: false });
  expect(normalisePath("C:\\Windows\\win.ini")).toEqual({ ok: false, reason: 'refuse path "C:\\\\Windows\\\\win.ini": drive letters are absolute' });
  expect(normalisePath("//")).toEqual({ ok: false, reason: 'refuse path "//": no file named' });
  expect(normalisePath("a\nb")).toEqual({ ok: false, reason: 'refuse path "a\\nb": control character 0x0a' });
});
