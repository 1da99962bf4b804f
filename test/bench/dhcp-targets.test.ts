import { expect, test } from "bun:test";
import { memoryOf, prefixToMask } from "./dhcp-targets.ts";

test("prefixToMask: dnsmasq's netmask form of a prefix length", () => {
  expect(prefixToMask(24)).toBe("255.255.255.0");
  expect(prefixToMask(15)).toBe("255.254.0.0");
  expect(prefixToMask(32)).toBe("255.255.255.255");
  expect(prefixToMask(0)).toBe("0.0.0.0");
  expect(() => prefixToMask(33)).toThrow(/invalid prefix length "33"/);
});

test("memoryOf reads VmRSS and VmHWM of a live process, undefined for a missing one", () => {
  if (process.platform !== "linux") return;
  const m = memoryOf(process.pid)!;
  expect(m.rssKb).toBeGreaterThan(1000);
  expect(m.peakKb).toBeGreaterThanOrEqual(m.rssKb);
  expect(memoryOf(2 ** 22 + 7)).toBeUndefined();
});
