import { expect, test } from "bun:test";
import { loadOrder, moduleName, parseModinfo } from "./modinfo.ts";

/** A minimal ELF64 LE file with a section string table and the given .modinfo text. */
function elfWith(modinfo: string | undefined): Uint8Array {
  const enc = new TextEncoder();
  const shstr = enc.encode("\0.shstrtab\0.modinfo\0");
  const info = enc.encode(modinfo ?? "");
  const dataOff = 64;
  const infoOff = dataOff + shstr.length;
  const shoff = (infoOff + info.length + 7) & ~7;
  const sections = modinfo === undefined ? 2 : 3;
  const out = new Uint8Array(shoff + sections * 64);
  const dv = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  dv.setBigUint64(0x28, BigInt(shoff), true);
  dv.setUint16(0x3a, 64, true);
  dv.setUint16(0x3c, sections, true);
  dv.setUint16(0x3e, 1, true);
  out.set(shstr, dataOff);
  out.set(info, infoOff);
  const sh = (i: number, name: number, off: number, size: number) => {
    const h = shoff + i * 64;
    dv.setUint32(h, name, true);
    dv.setBigUint64(h + 0x18, BigInt(off), true);
    dv.setBigUint64(h + 0x20, BigInt(size), true);
  };
  sh(1, 1, dataOff, shstr.length);
  if (modinfo !== undefined) sh(2, 11, infoOff, info.length);
  return out;
}

test("depends= and every field come out of .modinfo", () => {
  const m = parseModinfo(elfWith("license=GPL\0depends=mdio,libphy\0alias=pci:v1\0alias=pci:v2\0name=e1000e\0"));
  expect(m.depends).toEqual(["mdio", "libphy"]);
  expect(m.fields.filter(([k]) => k === "alias").map(([, v]) => v)).toEqual(["pci:v1", "pci:v2"]);
  expect(parseModinfo(elfWith("depends=\0name=virtio\0")).depends).toEqual([]);
});

test("not a module, not ELF, or a truncated file: an error that names the file", () => {
  expect(() => parseModinfo(elfWith(undefined), "x.ko")).toThrow("modinfo: x.ko: no .modinfo section");
  expect(() => parseModinfo(new Uint8Array(100), "y.ko")).toThrow("modinfo: y.ko: not an ELF file");
  expect(() => parseModinfo(elfWith("depends=a\0").subarray(0, 100), "z.ko")).toThrow("lies outside the file");
});

test("module names: dashes become underscores, compression suffixes go", () => {
  expect(moduleName("kernel/drivers/pci/controller/pci-hyperv-intf.ko")).toBe("pci_hyperv_intf");
  expect(moduleName("e1000e.ko.xz")).toBe("e1000e");
});

test("load order: dependencies first, each once; unknown names reported; cycles refused", () => {
  const deps: Record<string, string[]> = { e1000e: ["ptp"], ptp: ["pps_core"], pps_core: [], igb: ["ptp", "dca"], dca: [] };
  expect(loadOrder(["e1000e", "igb", "nvme"], (n) => deps[n])).toEqual({ order: ["pps_core", "ptp", "e1000e", "dca", "igb"], missing: ["nvme"] });
  expect(() => loadOrder(["a"], (n) => ({ a: ["b"], b: ["a"] })[n])).toThrow("dependency cycle: a -> b -> a");
});
