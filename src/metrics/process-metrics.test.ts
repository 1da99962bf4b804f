import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { MetricsRegistry } from "./registry.ts";
import { maxOpenFiles, registerProcessMetrics } from "./process-metrics.ts";
import { parseExposition } from "./test-util.ts";

test("process metrics match what the process says of itself", async () => {
  const reg = new MetricsRegistry();
  const proc = registerProcessMetrics(reg, { version: "9.9.9" });
  try {
    const before = process.cpuUsage();
    const e = parseExposition(await reg.text());
    const after = process.cpuUsage();
    const cpu = e.value("process_cpu_seconds_total")!;
    expect(cpu).toBeGreaterThanOrEqual((before.user + before.system) / 1e6);
    expect(cpu).toBeLessThanOrEqual((after.user + after.system) / 1e6);
    const rss = e.value("process_resident_memory_bytes")!;
    expect(Math.abs(rss - process.memoryUsage.rss()) / rss).toBeLessThan(0.2);
    const start = e.value("process_start_time_seconds")!;
    expect(start).toBeLessThanOrEqual(Date.now() / 1000);
    expect(start).toBeGreaterThan(Date.now() / 1000 - process.uptime() - 5);
    expect(e.value("socle_build_info", { version: "9.9.9" })).toBe(1);
    if (process.platform === "linux") {
      const fds = e.value("process_open_fds")!;
      expect(Math.abs(fds - (readdirSync("/proc/self/fd").length - 1))).toBeLessThanOrEqual(2);
      expect(e.value("process_max_fds")).toBeGreaterThan(fds);
    }
  } finally {
    proc.stop();
  }
});

test("event-loop delay: no quantiles before the first window; a blocked loop shows in the next one", async () => {
  const reg = new MetricsRegistry();
  const proc = registerProcessMetrics(reg, { version: "0", windowMs: 3_600_000 });
  try {
    let e = parseExposition(await reg.text());
    expect(e.samples.filter((s) => s.name === "socle_event_loop_delay_seconds")).toEqual([]);
    expect(e.value("socle_event_loop_delay_seconds_count")).toBe(0);
    await Bun.sleep(50);
    const until = Date.now() + 120;
    while (Date.now() < until) {} // block the loop for 120 ms
    await Bun.sleep(30);
    proc.rotate();
    e = parseExposition(await reg.text());
    expect(e.value("socle_event_loop_delay_seconds", { quantile: "1" })).toBeGreaterThan(0.08);
    expect(e.value("socle_event_loop_delay_seconds", { quantile: "0.5" })).toBeLessThan(0.08);
    expect(e.value("socle_event_loop_delay_seconds_count")).toBeGreaterThan(0);
    expect(e.value("socle_event_loop_delay_seconds_sum")).toBeGreaterThan(0.08);
  } finally {
    proc.stop();
  }
});

test("maxOpenFiles reads the soft limit of /proc/self/limits", () => {
  const limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n";
  expect(maxOpenFiles(limits)).toBe(1024);
  expect(maxOpenFiles("Max open files            unlimited            unlimited            files\n")).toBeUndefined();
  expect(maxOpenFiles("")).toBeUndefined();
});
