// The event stream (SSE and websocket) publishes every change with type/action/key filters.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { readSse } from "./helpers/sse.ts";
import { startTestSocle, basic, ADMIN_PASSWORD, type TestSocle } from "./helpers/socle.ts";

let s: TestSocle;
beforeAll(async () => {
  s = await startTestSocle();
});
afterAll(async () => {
  await s.stop();
});


test("SSE delivers filtered changes in order, without secrets", async () => {
  const res = await s.req("GET", "/api/v3/events?type=machines&action=create,delete");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const reading = readSse(res, 2);
  await Bun.sleep(50);
  await s.call("POST", "/api/v3/profiles", { body: { Name: "not-a-machine" } });
  const m = (await s.call("POST", "/api/v3/machines", { body: { Name: "ev1" } })).body;
  await s.call("PATCH", `/api/v3/machines/${m.Uuid}`, { body: [{ op: "add", path: "/Description", value: "x" }] });
  await s.call("DELETE", `/api/v3/machines/${m.Uuid}`);
  const events = await reading;
  expect(events.map((e) => `${e.Type}.${e.Action}.${e.Key}`)).toEqual([`machines.create.${m.Uuid}`, `machines.delete.${m.Uuid}`]);
  expect(events[0].Seq).toBeLessThan(events[1].Seq);
  expect(events[0].Object.Secret).toBeUndefined();
});

test("SSE resumes from Last-Event-ID", async () => {
  const a = await s.call("POST", "/api/v3/profiles", { body: { Name: "resume-a" } });
  expect(a.status).toBe(201);
  const first = await readSse(await s.req("GET", "/api/v3/events?type=profiles&since=0"), 100, 500);
  const last = first[first.length - 1];
  expect(last.Key).toBe("resume-a");
  await s.call("POST", "/api/v3/profiles", { body: { Name: "resume-b" } });
  const res = await s.req("GET", "/api/v3/events?type=profiles", { headers: { "Last-Event-ID": String(last.Seq) } });
  const next = await readSse(res, 1);
  expect(next.map((e) => e.Key)).toEqual(["resume-b"]);
});

test("bad filters are 400", async () => {
  expect((await s.call("GET", "/api/v3/events?type=gizmos")).status).toBe(400);
  expect((await s.call("GET", "/api/v3/events?action=explode")).status).toBe(400);
  expect((await s.call("GET", "/api/v3/events?since=abc")).status).toBe(400);
});

test("websocket delivers changes", async () => {
  const ws = new WebSocket(`wss://127.0.0.1:${s.socle.apiPort}/api/v3/ws?type=machines`, {
    headers: { Authorization: basic("admin", ADMIN_PASSWORD) },
    tls: { ca: s.socle.caCertPem },
  } as any);
  const got: any[] = [];
  const opened = new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = (e) => reject(new Error(`websocket error: ${String((e as any).message ?? e)}`));
  });
  ws.onmessage = (m) => got.push(JSON.parse(String(m.data)));
  await opened;
  const m = (await s.call("POST", "/api/v3/machines", { body: { Name: "ws1" } })).body;
  for (let i = 0; i < 50 && got.length === 0; i++) await Bun.sleep(20);
  ws.close();
  expect(got[0]?.Key).toBe(m.Uuid);
  expect(got[0]?.Action).toBe("create");
});
