// program-closure.ts over trees of hand-made ELF files laid out as Debian's packages are.

import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { EM_AARCH64, EM_X86_64 } from "./elf.ts";
import { fakeElf } from "./elf-fixture.ts";
import { librarySearchPath, programClosure } from "./program-closure.ts";

const dir = mkdtempSync(join(tmpdir(), "socle-closure-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tree(name: string, files: Record<string, Uint8Array | { link: string }>): string {
  const root = join(dir, name);
  for (const [path, f] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    if (f instanceof Uint8Array) writeFileSync(join(root, path), f);
    else symlinkSync(f.link, join(root, path));
  }
  return root;
}

const T = "x86_64-linux-gnu";
const LD = "/lib64/ld-linux-x86-64.so.2";
const libc6 = tree("libc6", {
  [`lib/${T}/libc.so.6`]: fakeElf({ soname: "libc.so.6", needed: ["ld-linux-x86-64.so.2"] }),
  [`lib/${T}/ld-linux-x86-64.so.2`]: fakeElf({ soname: "ld-linux-x86-64.so.2" }),
  "lib64/ld-linux-x86-64.so.2": { link: `/lib/${T}/ld-linux-x86-64.so.2` },
  [`lib/${T}/libm.so.6`]: fakeElf({ soname: "libm.so.6" }),
  "usr/share/doc/libc6/copyright": new TextEncoder().encode("docs"),
});
const libcurl = tree("libcurl4", {
  [`usr/lib/${T}/libcurl.so.4.8.0`]: fakeElf({ soname: "libcurl.so.4", needed: ["libz.so.1", "libc.so.6"] }),
  [`usr/lib/${T}/libcurl.so.4`]: { link: "libcurl.so.4.8.0" },
});
const zlib = tree("zlib1g", {
  [`lib/${T}/libz.so.1.2.13`]: fakeElf({ soname: "libz.so.1", needed: ["libc.so.6"] }),
  [`lib/${T}/libz.so.1`]: { link: "libz.so.1.2.13" },
});
const curl = tree("curl", {
  "usr/bin/curl": fakeElf({ interp: LD, needed: ["libcurl.so.4", "libz.so.1", "libc.so.6"] }),
  "usr/share/man/man1/curl.1.gz": new TextEncoder().encode("man"),
});

test("the program, its interpreter and the libraries it loads, each once, by soname where its package has it", () => {
  const { files, missing } = programClosure([curl, libcurl, zlib, libc6], ["usr/bin/curl"], EM_X86_64);
  expect(missing).toEqual([]);
  const view = files.map((f) => ("target" in f ? `${f.path} -> ${f.target}` : `${f.path} ${f.mode.toString(8)}`));
  expect(view).toEqual([
    "usr/bin/curl 755",
    "lib64/ld-linux-x86-64.so.2 755",
    `usr/lib/${T}/libcurl.so.4 644`,
    `lib/${T}/libz.so.1 644`,
    `lib/${T}/libc.so.6 644`,
    // libc.so.6 needs the loader by its soname: the same file, a link to the first copy.
    `lib/${T}/ld-linux-x86-64.so.2 -> /lib64/ld-linux-x86-64.so.2`,
  ]);
  // Nothing of the packages that is not loaded: no libm, docs or man pages.
  expect(view.join("\n")).not.toMatch(/libm|share/);
});

test("a library no tree has is reported with who needs it", () => {
  const { missing } = programClosure([curl, libcurl, libc6], ["usr/bin/curl"], EM_X86_64);
  expect(missing).toEqual(["libz.so.1 (needed by usr/bin/curl)", "libz.so.1 (needed by usr/lib/x86_64-linux-gnu/libcurl.so.4)"]);
});

test("another architecture's file is an error naming it; a missing program too", () => {
  const arm = tree("arm", { "usr/bin/curl": fakeElf({ machine: EM_AARCH64, interp: "/lib/ld-linux-aarch64.so.1" }) });
  expect(() => programClosure([arm], ["usr/bin/curl"], EM_X86_64)).toThrow("program closure: usr/bin/curl is for ELF machine 183, not 62");
  expect(() => programClosure([libc6], ["usr/bin/curl"], EM_X86_64)).toThrow("no package here has usr/bin/curl");
});

test("the search path is the loader's", () => {
  expect(librarySearchPath(EM_AARCH64)).toEqual(["lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib", "usr/lib"]);
  expect(() => librarySearchPath(3)).toThrow("no library path known for ELF machine 3");
});
