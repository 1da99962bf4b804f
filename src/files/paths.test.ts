import { describe, expect, test } from "bun:test";
import { hasTempSegment, isTempName, normaliseRequestPath, normalisedOrUndefined, tempName } from "./paths.ts";

describe("normaliseRequestPath: what every file server accepts", () => {
  // The cases of the data-directory, embedded-asset and HTTP normaliser it replaces (boot/).
  const cases: Array<[string, string | undefined]> = [
    ["/undionly.kpxe", "undionly.kpxe"],
    ["undionly.kpxe", "undionly.kpxe"],
    ["\\boot\\bcd", "boot/bcd"],
    ["//a///b/./c/", "a/b/c"],
    ["pxelinux.cfg/01-52-54-00-12-34-56", "pxelinux.cfg/01-52-54-00-12-34-56"],
    ["a..b/.hidden", "a..b/.hidden"],
    ["../etc/passwd", undefined],
    ["a/../../b", undefined],
    ["a\\..\\b", undefined],
    ["C:\\boot\\x", undefined],
    ["/c:/x", undefined],
    ["a\0b", undefined],
    ["", undefined],
    ["/", undefined],
    ["./.", undefined],
  ];
  for (const [raw, want] of cases) test(JSON.stringify(raw), () => expect(normalisedOrUndefined(raw)).toBe(want));

  // The cases of the TFTP normaliser it replaces (tftp/).
  test("backslashes, leading slashes, empty and dot segments are normalised", () => {
    expect(normaliseRequestPath("\\Boot\\x64\\wdsmgfw.efi")).toEqual({ ok: true, path: "Boot/x64/wdsmgfw.efi" });
    expect(normaliseRequestPath("/pxelinux.cfg//01-52-54-00-12-34-56")).toEqual({ ok: true, path: "pxelinux.cfg/01-52-54-00-12-34-56" });
    expect(normaliseRequestPath("./a/./b")).toEqual({ ok: true, path: "a/b" });
    expect(normaliseRequestPath("a..b/c..")).toEqual({ ok: true, path: "a..b/c.." });
  });

  test("escapes are refused with the reason", () => {
    expect(normaliseRequestPath("../etc/passwd")).toEqual({ ok: false, reason: '".." is not allowed' });
    expect(normaliseRequestPath("a\\..\\..\\b")).toMatchObject({ ok: false });
    expect(normaliseRequestPath("/a/../../b")).toMatchObject({ ok: false });
    expect(normaliseRequestPath("C:\\Windows\\win.ini")).toEqual({ ok: false, reason: "drive letters are absolute" });
    expect(normaliseRequestPath("//")).toEqual({ ok: false, reason: "no file named" });
    expect(normaliseRequestPath("a\nb")).toEqual({ ok: false, reason: "control character 0x0a" });
  });

  test("every refusal, one reason each", () => {
    const reasons: Array<[string, string]> = [
      ["..", '".." is not allowed'],
      ["a/../b", '".." is not allowed'], // even one that would stay inside: a server never resolves ".."
      ["a\\..\\..\\b", '".." is not allowed'], // backslashes are separators, so this climbs too
      ["a/b/..", '".." is not allowed'],
      ["a\0b", "control character 0x00"],
      ["a\tb", "control character 0x09"],
      ["a\x7fb", "control character 0x7f"],
      ["c:", "drive letters are absolute"],
      ["/D:/x", "drive letters are absolute"],
      ["\\\\C:\\x", "drive letters are absolute"],
      ["", "no file named"],
      ["/", "no file named"],
      ["\\", "no file named"],
      ["./.", "no file named"],
    ];
    for (const [raw, reason] of reasons) expect([raw, normaliseRequestPath(raw)]).toEqual([raw, { ok: false, reason }]);
  });

  test("what is not refused: absolute paths mean the served root, hidden names are names, '%' is a character", () => {
    expect(normaliseRequestPath("/etc/passwd")).toEqual({ ok: true, path: "etc/passwd" }); // under the root, not the host's /etc
    expect(normaliseRequestPath(".treeinfo")).toEqual({ ok: true, path: ".treeinfo" });
    expect(normaliseRequestPath("dir/.hidden/x")).toEqual({ ok: true, path: "dir/.hidden/x" });
    // Percent-decoding is HTTP's, done once before this; decoding again would let "%252e%252e" through.
    expect(normaliseRequestPath("%2e%2e/x")).toEqual({ ok: true, path: "%2e%2e/x" });
    // A drive is one letter and a colon at the start; MAC-named files are not drives.
    expect(normaliseRequestPath("52:54:00:12:34:56.ipxe")).toEqual({ ok: true, path: "52:54:00:12:34:56.ipxe" });
    expect(normaliseRequestPath("ab:c")).toEqual({ ok: true, path: "ab:c" });
    expect(normaliseRequestPath("x/c:d")).toEqual({ ok: true, path: "x/c:d" });
  });

  test("normalising is idempotent: a normalised path normalises to itself", () => {
    for (const raw of ["/a//b/./c", "\\x\\y", "a..b/.hidden", "./k.ipxe"]) {
      const once = normaliseRequestPath(raw);
      expect(once.ok).toBe(true);
      if (once.ok) expect(normaliseRequestPath(once.path)).toEqual(once);
    }
  });
});

describe("temporary names: files/ owns the rule, uploads, explodes, fetches and atomic writes follow it", () => {
  test("names made by tempName are temporary; with their companions", () => {
    for (const kind of ["upload", "explode", "fetch", "write"] as const) {
      const name = tempName(kind);
      expect(name).toMatch(new RegExp(`^\\.socle-${kind}-[0-9a-f]{16}\\.part$`));
      expect(isTempName(name)).toBe(true);
      expect(isTempName(`${name}.old`)).toBe(true);
      expect(isTempName(`${name}.validator`)).toBe(true);
    }
    expect(tempName("fetch", "00ff")).toBe(".socle-fetch-00ff.part");
    expect(() => tempName("fetch", "../x")).toThrow("is not lower-case hex");
  });

  test("other names are not, however close", () => {
    for (const name of [".socle-upload-00ff", ".socle-upload-.part", ".socle-other-00ff.part", "socle-upload-00ff.part", ".socle-upload-00FF.part", ".socle-upload-00ff.part.bak", ".hidden", "x.part"]) {
      expect([name, isTempName(name)]).toEqual([name, false]);
    }
  });

  test("hasTempSegment looks at every segment of a path", () => {
    expect(hasTempSegment(".socle-upload-00ff.part")).toBe(true);
    expect(hasTempSegment("debian/.socle-explode-00ff.part/vmlinuz")).toBe(true);
    expect(hasTempSegment("debian/.socle-explode-00ff.part.old/vmlinuz")).toBe(true);
    expect(hasTempSegment("debian/install/vmlinuz")).toBe(false);
  });
});
