import { describe, expect, test } from "bun:test";
import { canonicalIp, ipToBytes } from "./ip-bytes.ts";

describe("ipToBytes", () => {
  test("IPv4", () => {
    expect(Array.from(ipToBytes("192.0.2.10")!)).toEqual([192, 0, 2, 10]);
    expect(Array.from(ipToBytes("127.0.0.1")!)).toEqual([127, 0, 0, 1]);
  });

  test("IPv6 spellings of one address agree", () => {
    const one = Array.from(ipToBytes("::1")!);
    expect(one).toEqual([...new Array(15).fill(0), 1]);
    expect(Array.from(ipToBytes("0:0:0:0:0:0:0:1")!)).toEqual(one);
    expect(Array.from(ipToBytes("FE80::A")!)).toEqual(Array.from(ipToBytes("fe80:0:0:0:0:0:0:a")!));
    expect(Array.from(ipToBytes("fe80::1%eth0")!)).toEqual(Array.from(ipToBytes("fe80::1")!));
    expect(Array.from(ipToBytes("::")!)).toEqual(new Array(16).fill(0));
    expect(Array.from(ipToBytes("2001:db8::")!)).toEqual([0x20, 0x01, 0x0d, 0xb8, ...new Array(12).fill(0)]);
  });

  test("IPv4-mapped and embedded IPv4 tails", () => {
    expect(Array.from(ipToBytes("::ffff:192.0.2.1")!)).toEqual([...new Array(10).fill(0), 0xff, 0xff, 192, 0, 2, 1]);
    expect(canonicalIp("64:ff9b::192.0.2.33")).toBe("64:ff9b:0:0:0:0:c000:221");
    expect(canonicalIp("1:2:3:4:5:6:1.2.3.4")).toBe("1:2:3:4:5:6:102:304");
  });

  test("not addresses", () => {
    for (const s of ["", "localhost", "256.0.0.1", "1.2.3", "::g", "1::2::3", "fe80::1%", "198.51.100.1%eth0"]) {
      expect(ipToBytes(s)).toBeUndefined();
    }
  });

  test("canonicalIp", () => {
    expect(canonicalIp("::1")).toBe("0:0:0:0:0:0:0:1");
    expect(canonicalIp("FE80:0:0:0:0:0:1:2")).toBe("fe80:0:0:0:0:0:1:2");
    expect(canonicalIp("198.51.100.1")).toBe("198.51.100.1");
    expect(canonicalIp("nope")).toBeUndefined();
  });
});
