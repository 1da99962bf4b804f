import { expect, test } from "bun:test";
import { counterDelta, histogramDelta, parseHistogram, parseNstat } from "./server-counters.ts";

test("parseNstat reads absolute counters and skips the header", () => {
  const text = "#kernel\nUdpInDatagrams                  1204               0.0\nUdpRcvbufErrors                 17                 0.0\n";
  expect(parseNstat(text)).toEqual({ UdpInDatagrams: 1204, UdpRcvbufErrors: 17 });
  expect(counterDelta({ UdpInDatagrams: 1000 }, { UdpInDatagrams: 1204, UdpRcvbufErrors: 17 })).toEqual({ UdpInDatagrams: 204, UdpRcvbufErrors: 17 });
});

const scrape = (b: number[], sum: number) =>
  [
    "# HELP socle_store_fsync_seconds Duration",
    "# TYPE socle_store_fsync_seconds histogram",
    `socle_store_fsync_seconds_bucket{le="0.0005"} ${b[0]}`,
    `socle_store_fsync_seconds_bucket{le="0.001"} ${b[1]}`,
    `socle_store_fsync_seconds_bucket{le="0.0025"} ${b[2]}`,
    `socle_store_fsync_seconds_bucket{le="+Inf"} ${b[3]}`,
    `socle_store_fsync_seconds_sum ${sum}`,
    `socle_store_fsync_seconds_count ${b[3]}`,
    "socle_store_fsync_seconds_other 3",
  ].join("\n");

test("parseHistogram: cumulative buckets with +Inf last, sum and count; absent is undefined", () => {
  const h = parseHistogram(scrape([1, 2, 3, 4], 0.5), "socle_store_fsync_seconds")!;
  expect(h.buckets.map((b) => b.le)).toEqual([0.0005, 0.001, 0.0025, Infinity]);
  expect(h.count).toBe(4);
  expect(h.sum).toBe(0.5);
  expect(parseHistogram(scrape([1, 2, 3, 4], 0.5), "socle_other_seconds")).toBeUndefined();
});

test("histogramDelta: counts, mean and the buckets of p50 and p99 between two scrapes", () => {
  const before = parseHistogram(scrape([10, 10, 10, 10], 0.004), "socle_store_fsync_seconds");
  // 100 new observations: 10 <= 0.5 ms, 80 in (0.5, 1] ms, 9 in (1, 2.5] ms, 1 above.
  const after = parseHistogram(scrape([20, 100, 109, 110], 0.104), "socle_store_fsync_seconds")!;
  const d = histogramDelta(before, after);
  expect(d.count).toBe(100);
  expect(d.sum).toBeCloseTo(0.1, 9);
  expect(d.mean).toBeCloseTo(0.001, 9);
  expect(d.p50Le).toBe(0.001);
  expect(d.p99Le).toBe(0.0025);
  const none = histogramDelta(after, after);
  expect(none.count).toBe(0);
  expect(Number.isNaN(none.mean)).toBe(true);
  expect(histogramDelta(undefined, after).count).toBe(110);
});
