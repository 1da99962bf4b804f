// What a dynamically linked program or library asks of the loader before it runs: its program
// interpreter (PT_INTERP, "/lib64/ld-linux-x86-64.so.2") and the shared libraries it names
// (DT_NEEDED), read straight from the ELF file, the job ldd does without running anything (so it
// works for arm64 files on an amd64 host). Pure over bytes; 64-bit little-endian ELF only (x86-64
// and arm64), like modinfo.ts.
//
// Folklore: DT_NEEDED entries are offsets into the string table named by DT_STRTAB, and that one
// is a virtual address, not a file offset: it is found through the PT_LOAD segment that maps it.

export interface ElfDynamic {
  /** e_machine: 62 x86-64, 183 aarch64. */
  machine: number;
  /** The program interpreter, for executables; undefined for libraries and static programs. */
  interp?: string;
  /** DT_NEEDED, in the file's order. */
  needed: string[];
  soname?: string;
}

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_SONAME = 14;

/** True when `bytes` starts like an ELF file (any class). */
export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/** A view of a 64-bit little-endian ELF file (the only kind Socle reads); `fail` says why not. */
export function elf64View(bytes: Uint8Array, fail: (why: string) => never): DataView {
  if (bytes.length < 64 || !isElf(bytes)) fail("not an ELF file");
  if (bytes[4] !== 2 || bytes[5] !== 1) fail("not a 64-bit little-endian ELF file");
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function parseElfDynamic(bytes: Uint8Array, what = "file"): ElfDynamic {
  const fail = (why: string): never => {
    throw new Error(`elf: ${what}: ${why}`);
  };
  const dv = elf64View(bytes, fail);
  const u64 = (off: number) => Number(dv.getBigUint64(off, true));
  const machine = dv.getUint16(0x12, true);
  const phoff = u64(0x20);
  const phentsize = dv.getUint16(0x36, true);
  const phnum = dv.getUint16(0x38, true);
  if (phnum > 0 && (phentsize < 56 || phoff + phnum * phentsize > bytes.length)) fail(`program headers (offset ${phoff}, ${phnum} x ${phentsize} bytes) lie outside the file`);
  const segments = Array.from({ length: phnum }, (_, i) => {
    const h = phoff + i * phentsize;
    return { type: dv.getUint32(h, true), offset: u64(h + 0x08), vaddr: u64(h + 0x10), filesz: u64(h + 0x20) };
  });
  const cstring = (off: number, why: string) => {
    if (off >= bytes.length) fail(`${why} at offset ${off} lies outside the file`);
    let end = off;
    while (end < bytes.length && bytes[end] !== 0) end++;
    return new TextDecoder().decode(bytes.subarray(off, end));
  };
  const out: ElfDynamic = { machine, needed: [] };
  const interp = segments.find((s) => s.type === PT_INTERP);
  if (interp) out.interp = cstring(interp.offset, "PT_INTERP");
  const dyn = segments.find((s) => s.type === PT_DYNAMIC);
  if (!dyn) return out;
  if (dyn.offset + dyn.filesz > bytes.length) fail(`PT_DYNAMIC (offset ${dyn.offset}, ${dyn.filesz} bytes) lies outside the file`);
  const entries: [number, number][] = [];
  for (let off = dyn.offset; off + 16 <= dyn.offset + dyn.filesz; off += 16) {
    const tag = u64(off);
    if (tag === DT_NULL) break;
    entries.push([tag, u64(off + 8)]);
  }
  const strtabAddr = entries.find(([t]) => t === DT_STRTAB)?.[1];
  if (strtabAddr === undefined) return out;
  const load = segments.find((s) => s.type === PT_LOAD && strtabAddr >= s.vaddr && strtabAddr < s.vaddr + s.filesz);
  if (!load) fail(`DT_STRTAB address 0x${strtabAddr.toString(16)} is in no PT_LOAD segment`);
  const strtab = strtabAddr - load!.vaddr + load!.offset;
  for (const [tag, val] of entries) {
    if (tag === DT_NEEDED) out.needed.push(cstring(strtab + val, "DT_NEEDED name"));
    else if (tag === DT_SONAME) out.soname = cstring(strtab + val, "DT_SONAME");
  }
  return out;
}
