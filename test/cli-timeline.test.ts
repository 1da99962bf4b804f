// `machines timeline [--follow]` and `doctor` over real sockets against the fake API (HTTP on
// loopback), which answers the timeline contract (GET machines/<key>/timeline, GET
// timeline?mac=, "timeline"/"record" notices on the event stream). It needs no timeline code on
// the server side.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../src/cli/main.ts";
import type { Diagnosis, Timeline, TimelineEvent } from "../src/cli/timeline-view.ts";
import { startFakeApi, type FakeApi } from "./cli-fake-api.ts";

const MAC = "aa:bb:cc:dd:ee:ff";
const UUID = "00000000-0000-4000-8000-000000000001";
const T0 = Date.parse("2026-12-07T08:00:00.000Z");

const ev = (Seq: number, ms: number, Kind: string, Summary: string, Mac = MAC): TimelineEvent => ({
  Seq,
  Time: new Date(T0 + ms).toISOString(),
  Mac,
  Kind,
  Summary,
  Detail: { Xid: "0x1234", Arch: 7, Relayed: true },
});

const ROGUE: Diagnosis = {
  Code: "rogue-dhcp",
  Severity: "error",
  Message: "Another DHCP server (203.0.113.9) answered this client.",
  Fix: "Stop the DHCP server at 203.0.113.9.",
  Evidence: [2],
};

/** The fake's state: each test sets what the server holds and how the stream behaves. */
let events: TimelineEvent[] = [];
let diagnoses: Diagnosis[] = [];
const seen: { path: string; search: string }[] = [];
/** Connections to /events: each gets the next writer script, later ones stay open and silent. */
let streams: ((send: (s: string) => void, close: () => void) => void)[] = [];

function timeline(mac: string, known: boolean): Timeline {
  const mine = events.filter((e) => e.Mac === mac);
  return { Mac: mac, ...(known ? { Machine: UUID, Name: "web1" } : {}), Events: mine, Diagnoses: known || mine.length ? diagnoses : [] };
}

const notice = (e: TimelineEvent, seq = 40) =>
  `id: ${seq}\nevent: timeline.record\ndata: ${JSON.stringify({ Seq: seq, Time: e.Time, Type: "timeline", Action: "record", Key: e.Mac, Object: e })}\n\n`;

let api: FakeApi;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "socle-cli-timeline-"));
  const enc = new TextEncoder();
  api = startFakeApi({
    routes: (req, url) => {
      const p = url.pathname;
      if (!p.startsWith("/api/v3/events") && !p.endsWith("timeline")) return undefined;
      seen.push({ path: p, search: url.search });
      if (p === "/api/v3/timeline") {
        const mac = url.searchParams.get("mac") ?? "";
        if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) return Response.json({ Type: "BadRequest", Code: 400, Messages: [`mac: invalid MAC "${mac}"`] }, { status: 400 });
        return Response.json(timeline(mac, mac === MAC));
      }
      const m = /^\/api\/v3\/machines\/([^/]+)\/timeline$/.exec(p);
      if (m) {
        const key = decodeURIComponent(m[1] as string);
        if (key !== UUID && key !== "Name:web1") return Response.json({ Type: "NotFound", Code: 404, Messages: [`machines "${key}" not found`] }, { status: 404 });
        return Response.json(timeline(MAC, true));
      }
      const script = streams.shift() ?? (() => {});
      const body = new ReadableStream<Uint8Array>({
        start(ctrl) {
          script(
            (s) => {
              try {
                ctrl.enqueue(enc.encode(s));
              } catch {}
            },
            () => {
              try {
                ctrl.close();
              } catch {}
            },
          );
        },
      });
      return new Response(body, { headers: { "Content-Type": "text/event-stream" } });
    },
  });
});

afterAll(() => {
  api.stop();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  events = [];
  diagnoses = [];
  streams = [];
  seen.length = 0;
});

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(["-E", api.url, ...argv], { SOCLE_DATA_DIR: join(dir, "none") }, { out: (s) => out.push(s), err: (s) => err.push(s) }, { serve: async () => 0 });
  return { code, out, err, stdout: out.join("\n"), stderr: err.join("\n") };
}

/** Runs a command that runs until Ctrl-C; `drive` does what the test needs, then Ctrl-C is sent. */
async function untilInterrupted(argv: string[], drive: (out: string[]) => Promise<void>) {
  const out: string[] = [];
  const err: string[] = [];
  const running = runCli(["-E", api.url, ...argv], { SOCLE_DATA_DIR: join(dir, "none") }, { out: (s) => out.push(s), err: (s) => err.push(s) }, { serve: async () => 0 });
  await drive(out);
  process.emit("SIGINT");
  const code = await running;
  return { code, out, err };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await Bun.sleep(10);
  }
}

describe("machines timeline", () => {
  test("-o table by name: events from the first one's time, then the diagnoses", async () => {
    events = [ev(1, 0, "dhcp", "DISCOVER arch 7 (x64 UEFI) iPXE via 203.0.113.1"), ev(2, 3, "dhcp-foreign", "OFFER from 203.0.113.9")];
    diagnoses = [ROGUE];
    const r = await cli(["-o", "table", "machines", "timeline", "web1"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(seen).toEqual([{ path: "/api/v3/machines/Name%3Aweb1/timeline", search: "" }]);
    expect(r.out[0]?.split("\n")).toEqual([
      `Boot timeline of machine web1 (${UUID}), MAC ${MAC}: 2 events`,
      "times from 2026-12-07T08:00:00.000Z",
      "",
      "SEQ       TIME         KIND          SUMMARY",
      "1         +0.000s      dhcp          DISCOVER arch 7 (x64 UEFI) iPXE via 203.0.113.1",
      "2         +0.003s      dhcp-foreign  OFFER from 203.0.113.9",
      "",
      "Diagnoses:",
      "ERROR    Another DHCP server (203.0.113.9) answered this client. [rogue-dhcp]",
      "         fix: Stop the DHCP server at 203.0.113.9.",
      "         evidence: #2",
    ]);
  });

  test("json by Uuid: the API's answer as it is; an unknown machine is the API's 404", async () => {
    events = [ev(1, 0, "dhcp", "DISCOVER")];
    const r = await cli(["machines", "timeline", UUID]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(timeline(MAC, true));
    const missing = await cli(["machines", "timeline", "web9"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('Error: NotFound 404: machines "Name:web9" not found');
  });

  test("--follow: new events from the stream (filtered to this MAC), each once, until Ctrl-C (exit 0)", async () => {
    events = [ev(1, 0, "dhcp", "DISCOVER"), ev(2, 5, "dhcp-reply", "OFFER 198.51.100.20 file ipxe.efi")];
    streams = [
      (send) => {
        // Recorded between the first read and the stream opening: the second read has it.
        events.push(ev(3, 900, "tftp", "RRQ ipxe.efi"));
        setTimeout(() => {
          send(`retry: 2000\n\n${notice(ev(3, 900, "tftp", "RRQ ipxe.efi"))}`);
          send(notice(ev(4, 2000, "http", "GET /boot.ipxe 200")));
        }, 100);
      },
    ];
    const r = await untilInterrupted(["-o", "table", "machines", "timeline", "--follow", "web1"], (out) => until(() => out.length >= 3));
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out[0]?.split("\n").slice(4, 6)).toEqual(["1         +0.000s      dhcp          DISCOVER", "2         +0.005s      dhcp-reply    OFFER 198.51.100.20 file ipxe.efi"]);
    expect(r.out.slice(1)).toEqual(["3         +0.900s      tftp          RRQ ipxe.efi", "4         +2.000s      http          GET /boot.ipxe 200"]);
    const stream = seen.find((s) => s.path === "/api/v3/events");
    expect(new URLSearchParams(stream?.search)).toEqual(new URLSearchParams({ type: "timeline", action: "record", key: MAC }));
    expect(seen.filter((s) => s.path.endsWith("/timeline"))).toHaveLength(2);
    expect(process.listenerCount("SIGINT")).toBe(0);
  });

  test("--follow: after a lost connection the timeline is read again, so what happened meanwhile is printed", async () => {
    events = [ev(1, 0, "dhcp", "DISCOVER")];
    streams = [
      (send, close) => {
        send("retry: 30\n\n");
        setTimeout(() => {
          events.push(ev(2, 1000, "dhcp-reply", "OFFER while nobody listened"));
          close();
        }, 50);
      },
      (send) => setTimeout(() => send(notice(ev(3, 2000, "tftp", "RRQ ipxe.efi"))), 50),
    ];
    const r = await untilInterrupted(["-o", "json", "machines", "timeline", "-f", UUID], (out) => until(() => out.length >= 3));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out[0] as string).Events).toHaveLength(1);
    expect(r.out.slice(1).map((l) => JSON.parse(l).Seq)).toEqual([2, 3]);
    expect(r.err).toEqual(["machines timeline: connection lost (the server closed the stream); reconnecting in 0.03s", "machines timeline: reconnected"]);
  });

  test("--follow on a machine with no events yet: the header comes with the first one", async () => {
    streams = [(send) => setTimeout(() => send(notice(ev(7, 0, "dhcp", "DISCOVER"))), 100)];
    const r = await untilInterrupted(["-o", "table", "machines", "timeline", "--follow", "web1"], (out) => until(() => out.length >= 3));
    expect(r.code).toBe(0);
    expect(r.out.slice(1)).toEqual(["SEQ       TIME         KIND          SUMMARY", "7         +0.000s      dhcp          DISCOVER"]);
  });

  test("--follow on a machine with two MACs follows both; with none it says so", async () => {
    const other = "02:00:00:00:00:09";
    const two = startFakeApi({
      routes: (_req, url) => {
        if (url.pathname.endsWith("/timeline")) return Response.json({ ...timeline(MAC, true), Macs: [MAC, other] });
        if (url.pathname !== "/api/v3/events") return undefined;
        seen.push({ path: url.pathname, search: url.search });
        const body = new ReadableStream<Uint8Array>({
          start(ctrl) {
            setTimeout(() => ctrl.enqueue(new TextEncoder().encode(notice(ev(5, 10, "dhcp", "DISCOVER on the second port", other)))), 50);
          },
        });
        return new Response(body, { headers: { "Content-Type": "text/event-stream" } });
      },
    });
    const none = startFakeApi({ routes: (_req, url) => (url.pathname.endsWith("/timeline") ? Response.json({ ...timeline("", true), Mac: "" }) : undefined) });
    try {
      const out: string[] = [];
      const running = runCli(["-E", two.url, "-o", "table", "machines", "timeline", "-f", "web1"], { SOCLE_DATA_DIR: join(dir, "none") }, { out: (s) => out.push(s), err: (s) => out.push(s) }, { serve: async () => 0 });
      await until(() => out.length >= 3);
      process.emit("SIGINT");
      expect(await running).toBe(0);
      expect(out[0]?.split("\n")[0]).toBe(`Boot timeline of machine web1 (${UUID}), MACs ${MAC}, ${other}: 0 events`);
      expect(out.slice(1)).toEqual(["SEQ       TIME         KIND          SUMMARY", "5         +0.000s      dhcp          DISCOVER on the second port"]);
      expect(new URLSearchParams(seen[0]?.search).get("key")).toBe(`${MAC},${other}`);

      const err: string[] = [];
      const code = await runCli(["-E", none.url, "machines", "timeline", "-f", "web1"], { SOCLE_DATA_DIR: join(dir, "none") }, { out: () => {}, err: (s) => err.push(s) }, { serve: async () => 0 });
      expect(code).toBe(1);
      expect(err).toEqual(["Error: the machine has no hardware address (HardwareAddrs is empty): there is no timeline to follow"]);
    } finally {
      two.stop();
      none.stop();
    }
  });

  test("--follow: the stream refused (a server without the timeline type) is an error, exit 1", async () => {
    streams = [];
    const refusing = startFakeApi({
      routes: (_req, url) =>
        url.pathname === "/api/v3/events"
          ? Response.json({ Type: "BadRequest", Code: 400, Messages: ['type: unknown type "timeline"'] }, { status: 400 })
          : url.pathname.endsWith("/timeline")
            ? Response.json(timeline(MAC, true))
            : undefined,
    });
    try {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(["-E", refusing.url, "machines", "timeline", "--follow", "web1"], { SOCLE_DATA_DIR: join(dir, "none") }, { out: (s) => out.push(s), err: (s) => err.push(s) }, { serve: async () => 0 });
      expect(code).toBe(1);
      expect(err).toEqual(['Error: BadRequest 400: type: unknown type "timeline"']);
    } finally {
      refusing.stop();
    }
  });
});

describe("doctor", () => {
  test("a MAC in any spelling asks GET timeline?mac= in lower-case colon form", async () => {
    for (const spelling of ["AA-BB-CC-DD-EE-FF", "aabb.ccdd.eeff", "AABBCCDDEEFF", "aa:bb:cc:dd:ee:ff", "01-aa-bb-cc-dd-ee-ff"]) {
      seen.length = 0;
      const r = await cli(["doctor", spelling]);
      expect({ spelling, code: r.code }).toEqual({ spelling, code: 0 });
      expect(seen).toEqual([{ path: "/api/v3/timeline", search: `?mac=${encodeURIComponent(MAC)}` }]);
    }
  });

  test("an error diagnosis: exit 1; the diagnoses in words first, then the evidence", async () => {
    events = [ev(1, 0, "dhcp", "DISCOVER"), ev(2, 3, "dhcp-foreign", "OFFER from 203.0.113.9"), ev(3, 9, "dhcp-reply", "OFFER 198.51.100.20")];
    diagnoses = [ROGUE];
    const r = await cli(["-o", "table", "doctor", "AA:BB:CC:DD:EE:FF"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("");
    expect(r.stdout.split("\n")).toEqual([
      `machine web1 (${UUID}), MAC ${MAC}: 1 problem that stops it booting.`,
      "",
      "ERROR    Another DHCP server (203.0.113.9) answered this client. [rogue-dhcp]",
      "         fix: Stop the DHCP server at 203.0.113.9.",
      "         evidence: #2",
      "",
      "Evidence:",
      "SEQ       TIME         KIND          SUMMARY",
      "2         +0.003s      dhcp-foreign  OFFER from 203.0.113.9",
    ]);
    // json: the API's answer, and the same exit status for scripts.
    const j = await cli(["doctor", MAC]);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout).Diagnoses).toEqual([ROGUE]);
  });

  test("no error diagnosis: exit 0, for a MAC no machine has too", async () => {
    events = [ev(1, 0, "dhcp", "DISCOVER", "02:00:00:00:00:01")];
    const r = await cli(["-o", "table", "doctor", "02-00-00-00-00-01"]);
    expect(r.code).toBe(0);
    expect(r.out[0]?.split("\n")[0]).toBe("MAC 02:00:00:00:00:01 (no machine has it): no problem found in 1 event.");
    const nothing = await cli(["-o", "table", "doctor", "02:00:00:00:00:02"]);
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toContain("no boot traffic recorded");
  });

  test("by machine name or Uuid", async () => {
    diagnoses = [{ ...ROGUE, Severity: "warning" }];
    expect((await cli(["doctor", "web1"])).code).toBe(0);
    expect((await cli(["doctor", UUID])).code).toBe(0);
    expect(seen.map((s) => s.path)).toEqual(["/api/v3/machines/Name%3Aweb1/timeline", `/api/v3/machines/${UUID}/timeline`]);
    const missing = await cli(["doctor", "nosuch"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('Error: NotFound 404: machines "Name:nosuch" not found');
  });

  test("a bad MAC is a usage error before any request", async () => {
    for (const bad of ["aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:gg", "aabb.ccdd"]) {
      const r = await cli(["doctor", bad]);
      expect({ bad, code: r.code }).toEqual({ bad, code: 2 });
      expect(r.stderr).toStartWith(`Error: invalid MAC "${bad}"`);
    }
    expect((await cli(["doctor"])).code).toBe(2);
    expect(seen).toEqual([]);
  });

  test("a server that answers something else: a clear error, not a crash", async () => {
    const other = startFakeApi({ routes: (_r, url) => (url.pathname === "/api/v3/timeline" ? Response.json({ Hello: 1 }) : undefined) });
    try {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(["-E", other.url, "doctor", MAC], { SOCLE_DATA_DIR: join(dir, "none") }, { out: (s) => out.push(s), err: (s) => err.push(s) }, { serve: async () => 0 });
      expect(code).toBe(1);
      expect(err[0]).toBe(`Error: GET ${other.url}/api/v3/timeline?mac=aa%3Abb%3Acc%3Add%3Aee%3Aff: the answer is not a timeline (expected Mac, Events and Diagnoses)`);
    } finally {
      other.stop();
    }
  });
});
