import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
// Test-only import of the DHCP tests' pcap reader (tftp/ code never imports dhcp/).
import { readPcapUdp } from "../dhcp/codec/testdata/pcap.ts";
import {
  describePacket,
  formatAck,
  formatData,
  formatError,
  formatOack,
  formatRequest,
  opcodeOf,
  parsePacket,
  TftpFormatError,
} from "./packet.ts";

const bytes = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));

describe("parsePacket", () => {
  test("RRQ with options: names lower-cased, order kept, mode lower-cased", () => {
    const p = parsePacket(bytes("\0\x01pxe/ipxe.efi\0OCTET\0TSize\x000\0blksize\x001468\0"));
    expect(p).toEqual({ op: "RRQ", filename: "pxe/ipxe.efi", mode: "octet", options: [["tsize", "0"], ["blksize", "1468"]] });
  });

  test("NUL padding after a request is tolerated", () => {
    expect(parsePacket(bytes("\0\x01a\0octet\0\0"))).toEqual({ op: "RRQ", filename: "a", mode: "octet", options: [] });
    expect(parsePacket(bytes("\0\x01a\0octet\0\0\0"))).toEqual({ op: "RRQ", filename: "a", mode: "octet", options: [] });
  });

  test("DATA, ACK, ERROR, OACK", () => {
    expect(parsePacket(Uint8Array.of(0, 3, 1, 2, 9, 8))).toEqual({ op: "DATA", block: 258, data: Uint8Array.of(9, 8) });
    expect(parsePacket(Uint8Array.of(0, 4, 0xff, 0xff))).toEqual({ op: "ACK", block: 65535 });
    expect(parsePacket(bytes("\0\x05\0\x08no\0"))).toEqual({ op: "ERROR", code: 8, message: "no" });
    expect(parsePacket(bytes("\0\x05\0\x01unterminated"))).toEqual({ op: "ERROR", code: 1, message: "unterminated" });
    expect(parsePacket(bytes("\0\x06tsize\x0012\0"))).toEqual({ op: "OACK", options: [["tsize", "12"]] });
  });

  test("malformed packets throw TftpFormatError saying what is wrong", () => {
    const cases: [Uint8Array, string][] = [
      [Uint8Array.of(0), "1 bytes is shorter than an opcode"],
      [Uint8Array.of(0, 9), "unknown opcode 9"],
      [bytes("\0\x01file"), "parse RRQ: string at offset 2 has no NUL terminator"],
      [bytes("\0\x01file\0"), "parse RRQ: filename and mode are required"],
      [bytes("\0\x01\0octet\0"), "parse RRQ: empty filename"],
      [bytes("\0\x01f\0octet\0blksize\0"), 'parse RRQ "f": option "blksize" has no value'],
      [bytes("\0\x01f\0octet\0\0x\0"), 'parse RRQ "f": empty option name'],
      [Uint8Array.of(0, 4, 1), "parse ACK: 3 bytes is shorter than 4"],
      [Uint8Array.of(0, 3, 1), "parse DATA: 3 bytes is shorter than the 4-byte header"],
    ];
    for (const [buf, msg] of cases) {
      expect(() => parsePacket(buf)).toThrow(TftpFormatError);
      expect(() => parsePacket(buf)).toThrow(msg);
    }
  });

  test("opcodeOf never throws", () => {
    expect(opcodeOf(Uint8Array.of())).toBeUndefined();
    expect(opcodeOf(Uint8Array.of(1, 1))).toBeUndefined();
    expect(opcodeOf(Uint8Array.of(0, 7))).toBeUndefined();
    expect(opcodeOf(Uint8Array.of(0, 2))).toBe("WRQ");
  });
});

describe("format", () => {
  test("round trips", () => {
    const rrq = formatRequest("RRQ", "a/b", "octet", [["blksize", "1468"]]);
    expect(parsePacket(rrq)).toEqual({ op: "RRQ", filename: "a/b", mode: "octet", options: [["blksize", "1468"]] });
    expect(parsePacket(formatOack([["tsize", "99"], ["timeout", "3"]]))).toEqual({ op: "OACK", options: [["tsize", "99"], ["timeout", "3"]] });
    expect(parsePacket(formatAck(70000 & 0xffff))).toEqual({ op: "ACK", block: 4464 });
    expect(parsePacket(formatData(65536 & 0xffff, Uint8Array.of(1)))).toEqual({ op: "DATA", block: 0, data: Uint8Array.of(1) });
    expect(parsePacket(formatError(2, "nope\0x"))).toEqual({ op: "ERROR", code: 2, message: "nope x" });
  });

  test("a NUL inside a string is refused", () => {
    expect(() => formatRequest("RRQ", "a\0b", "octet")).toThrow('string "a\\0b" contains NUL');
  });
});

// EDK2 (OVMF PXE) asks twice: first with tsize=0 to learn the size, then for the file.
describe("captured EDK2 requests", () => {
  const DIR = join(import.meta.dir, "testdata");
  const name = "uefi-edk2-tftp-requests";
  const datagrams = readPcapUdp(readFileSync(join(DIR, `${name}.pcap`)));

  test("decode to the golden text (UPDATE_GOLDEN=1 to regenerate)", () => {
    const text =
      datagrams
        .map((d) => `# frame ${d.frame}: ${d.src}:${d.srcPort} -> ${d.dst}:${d.dstPort}, ${d.payload.length} bytes\n${describePacket(parsePacket(d.payload))}`)
        .join("\n") + "\n";
    const golden = join(DIR, "golden", `${name}.txt`);
    if (process.env.UPDATE_GOLDEN === "1") writeFileSync(golden, text);
    expect(text).toBe(readFileSync(golden, "utf8"));
  });

  test("the probe carries tsize, the real request does not; format reproduces the bytes", () => {
    expect(datagrams.length).toBe(2);
    const [probe, real] = datagrams.map((d) => parsePacket(d.payload));
    expect(probe).toMatchObject({ op: "RRQ", filename: "ipxe.efi", options: [["tsize", "0"], ["blksize", "1468"], ["windowsize", "4"]] });
    expect(real).toMatchObject({ op: "RRQ", filename: "ipxe.efi", options: [["blksize", "1468"], ["windowsize", "4"]] });
    for (const d of datagrams) {
      const p = parsePacket(d.payload);
      if (p.op !== "RRQ") throw new Error("expected RRQ");
      expect(formatRequest("RRQ", p.filename, p.mode, p.options)).toEqual(d.payload);
    }
  });
});
