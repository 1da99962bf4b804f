// `socle events watch` and the SSE reader under it (src/cli/sse.ts, event-stream.ts) over real
// sockets. Against a scripted stream on the fake API (HTTP on loopback): a connection dropped in
// the middle of an event, `retry:`, the default retry, a gap, refusals (400, 401, 403, 404) that
// must not be retried, an answer that is not a stream, silence, keep-alives, back-off, Ctrl-C.
// Against a real Socle (HTTPS on loopback): a change made through the API is printed, a bad
// filter and missing credentials are refused, and SIGINT ends a watching process with exit 0.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ApiClient } from "../src/cli/api-client.ts";
import { watchEvents, type StreamMessage } from "../src/cli/event-stream.ts";
import { runCli } from "../src/cli/main.ts";
import type { StreamDrop } from "../src/cli/sse.ts";
import { startFakeApi, type FakeApi } from "./cli-fake-api.ts";
import { ADMIN_PASSWORD, startTestSocle, type TestSocle } from "./helpers/socle.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "socle-cli-events-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// --- a scripted event stream ----------------------------------------------------------------

interface Writer {
  send(s: string | Uint8Array): void;
  close(): void;
  /** Resolves when the client goes away. */
  gone: Promise<void>;
}

/** What one connection gets: a Response (a refusal), or a stream written by the script. */
type Script = Response | ((w: Writer) => void | Promise<void>);

interface Seen {
  lastEventId: string | null;
  search: string;
  at: number;
  authorization: string | null;
}

interface ScriptedApi {
  api: FakeApi;
  seen: Seen[];
  /** Connections beyond the scripts get a stream that stays open and silent. */
  scripts: Script[];
  closedAt: number[];
}

const enc = new TextEncoder();

function scripted(scripts: Script[]): ScriptedApi {
  const seen: Seen[] = [];
  const closedAt: number[] = [];
  const s: ScriptedApi = { api: undefined as unknown as FakeApi, seen, scripts, closedAt };
  s.api = startFakeApi({
    routes: (req, url) => {
      if (url.pathname !== "/api/v3/events") return undefined;
      seen.push({ lastEventId: req.headers.get("last-event-id"), search: url.search, at: performance.now(), authorization: req.headers.get("authorization") });
      const script = s.scripts.shift() ?? (() => {});
      if (script instanceof Response) return script;
      let gone = () => {};
      const w: Partial<Writer> = { gone: new Promise<void>((r) => (gone = r)) };
      const body = new ReadableStream<Uint8Array>({
        start(ctrl) {
          w.send = (x) => {
            try {
              ctrl.enqueue(typeof x === "string" ? enc.encode(x) : x);
            } catch {}
          };
          w.close = () => {
            closedAt.push(performance.now());
            try {
              ctrl.close();
            } catch {}
          };
          void script(w as Writer);
        },
        cancel() {
          gone();
        },
      });
      req.signal.addEventListener("abort", () => gone());
      return new Response(body, { headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" } });
    },
  });
  return s;
}

const msg = (seq: number, over: Partial<StreamMessage> = {}): StreamMessage => ({
  Seq: seq,
  Time: `2026-12-07T08:00:${String(seq % 60).padStart(2, "0")}.000Z`,
  Type: "machines",
  Action: "create",
  Key: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
  Object: { Name: `m${seq}`, Address: "198.51.100.7" },
  ...over,
});

const frame = (m: StreamMessage) => `id: ${m.Seq}\nevent: ${m.Type}.${m.Action}\ndata: ${JSON.stringify(m)}\n\n`;

interface Run {
  code: number;
  out: string[];
  err: string[];
  stderr: string;
}

async function cli(endpoint: string, argv: string[], extra: string[] = []): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(["-E", endpoint, ...extra, ...argv], { SOCLE_DATA_DIR: join(dir, "none") }, {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
  }, { serve: async () => 0 });
  return { code, out, err, stderr: err.join("\n") };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await Bun.sleep(10);
  }
}

const parsed = (r: Run) => r.out.map((l) => JSON.parse(l) as StreamMessage);

describe("events watch against a scripted stream", () => {
  test("filters go in the query; json is one event per line; --count ends it with exit 0", async () => {
    const s = scripted([
      (w) => {
        w.send(`: socle events\nretry: 2000\n\n${frame(msg(1))}: keep-alive\n\n${frame(msg(2))}${frame(msg(3))}`);
      },
    ]);
    try {
      const r = await cli(s.api.url, ["events", "watch", "--type", "machines,leases", "--action", "create", "--key", "k1", "--since", "0", "--count", "2"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.out).toEqual([JSON.stringify(msg(1)), JSON.stringify(msg(2))]);
      expect(s.seen).toHaveLength(1);
      expect(new URLSearchParams(s.seen[0]?.search)).toEqual(new URLSearchParams({ type: "machines,leases", action: "create", key: "k1", since: "0" }));
      expect(s.seen[0]?.lastEventId).toBeNull();
    } finally {
      s.api.stop();
    }
  });

  test("-o table: a header, then a row per event; network text cannot reach the terminal raw", async () => {
    const evil = msg(4, { Key: "aa:bb:cc:dd:ee:ff", Type: "timeline", Action: "record", Object: { Kind: "dhcp", Summary: "DISCOVER vendor \u001b]0;owned\u0007 \u009b2J" } });
    const s = scripted([(w) => w.send(frame(msg(3)) + frame(evil))]);
    try {
      const r = await cli(s.api.url, ["-o", "table", "events", "watch", "--count", "2"]);
      expect(r.code).toBe(0);
      expect(r.out[0]).toMatch(/^TIME\s+TYPE\s+ACTION\s+KEY\s+SUMMARY$/);
      expect(r.out[1]).toMatch(/^2026-12-07T08:00:03\.000Z\s+machines\s+create\s+00000000-0000-4000-8000-000000000003\s+Name=m3 Address=198\.51\.100\.7$/);
      expect(r.out[2]).toContain("timeline      record    aa:bb:cc:dd:ee:ff");
      expect(r.out[2]).toContain("dhcp: DISCOVER vendor \\x1b]0;owned\\x07 \\x9b2J");
      expect(r.out.join("")).not.toMatch(/[\u001b\u0007\u009b]/);
    } finally {
      s.api.stop();
    }
  });

  test("-o yaml: one document per event", async () => {
    const s = scripted([(w) => w.send(frame(msg(1)) + frame(msg(2)))]);
    try {
      const r = await cli(s.api.url, ["-o", "yaml", "events", "watch", "--count", "2"]);
      expect(r.code).toBe(0);
      const docs = r.out.join("\n").split(/^---$/m).filter((d) => d.trim() !== "");
      expect(docs.map((d) => Bun.YAML.parse(d))).toEqual([msg(1), msg(2)]);
    } finally {
      s.api.stop();
    }
  });

  test("a connection dropped mid-event: the half event is not printed; the next connection resumes after the last whole one", async () => {
    const whole = frame(msg(6));
    const s = scripted([
      (w) => {
        w.send(`retry: 50\n\n${frame(msg(5))}`);
        w.send(whole.slice(0, whole.length - 20)); // id, event and half the data line
        w.close();
      },
      (w) => w.send(frame(msg(6)) + frame(msg(7))),
    ]);
    try {
      const r = await cli(s.api.url, ["events", "watch", "--count", "3"]);
      expect(r.code).toBe(0);
      expect(parsed(r).map((m) => m.Seq)).toEqual([5, 6, 7]);
      expect(s.seen.map((x) => x.lastEventId)).toEqual([null, "5"]);
      expect(r.err).toEqual([
        "events watch: connection lost (the server closed the stream); reconnecting in 0.05s, resuming after event 5",
        "events watch: reconnected",
      ]);
    } finally {
      s.api.stop();
    }
  });

  test("retry: sets the delay before the next connection; credentials go with every connection", async () => {
    const s = scripted([
      (w) => {
        w.send("retry: 400\n\n");
        w.close();
      },
      (w) => w.send(frame(msg(1))),
    ]);
    try {
      const r = await cli(s.api.url, ["events", "watch", "--count", "1"], ["-U", "admin", "-P", "secret-pw"]);
      expect(r.code).toBe(0);
      const waited = (s.seen[1]?.at ?? 0) - (s.closedAt[0] ?? 0);
      expect(waited).toBeGreaterThanOrEqual(390);
      expect(waited).toBeLessThan(1500);
      expect(s.seen.map((x) => x.authorization)).toEqual([`Basic ${btoa("admin:secret-pw")}`, `Basic ${btoa("admin:secret-pw")}`]);
    } finally {
      s.api.stop();
    }
  });

  test("without retry: the next connection comes after 3 s", async () => {
    const s = scripted([(w) => w.close(), (w) => w.send(frame(msg(1)))]);
    try {
      const r = await cli(s.api.url, ["events", "watch", "--count", "1"]);
      expect(r.code).toBe(0);
      const waited = (s.seen[1]?.at ?? 0) - (s.closedAt[0] ?? 0);
      expect(waited).toBeGreaterThanOrEqual(2950);
      expect(waited).toBeLessThan(4500);
      expect(r.err[0]).toBe("events watch: connection lost (the server closed the stream); reconnecting in 3s");
    } finally {
      s.api.stop();
    }
  });

  test("a gap is a warning on stderr; watching goes on", async () => {
    const s = scripted([(w) => w.send(`retry: 2000\n\nevent: gap\ndata: {"Since":3}\n\n${frame(msg(9))}`)]);
    try {
      const r = await cli(s.api.url, ["events", "watch", "--since", "3", "--count", "1"]);
      expect(r.code).toBe(0);
      expect(parsed(r).map((m) => m.Seq)).toEqual([9]);
      expect(r.err).toEqual(["events watch: warning: the server no longer holds every change after event 3: some were missed"]);
    } finally {
      s.api.stop();
    }
  });

  test("--fail-on-gap: exit 3 at the gap, nothing after it printed", async () => {
    const s = scripted([(w) => w.send(`${frame(msg(2))}event: gap\ndata: {"Since":3}\n\n${frame(msg(9))}`)]);
    try {
      const r = await cli(s.api.url, ["events", "watch", "--since", "3", "--fail-on-gap"]);
      expect(r.code).toBe(3);
      expect(parsed(r).map((m) => m.Seq)).toEqual([2]);
      expect(r.err).toEqual(["Error: the server no longer holds every change after event 3: some were missed"]);
      await until(() => s.seen.length === 1);
    } finally {
      s.api.stop();
    }
  });

  const refusal = (type: string, code: number, text: string) =>
    Response.json({ Model: "events", Key: "", Type: type, Messages: [text], Code: code }, { status: code });

  for (const [type, code, text] of [
    ["Forbidden", 403, "events list: not allowed"],
    ["Unauthorized", 401, "authentication required"],
    ["NotFound", 404, "no such route"],
    ["BadRequest", 400, 'type: unknown type "gizmos"'],
  ] as const) {
    test(`${code}: a clear error, exit 1, and no second connection`, async () => {
      const s = scripted([refusal(type, code, text)]);
      try {
        const r = await cli(s.api.url, ["events", "watch"]);
        expect(r.code).toBe(1);
        expect(r.err[0]?.split("\n")[0]).toBe(`Error: ${type} ${code}: ${text}`);
        expect(r.out).toEqual([]);
        await Bun.sleep(300);
        expect(s.seen).toHaveLength(1);
      } finally {
        s.api.stop();
      }
    });
  }

  test("a 403 after a reconnect (the claim was withdrawn) ends it too", async () => {
    const s = scripted([
      (w) => {
        w.send(`retry: 20\n\n${frame(msg(1))}`);
        w.close();
      },
      refusal("Forbidden", 403, "events list: not allowed"),
    ]);
    try {
      const r = await cli(s.api.url, ["events", "watch"]);
      expect(r.code).toBe(1);
      expect(parsed(r).map((m) => m.Seq)).toEqual([1]);
      expect(r.err.at(-1)).toBe("Error: Forbidden 403: events list: not allowed");
      expect(s.seen.map((x) => x.lastEventId)).toEqual([null, "1"]);
    } finally {
      s.api.stop();
    }
  });

  test("a 200 that is not an event stream is an error, not a reconnect loop", async () => {
    const s = scripted([Response.json([{ Name: "x" }])]);
    try {
      const r = await cli(s.api.url, ["events", "watch"]);
      expect(r.code).toBe(1);
      expect(r.err[0]).toContain('the answer is not an event stream (Content-Type "application/json');
      await Bun.sleep(200);
      expect(s.seen).toHaveLength(1);
    } finally {
      s.api.stop();
    }
  });

  test("Ctrl-C (SIGINT): exit 0, and the connection is closed", async () => {
    let gone: Promise<void> | undefined;
    const s = scripted([
      (w) => {
        gone = w.gone;
        w.send(frame(msg(1)));
      },
    ]);
    try {
      const out: string[] = [];
      const running = runCli(["-E", s.api.url, "events", "watch"], { SOCLE_DATA_DIR: join(dir, "none") }, { out: (x) => out.push(x), err: (x) => out.push(x) }, { serve: async () => 0 });
      await until(() => out.length === 1);
      process.emit("SIGINT");
      expect(await running).toBe(0);
      expect(out).toEqual([JSON.stringify(msg(1))]);
      await Promise.race([gone, Bun.sleep(2000).then(() => Promise.reject(new Error("the connection stayed open")))]);
      expect(process.listenerCount("SIGINT")).toBe(0);
    } finally {
      s.api.stop();
    }
  });

  test("argument mistakes are usage errors before any request", async () => {
    const s = scripted([]);
    try {
      for (const argv of [["--count", "0"], ["--count", "x"], ["--since", "-1"], ["extra"], ["--frob"]]) {
        const r = await cli(s.api.url, ["events", "watch", ...argv]);
        expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
        expect(r.stderr).toContain("usage: socle events watch [--type T]");
      }
      expect(s.seen).toEqual([]);
    } finally {
      s.api.stop();
    }
  });
});

describe("the reader under it (watchEvents)", () => {
  const client = (url: string) => new ApiClient({ endpoint: url, auth: { kind: "none" }, ca: undefined, caLabel: "", insecure: false });

  async function watch(s: ScriptedApi, ms: number, o: { silenceMs?: number; retryMs?: number } = {}) {
    const got: number[] = [];
    const drops: StreamDrop[] = [];
    let opens = 0;
    const ac = new AbortController();
    const done = watchEvents(client(s.api.url), {
      query: {},
      signal: ac.signal,
      onMessage: (m) => got.push(m.Seq),
      onOpen: () => opens++,
      onDrop: (d) => drops.push(d),
      ...o,
    });
    await Bun.sleep(ms);
    ac.abort();
    await done;
    return { got, drops, opens };
  }

  test("45 s of silence in production, here 300 ms: the dead connection is dropped and opened again after the last id", async () => {
    const s = scripted([(w) => w.send(`retry: 30\n\n${frame(msg(4))}`), (w) => w.send(frame(msg(5)))]);
    try {
      const r = await watch(s, 600, { silenceMs: 300 });
      expect(r.got).toEqual([4, 5]);
      expect(r.drops[0]).toEqual({ reason: "no data for 0.3s", retryMs: 30, lastEventId: "4" });
      expect(s.seen.map((x) => x.lastEventId)).toEqual([null, "4"]);
    } finally {
      s.api.stop();
    }
  });

  test("keep-alive comments count as life: no reconnect while they come", async () => {
    const s = scripted([
      async (w) => {
        w.send(frame(msg(1)));
        for (let i = 0; i < 12; i++) {
          await Bun.sleep(100);
          w.send(": keep-alive\n\n");
        }
      },
    ]);
    try {
      const r = await watch(s, 1200, { silenceMs: 300 });
      expect(r.drops).toEqual([]);
      expect(r.opens).toBe(1);
      expect(s.seen).toHaveLength(1);
    } finally {
      s.api.stop();
    }
  });

  test("server errors (503) are retried, waiting longer after each failed attempt; an open stream resets the wait", async () => {
    const unavailable = () => Response.json({ Type: "Unavailable", Code: 503, Messages: ["standby"] }, { status: 503 });
    const s = scripted([unavailable(), unavailable(), unavailable(), (w) => w.send(frame(msg(1)))]);
    try {
      const r = await watch(s, 900, { retryMs: 100 });
      expect(r.got).toEqual([1]);
      expect(r.drops.map((d) => d.retryMs)).toEqual([100, 200, 400]);
      expect(r.drops[0]?.reason).toBe("Unavailable 503: standby");
      const gaps = s.seen.slice(1).map((x, i) => x.at - (s.seen[i]?.at ?? 0));
      expect(gaps[0]).toBeGreaterThanOrEqual(95);
      expect(gaps[1]).toBeGreaterThanOrEqual(195);
      expect(gaps[2]).toBeGreaterThanOrEqual(395);
    } finally {
      s.api.stop();
    }
  });

  test("a server that cannot be reached: retried, not an error", async () => {
    const s = scripted([]);
    const url = s.api.url;
    s.api.stop();
    const got: StreamDrop[] = [];
    const ac = new AbortController();
    const done = watchEvents(client(url), { query: {}, signal: ac.signal, onMessage: () => {}, onDrop: (d) => got.push(d), retryMs: 50 });
    await until(() => got.length >= 2);
    ac.abort();
    await done;
    expect(got[0]?.reason).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/);
  });

  test("an endless event (no blank line for 64 MiB) ends the watch with an error instead of filling memory", async () => {
    const s = scripted([
      async (w) => {
        w.send("data: ");
        const mib = "x".repeat(1024 * 1024);
        for (let i = 0; i < 66; i++) {
          w.send(mib);
          await Bun.sleep(1);
        }
      },
    ]);
    try {
      const ac = new AbortController();
      const err = await watchEvents(client(s.api.url), { query: {}, signal: ac.signal, onMessage: () => {} }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toBe("the event stream sent an event of more than 67108864 characters: not reading it");
      expect(s.seen).toHaveLength(1);
    } finally {
      s.api.stop();
    }
  });

  test("data that is not a Socle event is skipped with a warning, the stream goes on", async () => {
    const s = scripted([(w) => w.send(`data: not json\n\nevent: machines.create\ndata: {"Seq":"x"}\n\n${frame(msg(2))}`)]);
    try {
      const warnings: string[] = [];
      const got: number[] = [];
      const ac = new AbortController();
      const done = watchEvents(client(s.api.url), { query: {}, signal: ac.signal, onMessage: (m) => got.push(m.Seq), onWarning: (w) => warnings.push(w) });
      await until(() => got.length === 1);
      ac.abort();
      await done;
      expect(warnings).toEqual([
        'ignored an event that is not a Socle event (event "message", 8 bytes of data)',
        'ignored an event that is not a Socle event (event "machines.create", 11 bytes of data)',
      ]);
    } finally {
      s.api.stop();
    }
  });
});

// --- a real Socle -----------------------------------------------------------------------------

describe("events watch against a real Socle", () => {
  let t: TestSocle;
  let caFile: string;
  beforeAll(async () => {
    t = await startTestSocle();
    caFile = join(dir, "ca.pem");
    writeFileSync(caFile, t.socle.caCertPem);
  });
  afterAll(async () => {
    await t.stop();
  });
  const creds = () => ["--ca-file", caFile, "-U", "admin", "-P", ADMIN_PASSWORD];

  /** The Seq of the newest change: a profile made now, as the stream reports it. */
  async function currentSeq(): Promise<number> {
    const name = `seq-${crypto.randomUUID().slice(0, 8)}`;
    expect((await t.call("POST", "/api/v3/profiles", { body: { Name: name } })).status).toBe(201);
    const r = await cli(t.base, ["events", "watch", "--type", "profiles", "--key", name, "--since", "0", "--count", "1"], creds());
    expect(r.code).toBe(0);
    return parsed(r)[0]?.Seq as number;
  }

  test("a machine created through the API is printed as it happens", async () => {
    const from = await currentSeq();
    const watching = cli(t.base, ["-o", "table", "events", "watch", "--type", "machines", "--action", "create", "--since", String(from), "--count", "1"], creds());
    await Bun.sleep(300);
    const m = (await t.call("POST", "/api/v3/machines", { body: { Name: "watched1", Address: "198.51.100.21" } })).body;
    const r = await watching;
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/^TIME\s+TYPE/);
    expect(r.out[1]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\s+machines\\s+create\\s+${m.Uuid}\\s+Name=watched1 Address=198\\.51\\.100\\.21`));
  });

  test("json: the server's message, secrets not included; updates and deletes follow in order", async () => {
    const from = await currentSeq();
    const watching = cli(t.base, ["events", "watch", "--type", "machines", "--since", String(from), "--count", "3"], creds());
    await Bun.sleep(300);
    const m = (await t.call("POST", "/api/v3/machines", { body: { Name: "watched2" } })).body;
    await t.call("PATCH", `/api/v3/machines/${m.Uuid}`, { raw: JSON.stringify([{ op: "add", path: "/Description", value: "x" }]), type: "application/json-patch+json" });
    await t.call("DELETE", `/api/v3/machines/${m.Uuid}`);
    const r = await watching;
    expect(r.code).toBe(0);
    const got = parsed(r);
    expect(got.map((e) => `${e.Action} ${e.Key}`)).toEqual([`create ${m.Uuid}`, `update ${m.Uuid}`, `delete ${m.Uuid}`]);
    expect(got[0]?.Seq).toBeLessThan(got[2]?.Seq as number);
    expect(got[0]?.Object.Secret).toBeUndefined();
  });

  test("a filter the server does not know: its 400, exit 1, at once", async () => {
    const started = performance.now();
    const r = await cli(t.base, ["events", "watch", "--type", "gizmos"], creds());
    expect(r.code).toBe(1);
    expect(r.err[0]).toBe('Error: BadRequest 400: type: unknown type "gizmos"');
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("no credentials: 401 with the hint, exit 1", async () => {
    const r = await cli(t.base, ["events", "watch"], ["--ca-file", caFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Unauthorized 401");
    expect(r.stderr).toContain("hint: no credentials were given");
  });

  test("a watching process ends with exit 0 on SIGINT", async () => {
    const from = await currentSeq();
    await t.call("POST", "/api/v3/machines", { body: { Name: "watched3" } });
    const script = join(dir, "entry.ts");
    writeFileSync(script, `import { main } from ${JSON.stringify(resolve(import.meta.dir, "../src/cli/run.ts"))};\nawait main(process.argv.slice(2), { serve: async () => 0 });\n`);
    const p = Bun.spawn([process.execPath, script, "-E", t.base, ...creds(), "events", "watch", "--type", "machines", "--since", String(from)], {
      env: { ...process.env, SOCLE_DATA_DIR: join(dir, "none") },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const reader = p.stdout.getReader();
      let text = "";
      const deadline = Date.now() + 10_000;
      while (!text.includes("\n") && Date.now() < deadline) {
        const r = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => ({ done: true, value: undefined }))]);
        if (r.done) break;
        text += new TextDecoder().decode(r.value);
      }
      expect(JSON.parse(text.split("\n")[0] as string).Object.Name).toBe("watched3");
      process.kill(p.pid, "SIGINT");
      const code = await Promise.race([p.exited, Bun.sleep(5000).then(() => "still running")]);
      expect(code).toBe(0);
      expect(await new Response(p.stderr).text()).toBe("");
    } finally {
      if (p.exitCode === null) p.kill();
    }
  });
});
