// A dynamically linked program out of unpacked Debian packages, with exactly what the loader maps
// when it starts: its interpreter and the shared libraries named by DT_NEEDED, followed to the end
// (elf.ts). The packages' dependency closure (debian.ts dependencyClosure) brings more: other
// libraries, docs, man pages, locales, helper programs; only these files go into an image.
//
// Where the files go: the program and its interpreter at their own paths; each library under its
// soname in the directory where the package has it (lib/<triplet>/ or usr/lib/<triplet>/), both
// on the loader's built-in search path, so no /etc/ld.so.cache is needed. Symbolic links are
// resolved: every file is written once, as a regular file; a second path to the same file (amd64's
// /lib64/ld-linux-x86-64.so.2, which libc.so.6 also needs by its soname) becomes a link to it.

import { existsSync, lstatSync, readFileSync, readlinkSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { EM_AARCH64, EM_X86_64, parseElfDynamic } from "./elf.ts";

/** `path` is relative to the image root ("usr/bin/curl", "lib/x86_64-linux-gnu/libc.so.6"). */
export type ClosureFile = { path: string; data: Uint8Array; mode: number } | { path: string; target: string };

export interface ProgramClosure {
  files: ClosureFile[];
  /** "libfoo.so.1 (needed by usr/bin/curl)" for every library no tree has. */
  missing: string[];
}

const TRIPLET: Record<number, string> = { [EM_X86_64]: "x86_64-linux-gnu", [EM_AARCH64]: "aarch64-linux-gnu" };

/** The loader's own search order (ld.so --help: "system search path"), relative to the root. */
export function librarySearchPath(machine: number): string[] {
  const t = TRIPLET[machine];
  if (!t) throw new Error(`program closure: no library path known for ELF machine ${machine}`);
  return [`lib/${t}`, `usr/lib/${t}`, "lib", "usr/lib"];
}

/**
 * `programs` (paths relative to the root, as in the package) with their interpreter and every
 * library they load. `roots` are unpacked packages, read as one tree (the first that has a path
 * wins). Every file must be an ELF file for `machine`; another machine's file is an error.
 */
export function programClosure(roots: readonly string[], programs: readonly string[], machine: number): ProgramClosure {
  const where = (rel: string): string | undefined => {
    for (const r of roots) {
      const p = join(r, rel);
      try {
        lstatSync(p);
        return p;
      } catch {}
    }
    return undefined;
  };
  /** The file behind `rel` (symlinks followed within the tree), or undefined. */
  const resolve = (rel: string): string | undefined => {
    let cur = normalize(rel).replace(/^\/+/, "");
    for (let hops = 0; hops < 16; hops++) {
      const p = where(cur);
      if (!p) return undefined;
      if (!lstatSync(p).isSymbolicLink()) return existsSync(p) ? p : undefined;
      const target = readlinkSync(p);
      cur = normalize(target.startsWith("/") ? target : join(dirname(cur), target)).replace(/^\/+/, "");
    }
    throw new Error(`program closure: too many symbolic links at ${rel}`);
  };
  const search = librarySearchPath(machine);
  const files: ClosureFile[] = [];
  const missing: string[] = [];
  const placed = new Set<string>();
  const queue: { rel: string; file: string; mode: number }[] = [];
  const add = (rel: string, file: string, mode: number) => {
    if (placed.has(rel)) return;
    placed.add(rel);
    queue.push({ rel, file, mode });
  };
  for (const p of programs) {
    const file = resolve(p);
    if (!file) throw new Error(`program closure: no package here has ${p}`);
    add(p.replace(/^\/+/, ""), file, 0o755);
  }
  const found = new Map<string, string | undefined>(); // soname -> image path
  const firstPath = new Map<string, string>(); // file in a tree -> where it went in the image
  while (queue.length > 0) {
    const { rel, file, mode } = queue.shift()!;
    const first = firstPath.get(file);
    if (first !== undefined) {
      files.push({ path: rel, target: `/${first}` });
      continue;
    }
    firstPath.set(file, rel);
    const data = readFileSync(file);
    const elf = parseElfDynamic(data, rel);
    if (elf.machine !== machine) throw new Error(`program closure: ${rel} is for ELF machine ${elf.machine}, not ${machine}`);
    files.push({ path: rel, data, mode });
    if (elf.interp) {
      const interp = resolve(elf.interp);
      if (interp) add(elf.interp.replace(/^\/+/, ""), interp, 0o755);
      else missing.push(`${elf.interp} (interpreter of ${rel})`);
    }
    for (const soname of elf.needed) {
      if (!found.has(soname)) {
        const dir = search.find((d) => resolve(`${d}/${soname}`) !== undefined);
        found.set(soname, dir === undefined ? undefined : `${dir}/${soname}`);
      }
      const at = found.get(soname);
      if (at === undefined) missing.push(`${soname} (needed by ${rel})`);
      else add(at, resolve(at)!, 0o644);
    }
  }
  return { files, missing };
}
