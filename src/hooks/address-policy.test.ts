import { describe, expect, test } from "bun:test";
import { AddressPolicy, formatAddress, parseAddress, parseCidr } from "./address-policy.ts";

const plain = new AddressPolicy({ servedSubnets: () => ["198.51.100.0/24"] });

describe("address parsing", () => {
  test("IPv4, IPv6, brackets, zones, embedded IPv4; junk is undefined", () => {
    expect(formatAddress(parseAddress("192.0.2.1")!)).toBe("192.0.2.1");
    expect(formatAddress(parseAddress("[2001:db8::1]")!)).toBe("2001:db8::1");
    expect(formatAddress(parseAddress("fe80::1%eth0")!)).toBe("fe80::1");
    expect(formatAddress(parseAddress("::ffff:127.0.0.1")!)).toBe("127.0.0.1");
    expect(formatAddress(parseAddress("::ffff:7f00:1")!)).toBe("127.0.0.1");
    for (const bad of ["", "1.2.3", "1.2.3.256", "01.2.3.4", "1:2:3:4:5:6:7:8:9", "1::2::3", "g::1", "example.test"]) expect(parseAddress(bad)).toBeUndefined();
    expect(parseCidr("10.0.0.0/33")).toBeUndefined();
    expect(parseCidr("fd00::/129")).toBeUndefined();
    expect(parseCidr("10.0.0.0/8")?.bits).toBe(104);
  });
});

describe("refusal", () => {
  test("IPv4: loopback, link-local (the metadata address), multicast, 0/8, broadcast, served subnets", () => {
    for (const a of ["127.0.0.1", "127.255.0.9", "169.254.169.254", "169.254.0.1", "224.0.0.251", "239.1.1.1", "0.0.0.0", "0.1.2.3", "255.255.255.255", "198.51.100.7"]) {
      expect(plain.refusal(a)).toBeString();
    }
    expect(plain.refusal("169.254.169.254")).toContain("metadata");
    expect(plain.refusal("198.51.100.7")).toContain("198.51.100.0/24, a subnet Socle serves");
  });

  test("IPv4: public and private ranges pass (receivers on the management LAN)", () => {
    for (const a of ["203.0.113.9", "10.1.2.3", "192.168.1.10", "172.16.0.1", "198.51.101.1"]) expect(plain.refusal(a)).toBeUndefined();
  });

  test("IPv6: loopback, unspecified, link-local, multicast refused; ULA and global pass", () => {
    for (const a of ["::1", "::", "fe80::1", "febf::1", "ff02::1"]) expect(plain.refusal(a)).toBeString();
    for (const a of ["fd00::1", "fc12::5", "2001:db8::1"]) expect(plain.refusal(a)).toBeUndefined();
  });

  test("IPv4 inside IPv6 is judged as the IPv4 address (mapped, compatible, NAT64)", () => {
    expect(plain.refusal("::ffff:127.0.0.1")).toContain("127.0.0.1 is loopback");
    expect(plain.refusal("::ffff:169.254.169.254")).toContain("link-local");
    expect(plain.refusal("::ffff:a9fe:a9fe")).toContain("link-local");
    expect(plain.refusal("::127.0.0.1")).toContain("loopback");
    expect(plain.refusal("64:ff9b::a9fe:a9fe")).toContain("link-local");
    expect(plain.refusal("::ffff:198.51.100.3")).toContain("a subnet Socle serves");
    expect(plain.refusal("::ffff:203.0.113.9")).toBeUndefined();
  });

  test("the operator's override allows a range before any refusal, and nothing else", () => {
    const lab = new AddressPolicy({ allow: ["127.0.0.1/32", "fd99::/16"], servedSubnets: () => ["198.51.100.0/24"] });
    expect(lab.refusal("127.0.0.1")).toBeUndefined();
    expect(lab.refusal("::ffff:127.0.0.1")).toBeUndefined();
    expect(lab.refusal("127.0.0.2")).toBeString();
    expect(lab.refusal("::1")).toBeString();
    expect(lab.refusal("169.254.169.254")).toBeString();
    expect(() => new AddressPolicy({ allow: ["127.0.0.1"] })).toThrow("not a CIDR");
  });

  test("served subnets are read at each check (a subnet created later counts)", () => {
    const subnets: string[] = [];
    const p = new AddressPolicy({ servedSubnets: () => subnets });
    expect(p.refusal("203.0.113.5")).toBeUndefined();
    subnets.push("203.0.113.0/24");
    expect(p.refusal("203.0.113.5")).toContain("203.0.113.0/24");
  });
});

describe("resolve: URLs as the WHATWG parser reads them, then DNS", () => {
  const none = async (): Promise<string[]> => {
    throw new Error("no DNS in this test");
  };
  test("decimal, octal, hex and short IPv4 spellings are the address they mean", async () => {
    for (const u of ["http://2130706433/", "http://0177.0.0.1/", "http://0x7f.1/", "http://127.1/", "http://[::ffff:127.0.0.1]/", "https://0xa9fea9fe/"]) {
      await expect(plain.resolve(new URL(u), none)).rejects.toThrow("refused");
    }
    expect(await plain.resolve(new URL("http://0xcb.0.113.9:8080/"), none)).toBe("203.0.113.9");
    expect(await plain.resolve(new URL("https://[2001:db8::5]/"), none)).toBe("2001:db8::5");
  });

  test("a name is refused when any of its addresses is (no hoping the good one is picked)", async () => {
    const dns = (list: string[]) => async () => list;
    expect(await plain.resolve(new URL("https://hooks.example.test/"), dns(["203.0.113.9", "2001:db8::9"]))).toBe("203.0.113.9");
    await expect(plain.resolve(new URL("https://hooks.example.test/"), dns(["203.0.113.9", "127.0.0.1"]))).rejects.toThrow("hooks.example.test resolves to 127.0.0.1 is loopback");
    await expect(plain.resolve(new URL("https://hooks.example.test/"), dns([]))).rejects.toThrow("has no address");
  });
});

test("this host's own addresses, its VIP and its HA partner are refused (read at each check); the operator's allow list still wins", () => {
  let own = ["198.51.100.5", "2001:db8::5"];
  const p = new AddressPolicy({ ownAddresses: () => own });
  expect(p.refusal("198.51.100.5")).toContain("an address of this host");
  expect(p.refusal("::ffff:198.51.100.5")).toContain("an address of this host");
  expect(p.refusal("2001:db8::5")).toContain("an address of this host");
  expect(p.refusal("198.51.100.6")).toBeUndefined();
  own = ["198.51.100.6"];
  expect(p.refusal("198.51.100.6")).toContain("an address of this host");
  expect(p.refusal("198.51.100.5")).toBeUndefined();
  expect(new AddressPolicy({ allow: ["198.51.100.6/32"], ownAddresses: () => own }).refusal("198.51.100.6")).toBeUndefined();
});
