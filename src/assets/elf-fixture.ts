// Test fixture: the smallest 64-bit little-endian ELF file that elf.ts reads as a dynamically
// linked program or library (one PT_LOAD mapping the whole file, an optional PT_INTERP, a
// PT_DYNAMIC with DT_NEEDED, DT_SONAME and DT_STRTAB). It runs nothing; it only has to parse.
// Used by elf.test.ts, program-closure.test.ts and discovery.test.ts.

import { EM_X86_64 } from "./elf.ts";

export interface FakeElf {
  machine?: number;
  interp?: string;
  needed?: string[];
  soname?: string;
}

const BASE = 0x400000;

export function fakeElf(f: FakeElf): Uint8Array {
  const enc = new TextEncoder();
  const names = [...(f.needed ?? []), ...(f.soname ? [f.soname] : [])];
  let strtab = "\0";
  const at = new Map<string, number>();
  for (const n of names) {
    at.set(n, strtab.length);
    strtab += `${n}\0`;
  }
  const strBytes = enc.encode(strtab);
  const interpBytes = f.interp ? enc.encode(`${f.interp}\0`) : new Uint8Array(0);
  const phnum = f.interp ? 3 : 2;
  const interpOff = 64 + phnum * 56;
  const strOff = interpOff + interpBytes.length;
  const dynOff = (strOff + strBytes.length + 7) & ~7;
  const dyn: [number, number][] = [
    ...(f.needed ?? []).map((n): [number, number] => [1, at.get(n)!]),
    ...(f.soname ? [[14, at.get(f.soname)!] as [number, number]] : []),
    [5, BASE + strOff],
    [0, 0],
  ];
  const size = dynOff + dyn.length * 16;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  dv.setUint16(0x10, f.interp ? 2 : 3, true); // ET_EXEC or ET_DYN
  dv.setUint16(0x12, f.machine ?? EM_X86_64, true);
  dv.setBigUint64(0x20, 64n, true);
  dv.setUint16(0x36, 56, true);
  dv.setUint16(0x38, phnum, true);
  const ph = (i: number, type: number, off: number, len: number) => {
    const h = 64 + i * 56;
    dv.setUint32(h, type, true);
    dv.setBigUint64(h + 0x08, BigInt(off), true);
    dv.setBigUint64(h + 0x10, BigInt(BASE + off), true);
    dv.setBigUint64(h + 0x20, BigInt(len), true);
    dv.setBigUint64(h + 0x28, BigInt(len), true);
  };
  ph(0, 1, 0, size);
  ph(1, 2, dynOff, dyn.length * 16);
  if (f.interp) ph(2, 3, interpOff, interpBytes.length);
  out.set(interpBytes, interpOff);
  out.set(strBytes, strOff);
  dyn.forEach(([tag, val], i) => {
    dv.setBigUint64(dynOff + i * 16, BigInt(tag), true);
    dv.setBigUint64(dynOff + i * 16 + 8, BigInt(val), true);
  });
  return out;
}
