// What a Linux kernel module needs before it loads: the "depends=" field of its .modinfo section,
// read straight from the ELF file (the job depmod does for modules.dep, which Debian's kernel
// packages do not ship). Pure over bytes; 64-bit little-endian ELF only (x86-64 and arm64).

import { elf64View } from "./elf.ts";

export interface ModInfo {
  /** Module names this one needs (underscored, as the kernel spells them). */
  depends: string[];
  /** Every key=value of .modinfo, in order (repeated keys such as "alias" keep each value). */
  fields: [string, string][];
}

/** The module name the kernel uses for a file name ("pci-hyperv-intf.ko" -> "pci_hyperv_intf"). */
export function moduleName(file: string): string {
  return file.replace(/^.*\//, "").replace(/\.ko(\.(xz|zst|gz))?$/, "").replace(/-/g, "_");
}

export function parseModinfo(bytes: Uint8Array, what = "module"): ModInfo {
  const fail = (why: string): never => {
    throw new Error(`modinfo: ${what}: ${why}`);
  };
  const dv = elf64View(bytes, fail);
  const shoff = Number(dv.getBigUint64(0x28, true));
  const shentsize = dv.getUint16(0x3a, true);
  const shnum = dv.getUint16(0x3c, true);
  const shstrndx = dv.getUint16(0x3e, true);
  if (shentsize < 64 || shstrndx >= shnum || shoff + shnum * shentsize > bytes.length) fail(`section table (offset ${shoff}, ${shnum} x ${shentsize} bytes) lies outside the file`);
  const section = (i: number) => {
    const h = shoff + i * shentsize;
    const offset = Number(dv.getBigUint64(h + 0x18, true));
    const size = Number(dv.getBigUint64(h + 0x20, true));
    if (offset + size > bytes.length) fail(`section ${i} (offset ${offset}, ${size} bytes) lies outside the file`);
    return { name: dv.getUint32(h, true), offset, size };
  };
  const names = section(shstrndx);
  const nameAt = (off: number) => {
    let end = names.offset + off;
    while (end < names.offset + names.size && bytes[end] !== 0) end++;
    return new TextDecoder().decode(bytes.subarray(names.offset + off, end));
  };
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (nameAt(s.name) !== ".modinfo") continue;
    const text = new TextDecoder().decode(bytes.subarray(s.offset, s.offset + s.size));
    const fields: [string, string][] = [];
    for (const item of text.split("\0")) {
      const eq = item.indexOf("=");
      if (eq > 0) fields.push([item.slice(0, eq), item.slice(eq + 1)]);
    }
    const dep = fields.find(([k]) => k === "depends")?.[1] ?? "";
    return { depends: dep.split(",").filter((d) => d !== ""), fields };
  }
  return fail("no .modinfo section (is it a kernel module?)");
}

/**
 * The load order for `wanted` (module names) and everything they depend on: each module after
 * its dependencies, each once. `lookup(name)` gives a module's dependencies, or undefined when
 * this kernel has no such module (built in, or absent); those are left out and reported.
 */
export function loadOrder(wanted: readonly string[], lookup: (name: string) => string[] | undefined): { order: string[]; missing: string[] } {
  const order: string[] = [];
  const missing: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, chain: string[]) => {
    const s = state.get(name);
    if (s === "done") return;
    if (s === "visiting") throw new Error(`modinfo: dependency cycle: ${[...chain, name].join(" -> ")}`);
    const deps = lookup(name);
    if (deps === undefined) {
      state.set(name, "done");
      missing.push(name);
      return;
    }
    state.set(name, "visiting");
    for (const d of deps) visit(d, [...chain, name]);
    state.set(name, "done");
    order.push(name);
  };
  for (const w of wanted) visit(w, []);
  return { order, missing };
}
