// Golden tests: every DHCP packet captured from real firmware (SeaBIOS iPXE, OVMF EDK2, iPXE EFI) and
// real clients against Socle (busybox udhcpc, ISC dhclient, udhcpc behind ISC dhcrelay -a) in
// testdata/*.pcap is decoded to text and compared with testdata/golden/<capture>.txt.
// Regenerate the text after an intended change with: UPDATE_GOLDEN=1 bun test src/dhcp
// Re-capture the client pcaps (as root) with: bun build/capture-dhcp.ts
// Each packet must also survive parse -> format -> parse unchanged, and since these captures have
// no padding quirks (one instance per code, zero padding to 300 bytes), format must reproduce the
// captured bytes exactly.

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hex } from "./bytes.ts";
import { describePacket } from "./describe.ts";
import { formatPacket, parsePacket, type DhcpPacket } from "./packet.ts";
import { readPcapDhcp } from "./testdata/pcap.ts";

const DIR = join(import.meta.dir, "testdata");
const captures = readdirSync(DIR).filter((f) => f.endsWith(".pcap")).sort();

export function packetSummary(p: DhcpPacket): unknown {
  return { ...p, chaddr: hex(p.chaddr), options: [...p.options].map(([c, d]) => [c, hex(d)]) };
}

describe("golden captures", () => {
  test("captures are present", () => {
    expect(captures.length).toBeGreaterThanOrEqual(6);
  });

  for (const name of captures) {
    const datagrams = readPcapDhcp(readFileSync(join(DIR, name)));

    test(`${name}: describePacket matches golden text`, () => {
      expect(datagrams.length).toBeGreaterThan(0);
      const text = datagrams
        .map((d) => {
          const head = `# frame ${d.frame}: ${d.src}:${d.srcPort} -> ${d.dst}:${d.dstPort}, ${d.payload.length} bytes`;
          return `${head}\n${describePacket(parsePacket(d.payload))}`;
        })
        .join("\n");
      const golden = join(DIR, "golden", name.replace(/\.pcap$/, ".txt"));
      if (process.env.UPDATE_GOLDEN === "1") writeFileSync(golden, text);
      expect(text).toBe(readFileSync(golden, "utf8"));
    });

    test(`${name}: parse -> format -> parse round-trips, byte-exact`, () => {
      for (const d of datagrams) {
        const p = parsePacket(d.payload);
        const bytes = formatPacket(p);
        expect(packetSummary(parsePacket(bytes))).toEqual(packetSummary(p));
        expect(hex(bytes)).toBe(hex(d.payload));
      }
    });
  }
});
