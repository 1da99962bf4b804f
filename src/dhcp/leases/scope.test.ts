import { describe, expect, test } from "bun:test";
import { subnetConfig } from "./memory-backend.ts";
import { findScope, parseCidr, scopeOf } from "./scope.ts";

const wide = subnetConfig({ Name: "wide", Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.10", ActiveEnd: "198.51.100.20" });
const upper = subnetConfig({ Name: "upper", Subnet: "198.51.100.128/25" });

describe("scopes", () => {
  test("parseCidr masks host bits and rejects junk", () => {
    expect(parseCidr("198.51.100.7/24")).toEqual({ network: 0xc6336400, prefix: 24 });
    expect(parseCidr("198.51.100.0")).toBeUndefined();
    expect(parseCidr("198.51.100.0/33")).toBeUndefined();
  });

  test("scopeOf works out mask, broadcast and range once per object", () => {
    const s = scopeOf(wide)!;
    expect(s.mask >>> 0).toBe(0xffffff00);
    expect(s.broadcast).toBe(0xc63364ff);
    expect([s.start, s.end]).toEqual([0xc633640a, 0xc6336414]);
    expect(scopeOf(wide)).toBe(s);
    const proxy = scopeOf(subnetConfig({ Subnet: "198.51.100.0/24", Proxy: true }))!;
    expect(proxy.start > proxy.end).toBe(true);
    expect(scopeOf(subnetConfig({ Subnet: "nonsense" }))).toBeUndefined();
  });

  test("the most specific subnet wins", () => {
    expect(findScope([wide, upper], 0xc6336481)?.subnet.Name).toBe("upper");
    expect(findScope([upper, wide], 0xc6336405)?.subnet.Name).toBe("wide");
  });
});
