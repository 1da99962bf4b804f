import { describe, expect, test } from "bun:test";
import { hex } from "./bytes.ts";
import { decodeRelayAgentInfo, encodeRelayAgentInfo } from "./relay-agent.ts";

describe("option 82 relay agent information", () => {
  test("typed sub-options and unknown ones in order", () => {
    const d = Uint8Array.of(1, 4, 0x65, 0x74, 0x68, 0x31, 2, 2, 0xaa, 0xbb, 5, 4, 10, 1, 2, 0, 11, 4, 10, 1, 2, 1, 99, 0, 0, 1, 7);
    const info = decodeRelayAgentInfo(d);
    expect(Buffer.from(info.circuitId!).toString()).toBe("eth1");
    expect(hex(info.remoteId!)).toBe("aabb");
    expect(info.linkSelection).toBe("10.1.2.0");
    expect(info.serverIdOverride).toBe("10.1.2.1");
    expect(info.subOptions.map((s) => s.code)).toEqual([1, 2, 5, 11, 99, 0]);
  });

  test("codes 0 and 255 are ordinary sub-options (RFC 3046 has no pad or end)", () => {
    expect(decodeRelayAgentInfo(Uint8Array.of(255, 1, 9)).subOptions).toEqual([{ code: 255, data: Uint8Array.of(9) }]);
  });

  test("errors name the sub-option", () => {
    expect(() => decodeRelayAgentInfo(Uint8Array.of(1, 5, 1))).toThrow("sub-option 1 claims 5 bytes but 1 remain");
    expect(() => decodeRelayAgentInfo(Uint8Array.of(2))).toThrow("sub-option 2 has no length byte");
    expect(() => decodeRelayAgentInfo(Uint8Array.of(5, 3, 1, 2, 3))).toThrow("sub-option 5 (link-selection) must be 4 bytes, got 3");
  });

  test("encode round-trips", () => {
    const d = encodeRelayAgentInfo({
      circuitId: Uint8Array.of(1, 2),
      remoteId: Uint8Array.of(3),
      linkSelection: "192.0.2.0",
      serverIdOverride: "192.0.2.1",
      extra: [{ code: 151, data: Uint8Array.of(0) }],
    });
    expect(hex(d)).toBe("010201020201030504c00002000b04c00002019701" + "00");
    const info = decodeRelayAgentInfo(d);
    expect(info.linkSelection).toBe("192.0.2.0");
    expect(info.subOptions.length).toBe(5);
    expect(() => encodeRelayAgentInfo({ circuitId: new Uint8Array(256) })).toThrow("sub-option 1 is 256 bytes");
  });
});
