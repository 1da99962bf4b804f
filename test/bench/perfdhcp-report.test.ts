import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseExchangeDelays, parsePerfdhcp, quantile } from "./perfdhcp-report.ts";

// Captured from perfdhcp 2.2.0 (Debian kea-admin) against kea-dhcp4 in namespaces.
const fixture = (name: string) => readFileSync(join(import.meta.dir, "testdata", name), "utf8");

describe("parsePerfdhcp", () => {
  test("basic scenario: rate, both stages, combined drops", () => {
    const r = parsePerfdhcp(fixture("perfdhcp-basic.txt"));
    expect(r.rate).toBeCloseTo(1998.45, 2);
    expect(r.discoverOffer.sent).toBe(3999);
    expect(r.discoverOffer.received).toBe(3999);
    expect(r.discoverOffer.avgMs).toBeCloseTo(0.334, 3);
    expect(r.discoverOffer.maxMs).toBeCloseTo(4.746, 3);
    expect(r.requestAck.sent).toBeGreaterThan(0);
    expect(r.dropsPct).toBe(0);
    expect(r.avalancheSeconds).toBeUndefined();
  });

  test("avalanche: time to provision all clients and resends", () => {
    const r = parsePerfdhcp(fixture("perfdhcp-avalanche.txt"));
    expect(r.avalancheSeconds).toBeCloseTo(1.808228, 6);
    expect(r.resent).toBe(50);
    expect(r.discoverOffer.sent).toBe(200);
  });

  test("no server: 100 % drops, -nan ratio and n/a delays read as zero", () => {
    const r = parsePerfdhcp(fixture("perfdhcp-no-answers.txt"));
    expect(r.rate).toBe(0);
    expect(r.discoverOffer.received).toBe(0);
    expect(r.requestAck.sent).toBe(0);
    expect(r.requestAck.dropsPct).toBe(0);
    expect(r.dropsPct).toBe(100);
    expect(r.discoverOffer.avgMs).toBe(0);
  });

  test("combines the stages' drop ratios", () => {
    const text = fixture("perfdhcp-basic.txt")
      .replace(/drops ratio: 0 %/, "drops ratio: 2 %")
      .replace(/drops ratio: 0\.000 %/, "drops ratio: 1.000 %");
    const r = parsePerfdhcp(text);
    expect(r.discoverOffer.dropsPct).toBe(2);
    expect(r.requestAck.dropsPct).toBe(1);
    expect(r.dropsPct).toBeCloseTo(100 * (1 - 0.98 * 0.99), 9);
  });

  test("an incomplete report is an error naming what is missing", () => {
    expect(() => parsePerfdhcp("Error running perfdhcp: cannot bind")).toThrow(/no "Rate:" line/);
    const cut = fixture("perfdhcp-basic.txt").split("***Statistics for: REQUEST-ACK***")[0] as string;
    expect(() => parsePerfdhcp(cut)).toThrow(/no "REQUEST-ACK" statistics/);
  });
});

describe("parseExchangeDelays", () => {
  // The -x t listing of perfdhcp 2.2.0: times since its start, HHMMSS.ffffff.
  const listing = [
    "***Timestamps for packets: DISCOVER-OFFER***",
    "sent / received: 000000.000116 / 000000.000580",
    "",
    "***Timestamps for packets: REQUEST-ACK***",
    "sent / received: 000000.000654 / 000000.001026",
    "sent / received: 000059.999900 / 000100.000400",
    "sent / received: 010000.100000 / 010000.103000",
  ].join("\n");

  test("one delay per exchange of the stage asked for, across minute and hour boundaries", () => {
    const d = parseExchangeDelays(listing, "REQUEST-ACK");
    expect(d.length).toBe(3);
    expect(d[0]).toBeCloseTo(0.372, 6);
    expect(d[1]).toBeCloseTo(0.5, 6);
    expect(d[2]).toBeCloseTo(3, 6);
    expect(parseExchangeDelays(listing, "DISCOVER-OFFER")).toHaveLength(1);
  });

  test("no listing is an error saying how to get one", () => {
    expect(() => parseExchangeDelays(fixture("perfdhcp-basic.txt"), "REQUEST-ACK")).toThrow(/-x t/);
  });

  test("quantile: nearest rank; NaN for none", () => {
    const v = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(quantile(v, 0.5)).toBe(50);
    expect(quantile(v, 0.99)).toBe(99);
    expect(quantile(v, 1)).toBe(100);
    expect(quantile([7], 0.99)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
  });
});
