// The --metrics-listen listener over a real loopback socket: /metrics and nothing else.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { createLogger } from "../log/logger.ts";
import { startMetricsListener, type MetricsListener } from "./listener.ts";
import { MetricsRegistry } from "./registry.ts";

let listener: MetricsListener;
let base: string;
beforeAll(() => {
  const registry = new MetricsRegistry();
  registry.add({ name: "t_up", help: "h", type: "gauge", read: () => [{ value: 1 }] });
  listener = startMetricsListener({ hostname: "127.0.0.1", port: 0, registry, log: createLogger({ sink: () => {} }) });
  base = `http://127.0.0.1:${listener.port}`;
});
afterAll(() => listener.stop());

/** A request line sent as written (fetch would normalise the path). */
async function raw(requestLine: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(listener.port, "127.0.0.1");
    let out = "";
    sock.on("data", (d) => (out += d.toString()));
    sock.on("end", () => resolve(out));
    sock.on("error", reject);
    sock.write(`${requestLine}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

test("GET /metrics: the exposition, without credentials; a query string changes nothing", async () => {
  for (const path of ["/metrics", "/metrics?token=x&access_token=y"]) {
    const r = await fetch(base + path);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await r.text()).toContain("t_up 1\n");
  }
  const head = await fetch(`${base}/metrics`, { method: "HEAD" });
  expect(head.status).toBe(200);
  expect(await head.text()).toBe("");
});

test("nothing but /metrics: API paths, other paths, traversal and encodings are 404; other methods 405", async () => {
  for (const path of ["/", "/api/v3/info", "/api/v3/machines", "/metrics/", "/metricsx", "/metrics/../api/v3/info", "/%6detrics", "/METRICS", "/../../etc/passwd", "/metrics%2f..%2fapi"]) {
    const r = await raw(`GET ${path} HTTP/1.1`);
    expect(r.startsWith("HTTP/1.1 404")).toBe(true);
    expect(r).not.toContain("t_up");
  }
  for (const method of ["POST", "PUT", "DELETE"]) {
    const r = await fetch(`${base}/metrics`, { method, body: method === "DELETE" ? undefined : "x" });
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("GET, HEAD");
  }
});
