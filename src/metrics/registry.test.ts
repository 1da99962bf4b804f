import { describe, expect, test } from "bun:test";
import { PlainHistogram } from "./histogram.ts";
import { MetricsRegistry, byLabel, single } from "./registry.ts";
import { parseExposition, promtoolCheck } from "./test-util.ts";

describe("MetricsRegistry", () => {
  test("values are read at scrape time, through the callbacks", async () => {
    const reg = new MetricsRegistry();
    const counts = { hits: 0, byKind: {} as Record<string, number> };
    reg.add({ name: "t_hits_total", help: "Hits", type: "counter", read: () => [{ value: counts.hits }] });
    reg.add({ name: "t_kinds_total", help: "By kind", type: "counter", labelNames: ["kind"], read: () => byLabel("kind", counts.byKind) });
    expect(parseExposition(await reg.text()).value("t_hits_total")).toBe(0);
    counts.hits = 41;
    counts.byKind = { b: 2, a: 1 };
    const e = parseExposition(await reg.text());
    expect(e.value("t_hits_total")).toBe(41);
    expect(e.samples.filter((s) => s.name === "t_kinds_total").map((s) => s.labels.kind)).toEqual(["a", "b"]);
    expect(e.value("t_kinds_total", { kind: "b" })).toBe(2);
    expect(reg.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
  });

  test("label values are escaped; the output parses and passes promtool", async () => {
    const reg = new MetricsRegistry();
    reg.add({ name: "t_odd", help: 'Help with a backslash \\ and "quotes"', type: "gauge", labelNames: ["subnet"], read: () => [{ labels: { subnet: 'a"b\\c\nd' }, value: 1.5 }] });
    const h = new PlainHistogram([0.1, 1]);
    h.observe(0.05);
    h.observe(0.5);
    h.observe(7);
    reg.add({ name: "t_seconds", help: "Durations", type: "histogram", read: () => h.samples() });
    reg.add({ name: "t_off", help: "A service that is not running", type: "gauge", read: () => single(undefined) });
    const text = await reg.text();
    const e = parseExposition(text);
    expect(e.value("t_odd", { subnet: 'a"b\\c\nd' })).toBe(1.5);
    expect(e.value("t_seconds_bucket", { le: "0.1" })).toBe(1);
    expect(e.value("t_seconds_bucket", { le: "1" })).toBe(2);
    expect(e.value("t_seconds_bucket", { le: "+Inf" })).toBe(3);
    expect(e.value("t_seconds_sum")).toBeCloseTo(7.55);
    expect(e.value("t_seconds_count")).toBe(3);
    expect(e.samples.some((s) => s.name === "t_off")).toBe(false);
    const check = promtoolCheck(text);
    if (!check) console.log("promtool not installed (Debian package prometheus): skipping promtool check metrics");
    else expect(check).toEqual({ code: 0, output: "" });
  });

  test("a label that was not declared fails the scrape instead of making a new series", async () => {
    const reg = new MetricsRegistry();
    reg.add({ name: "t_leak", help: "h", type: "gauge", labelNames: ["subnet"], read: () => [{ labels: { mac: "52:54:00:00:00:01" }, value: 1 }] });
    await expect(reg.text()).rejects.toThrow('metric "t_leak": label "mac" is not declared');
  });

  test("prom-client is loaded on the first scrape; metrics added before and after it are all served, in the order added", async () => {
    const reg = new MetricsRegistry();
    reg.add({ name: "t_b", help: "b", type: "gauge", read: () => [{ value: 2 }] });
    reg.add({ name: "t_a", help: "a", type: "gauge", read: () => [{ value: 1 }] });
    expect(reg.loaded).toBe(false);
    // Two first scrapes at once: both answered alike (the load is synchronous, so the first
    // makes the one registry before the second asks).
    const [one, two] = await Promise.all([reg.text(), reg.text()]);
    expect(one).toBe(two);
    expect(reg.loaded).toBe(true);
    expect(parseExposition(one).samples.map((s) => s.name)).toEqual(["t_b", "t_a"]);
    reg.add({ name: "t_c", help: "c", type: "gauge", read: () => [{ value: 3 }] });
    expect(parseExposition(await reg.text()).samples.map((s) => [s.name, s.value])).toEqual([
      ["t_b", 2],
      ["t_a", 1],
      ["t_c", 3],
    ]);
  });

  test("a process that builds a registry and never scrapes it does not load prom-client", async () => {
    const code = `const { MetricsRegistry } = await import(${JSON.stringify(new URL("./registry.ts", import.meta.url).pathname)});
      const reg = new MetricsRegistry();
      reg.add({ name: "t_x_total", help: "x", type: "counter", read: () => [{ value: 1 }] });
      const loaded = () => Object.keys(require.cache).some((k) => k.includes("/node_modules/prom-client/"));
      const before = loaded();
      await reg.text();
      console.log(JSON.stringify({ before, after: loaded() }));`;
    const proc = Bun.spawn([process.execPath, "-e", code], { stdout: "pipe", stderr: "pipe" });
    const [out, err, exit] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(err).toBe("");
    expect(exit).toBe(0);
    expect(JSON.parse(out.trim())).toEqual({ before: false, after: true });
  });

  test("names are checked when a metric is added", () => {
    const reg = new MetricsRegistry();
    expect(() => reg.add({ name: "t-dash", help: "h", type: "gauge", read: () => [] })).toThrow("is not a Prometheus metric name");
    expect(() => reg.add({ name: "t_count", help: "h", type: "counter", read: () => [] })).toThrow("must end in _total");
    expect(() => reg.add({ name: "t_x", help: "h", type: "gauge", labelNames: ["le"], read: () => [] })).toThrow('label name "le" is not allowed');
    expect(() => reg.add({ name: "t_x", help: "h", type: "gauge", labelNames: ["__x"], read: () => [] })).toThrow('label name "__x"');
    reg.add({ name: "t_x", help: "h", type: "gauge", read: () => [] });
    expect(() => reg.add({ name: "t_x", help: "h", type: "gauge", read: () => [] })).toThrow("registered twice");
  });
});

describe("PlainHistogram", () => {
  test("buckets are cumulative; a value on a bound falls in that bound's bucket", () => {
    const h = new PlainHistogram([1, 2, 5]);
    for (const v of [0, 1, 1.5, 2, 5, 6]) h.observe(v);
    const s = h.samples();
    expect(s.filter((x) => x.suffix === "_bucket").map((x) => [x.labels!.le, x.value])).toEqual([
      ["1", 2],
      ["2", 4],
      ["5", 5],
      ["+Inf", 6],
    ]);
    expect(h.count).toBe(6);
    expect(h.sum).toBe(15.5);
    expect(() => new PlainHistogram([1, 1])).toThrow("must increase");
  });
});
