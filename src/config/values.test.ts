import { describe, expect, test } from "bun:test";
import { ConfigError } from "./config-error.ts";
import { parseBool, parseChoice, parseInterfaceList, parseIPv4OrEmpty, parseListenAddress, parsePort } from "./values.ts";

describe("parsePort", () => {
  test("accepts 0..65535", () => {
    expect(parsePort("--p", "0")).toBe(0);
    expect(parsePort("--p", "8092")).toBe(8092);
    expect(parsePort("--p", "65535")).toBe(65535);
  });
  test.each(["80a", "", "-1", "65536", "1.5", " 80", "0x50", "999999"])("rejects %p", (raw) => {
    expect(() => parsePort("--api-port", raw)).toThrow(
      new ConfigError("--api-port", `invalid port "${raw}" (expected an integer 0-65535)`),
    );
  });
  test("message names the flag and quotes the value", () => {
    expect(() => parsePort("--api-port", "80a")).toThrow('--api-port: invalid port "80a" (expected an integer 0-65535)');
  });
});

describe("parseBool", () => {
  test.each([
    ["true", true],
    ["TRUE", true],
    ["1", true],
    ["yes", true],
    ["false", false],
    ["0", false],
    ["no", false],
  ] as const)("%p -> %p", (raw, want) => {
    expect(parseBool("X", raw)).toBe(want);
  });
  test("rejects other words", () => {
    expect(() => parseBool("SOCLE_DISABLE_DHCP", "on")).toThrow('SOCLE_DISABLE_DHCP: invalid boolean "on"');
  });
});

test("parseChoice", () => {
  expect(parseChoice("--log-level", "warn", ["debug", "info", "warn"])).toBe("warn");
  expect(() => parseChoice("--log-level", "loud", ["debug", "info"])).toThrow(
    '--log-level: invalid value "loud" (expected debug|info)',
  );
});

test("parseIPv4OrEmpty", () => {
  expect(parseIPv4OrEmpty("--address", "")).toBe("");
  expect(parseIPv4OrEmpty("--address", "198.51.100.1")).toBe("198.51.100.1");
  expect(() => parseIPv4OrEmpty("--address", "::1")).toThrow('--address: invalid IPv4 address "::1"');
  expect(() => parseIPv4OrEmpty("--address", "300.1.1.1")).toThrow('invalid IPv4 address "300.1.1.1"');
});

test("parseListenAddress", () => {
  expect(parseListenAddress("--api-listen", "::")).toBe("::");
  expect(parseListenAddress("--api-listen", "127.0.0.1")).toBe("127.0.0.1");
  expect(() => parseListenAddress("--api-listen", "localhost")).toThrow('--api-listen: invalid listen address "localhost"');
});

test("parseInterfaceList", () => {
  expect(parseInterfaceList("--dhcp-interfaces", "")).toEqual([]);
  expect(parseInterfaceList("--dhcp-interfaces", "eth0, enp1s0")).toEqual(["eth0", "enp1s0"]);
  expect(() => parseInterfaceList("--dhcp-interfaces", "eth0,,eth1")).toThrow('invalid interface name "" in "eth0,,eth1"');
  expect(() => parseInterfaceList("--dhcp-interfaces", "averyveryverylongname0")).toThrow("invalid interface name");
  expect(() => parseInterfaceList("--dhcp-interfaces", "a/b")).toThrow('invalid interface name "a/b"');
});
