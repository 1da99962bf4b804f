// elf.ts over hand-made ELF files, and over the host's own programs when it has readelf to agree with.

import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { EM_AARCH64, EM_X86_64, isElf, parseElfDynamic } from "./elf.ts";
import { fakeElf } from "./elf-fixture.ts";

describe("parseElfDynamic", () => {
  test("a program: interpreter and DT_NEEDED in order", () => {
    const e = parseElfDynamic(fakeElf({ interp: "/lib64/ld-linux-x86-64.so.2", needed: ["libcurl.so.4", "libc.so.6"] }));
    expect(e).toEqual({ machine: EM_X86_64, interp: "/lib64/ld-linux-x86-64.so.2", needed: ["libcurl.so.4", "libc.so.6"] });
  });

  test("a library: soname, no interpreter; the machine is reported", () => {
    const e = parseElfDynamic(fakeElf({ machine: EM_AARCH64, soname: "libz.so.1", needed: ["libc.so.6"] }));
    expect(e).toEqual({ machine: EM_AARCH64, needed: ["libc.so.6"], soname: "libz.so.1" });
  });

  test("errors name the file and what is wrong", () => {
    expect(() => parseElfDynamic(new TextEncoder().encode("#!/bin/sh\necho hi\n".padEnd(80)), "usr/bin/x")).toThrow("elf: usr/bin/x: not an ELF file");
    const e32 = fakeElf({});
    e32[4] = 1;
    expect(() => parseElfDynamic(e32, "x")).toThrow("not a 64-bit little-endian ELF file");
    const cut = fakeElf({ needed: ["libc.so.6"] }).subarray(0, 100);
    expect(() => parseElfDynamic(cut, "cut")).toThrow(/cut: program headers .* lie outside the file/);
  });

  test("isElf", () => {
    expect(isElf(fakeElf({}))).toBe(true);
    expect(isElf(new Uint8Array([0x7f, 0x45]))).toBe(false);
  });

  const HOST = "/usr/bin/env";
  test.skipIf(!existsSync(HOST) || Bun.which("readelf") === null)("agrees with readelf on the host's own /usr/bin/env", async () => {
    const p = Bun.spawn(["readelf", "-d", "-l", HOST], { stdout: "pipe" });
    const text = await new Response(p.stdout).text();
    const needed = [...text.matchAll(/\(NEEDED\)\s+Shared library: \[(.*)\]/g)].map((m) => m[1]);
    const interp = /Requesting program interpreter: (.*)\]/.exec(text)?.[1];
    const e = parseElfDynamic(readFileSync(HOST), HOST);
    expect(e.needed).toEqual(needed as string[]);
    expect(e.interp).toBe(interp);
  });
});
