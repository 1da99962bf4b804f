import { expect, test } from "bun:test";
import { elfMachine, parseCompileArgs, TARGETS } from "./compile.ts";

test("targets and outdir", () => {
  expect(parseCompileArgs([])).toEqual({ targets: ["amd64", "arm64"], outdir: "dist" });
  expect(parseCompileArgs(["--target", "arm64"])).toEqual({ targets: ["arm64"], outdir: "dist" });
  expect(parseCompileArgs(["--target=amd64", "--outdir=/tmp/o"])).toEqual({ targets: ["amd64"], outdir: "/tmp/o" });
  expect(() => parseCompileArgs(["--target", "riscv"])).toThrow('--target: invalid value "riscv" (expected amd64|arm64|all)');
  expect(() => parseCompileArgs(["--outdir"])).toThrow("--outdir: missing value");
  expect(() => parseCompileArgs(["x"])).toThrow('unknown argument "x"');
});

test("elfMachine reads e_machine of 64-bit little-endian ELF files", async () => {
  const head = (machine: number) => {
    const b = new Uint8Array(64);
    b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
    b[18] = machine & 0xff;
    b[19] = machine >> 8;
    return b;
  };
  expect(elfMachine(head(0xb7))).toBe(TARGETS.arm64.elfMachine);
  expect(elfMachine(head(0x3e))).toBe(TARGETS.amd64.elfMachine);
  expect(elfMachine(new TextEncoder().encode("#!/bin/sh\necho not an elf file"))).toBeUndefined();
  expect(elfMachine(new Uint8Array(4))).toBeUndefined();
  // The Bun running this test is an ELF for the host machine.
  const self = new Uint8Array(await Bun.file(process.execPath).slice(0, 20).arrayBuffer());
  expect(elfMachine(self)).toBe(process.arch === "arm64" ? 0xb7 : 0x3e);
});
