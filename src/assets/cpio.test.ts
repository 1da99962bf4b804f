import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpioArchive, cpioRead } from "./cpio.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

test("one file: 110-byte header, name with NUL padded to 4, data padded to 4, then the trailer", () => {
  const a = cpioArchive([{ name: "init", type: "file", data: new TextEncoder().encode("#!/bin/sh\n"), mode: 0o755 }]);
  const h = text(a.subarray(0, 110));
  expect(h.slice(0, 6)).toBe("070701");
  const field = (i: number) => parseInt(h.slice(6 + i * 8, 14 + i * 8), 16);
  expect(field(0)).toBe(1); // ino
  expect(field(1)).toBe(0o100755); // regular file, rwxr-xr-x
  expect(field(6)).toBe(10); // file size
  expect(field(11)).toBe(5); // "init\0"
  // 110 + 5 = 115 -> padded to 116; 10 data bytes -> 12.
  expect(text(a.subarray(116, 126))).toBe("#!/bin/sh\n");
  expect(text(a.subarray(128, 134))).toBe("070701");
  expect(text(a.subarray(128 + 110, 128 + 120))).toBe("TRAILER!!!");
  expect(a.length % 4).toBe(0);
});

test("the same entries give the same bytes", () => {
  const e = [{ name: "bin", type: "dir" as const }, { name: "bin/sh", type: "symlink" as const, target: "busybox" }];
  expect(Buffer.compare(cpioArchive(e), cpioArchive(e))).toBe(0);
});

test("bad names and duplicates are refused, naming the entry", () => {
  expect(() => cpioArchive([{ name: "/init", type: "dir" }])).toThrow('cpio: bad entry name "/init"');
  expect(() => cpioArchive([{ name: "a/../b", type: "dir" }])).toThrow('bad entry name "a/../b"');
  expect(() => cpioArchive([{ name: "a", type: "dir" }, { name: "a", type: "dir" }])).toThrow('duplicate entry "a"');
});

test.skipIf(Bun.which("cpio") === null)("GNU cpio unpacks what we write (dirs, modes, symlinks, data)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "socle-cpio-"));
  try {
    const data = new Uint8Array(1001).map((_, i) => i & 0xff);
    const a = cpioArchive([
      { name: "bin", type: "dir" },
      { name: "bin/busybox", type: "file", data, mode: 0o755 },
      { name: "bin/sh", type: "symlink", target: "busybox" },
      { name: "etc", type: "dir", mode: 0o700 },
      { name: "etc/x", type: "file", data: new Uint8Array(0) },
    ]);
    const p = Bun.spawn(["cpio", "-idm", "--quiet", "--no-absolute-filenames"], { cwd: dir, stdin: "pipe", stderr: "pipe" });
    p.stdin.write(a);
    await p.stdin.end();
    expect(await p.exited).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, "bin/busybox")), Buffer.from(data))).toBe(0);
    expect(statSync(join(dir, "bin/busybox")).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(dir, "bin/sh"))).toBe("busybox");
    expect(statSync(join(dir, "etc")).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "etc/x")).size).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("cpioRead gives back what cpioArchive wrote; a cut archive is an error saying where", () => {
  const entries = [
    { name: "bin", type: "dir" as const, mode: 0o755 },
    { name: "bin/busybox", type: "file" as const, data: new TextEncoder().encode("BB"), mode: 0o755 },
    { name: "bin/sh", type: "symlink" as const, target: "busybox" },
    { name: "init", type: "file" as const, data: new Uint8Array(0), mode: 0o644 },
  ];
  const a = cpioArchive(entries);
  expect(cpioRead(a).map((e) => (e.type === "file" ? { ...e, data: text(e.data) } : e))).toEqual(
    entries.map((e) => (e.type === "file" ? { ...e, data: text(e.data) } : e)),
  );
  expect(() => cpioRead(a.subarray(0, 200))).toThrow(/cpio: .*(claims|without a trailer)/);
  expect(() => cpioRead(new TextEncoder().encode("x".repeat(120)))).toThrow('cpio: no newc header at byte 0 (found "xxxxxx")');
});
