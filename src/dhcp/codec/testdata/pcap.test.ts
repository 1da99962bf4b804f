import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readPcapDhcp, readPcapUdp } from "./pcap.ts";

test("reads UDP datagrams from a classic little-endian pcap", () => {
  const all = readPcapUdp(readFileSync(join(import.meta.dir, "bios-dhcp.pcap")));
  const dhcp = readPcapDhcp(readFileSync(join(import.meta.dir, "bios-dhcp.pcap")));
  expect(dhcp.length).toBe(8);
  expect(all.length).toBeGreaterThanOrEqual(dhcp.length);
  expect(dhcp[0]).toMatchObject({ frame: 1, src: "0.0.0.0", dst: "255.255.255.255", srcPort: 68, dstPort: 67 });
  expect(dhcp[0]?.payload.length).toBe(400);
});

test("rejects what it cannot read", () => {
  expect(() => readPcapUdp(new Uint8Array(10))).toThrow("shorter than the 24-byte file header");
  expect(() => readPcapUdp(new Uint8Array(24))).toThrow("is not libpcap");
  const f = readFileSync(join(import.meta.dir, "bios-dhcp.pcap"));
  expect(() => readPcapUdp(f.subarray(0, 100))).toThrow("claims 442 bytes but 60 remain");
});
