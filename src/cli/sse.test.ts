// The SSE parser against the spec's rules, each input fed whole, split at every offset into two
// chunks, at every pair of offsets into three, and one byte at a time: the events must not depend
// on where the network cut the bytes.

import { describe, expect, test } from "bun:test";
import { SseParser, SseTooLarge, type SseEvent } from "./sse.ts";

interface Parsed {
  events: SseEvent[];
  retries: number[];
  lastEventId: string;
}

function parse(chunks: Uint8Array[], lastEventId = ""): Parsed {
  const events: SseEvent[] = [];
  const retries: number[] = [];
  const p = new SseParser((e) => events.push(e), (ms) => retries.push(ms), lastEventId);
  for (const c of chunks) p.push(c);
  p.end();
  return { events, retries, lastEventId: p.lastEventId };
}

/** Every way to cut `bytes` into two and three chunks, and into single bytes. */
function* splits(bytes: Uint8Array): Generator<Uint8Array[]> {
  yield [bytes];
  for (let i = 0; i <= bytes.length; i++) {
    yield [bytes.subarray(0, i), bytes.subarray(i)];
    for (let j = i; j <= bytes.length; j++) yield [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)];
  }
  yield [...bytes].map((b) => Uint8Array.of(b));
}

/** Parses `input` every way it can be cut; each must give `expected`. Returns how many ways were tried. */
function check(input: string | Uint8Array, expected: Parsed, lastEventId = ""): number {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  let n = 0;
  for (const chunks of splits(bytes)) {
    const got = parse(chunks, lastEventId);
    if (!Bun.deepEquals(got, expected)) {
      // Name the cut that failed, not just the difference.
      expect({ cut: chunks.map((c) => c.length), got }).toEqual({ cut: chunks.map((c) => c.length), got: expected });
    }
    n++;
  }
  return n;
}

const ev = (data: string, type = "message", id = ""): SseEvent => ({ type, data, id });

describe("SseParser", () => {
  test("Socle's own stream: preamble comment, retry, events with id and name, keep-alive", () => {
    const msg = JSON.stringify({ Seq: 7, Type: "machines", Action: "create", Key: "k", Object: { Name: "n1" } });
    const input = `: socle events\nretry: 2000\n\nid: 7\nevent: machines.create\ndata: ${msg}\n\n: keep-alive\n\nid: 8\nevent: machines.delete\ndata: {}\n\n`;
    const n = check(input, { events: [ev(msg, "machines.create", "7"), ev("{}", "machines.delete", "8")], retries: [2000], lastEventId: "8" });
    expect(n).toBeGreaterThan(10_000);
  });

  test("multi-line data joins with LF; one space after the colon is dropped, not two; no space is fine", () => {
    check("data: a\ndata:b\ndata:  c\ndata\n\n", { events: [ev("a\nb\n c\n")], retries: [], lastEventId: "" });
  });

  test("CRLF, lone CR and LF line ends, mixed, including CR at a chunk end followed by LF", () => {
    const expected = { events: [ev("one", "x", "1"), ev("two", "message", "2"), ev("three\nfour", "message", "2")], retries: [], lastEventId: "2" };
    check("event: x\r\nid: 1\r\ndata: one\r\n\r\nid: 2\rdata: two\r\rdata: three\ndata: four\r\n\n", expected);
    // A CR then LF is one line end: "\r\n\r\n" ends one event, it is not three blank lines.
    check("data: a\r\n\r\ndata: b\r\n\r\n", { events: [ev("a"), ev("b")], retries: [], lastEventId: "" });
    // Two CRs are two line ends: the second one dispatches.
    check("data: a\r\rdata: b\r\r", { events: [ev("a"), ev("b")], retries: [], lastEventId: "" });
  });

  test("UTF-8 split anywhere, including inside a 4-byte sequence; one leading BOM is dropped", () => {
    const text = "é ü 日本 😀 \u2028";
    const bom = Uint8Array.of(0xef, 0xbb, 0xbf);
    const body = new TextEncoder().encode(`data: ${text}\nevent: ñ\n\n`);
    const input = new Uint8Array(bom.length + body.length);
    input.set(bom);
    input.set(body, bom.length);
    check(input, { events: [ev(text, "ñ")], retries: [], lastEventId: "" });
  });

  test("comments are skipped; an event with no data is not dispatched, its id still counts", () => {
    check(": hi\n:\n\nid: 5\n\n: x\nevent: lonely\n\n", { events: [], retries: [], lastEventId: "5" });
    check("id: 5\n\ndata: after\n\n", { events: [ev("after", "message", "5")], retries: [], lastEventId: "5" });
  });

  test("the id persists across events; an empty id resets it; an id with NUL is ignored", () => {
    check("id: 3\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 4\0x\ndata: d\n\n", {
      events: [ev("a", "message", "3"), ev("b", "message", "3"), ev("c"), ev("d")],
      retries: [],
      lastEventId: "",
    });
  });

  test("the id given to the parser is kept until the server sends another", () => {
    check("data: a\n\n", { events: [ev("a", "message", "41")], retries: [], lastEventId: "41" }, "41");
  });

  test("retry: digits only; anything else is ignored", () => {
    check("retry: 1500\nretry: 1.5\nretry: -1\nretry: 10s\nretry:\nretry: 0\n\n", { events: [], retries: [1500, 0], lastEventId: "" });
  });

  test("a field without a colon, unknown fields and case: ignored as the spec says", () => {
    check("data\nDATA: x\nfoo: bar\nEvent: y\n\n", { events: [ev("")], retries: [], lastEventId: "" });
  });

  test("a half-received event at the end is dropped, its id not taken", () => {
    check("id: 1\ndata: whole\n\nid: 2\ndata: half", { events: [ev("whole", "message", "1")], retries: [], lastEventId: "1" });
    check("data: no blank line\n", { events: [], retries: [], lastEventId: "" });
  });

  test("a value may hold colons; only the first splits the field", () => {
    check('data: {"a":"b:c"}\nevent: t:u\n\n', { events: [ev('{"a":"b:c"}', "t:u")], retries: [], lastEventId: "" });
  });
});

test("an event beyond the bound is refused, not buffered; events below it pass", () => {
  const got: SseEvent[] = [];
  const p = new SseParser((e) => got.push(e), () => {}, "", 100);
  const enc = new TextEncoder();
  p.push(enc.encode(`data: ${"x".repeat(80)}\n\n`));
  p.push(enc.encode(`data: ${"y".repeat(80)}\n\n`));
  expect(got.map((e) => e.data.length)).toEqual([80, 80]);
  p.push(enc.encode(`data: ${"z".repeat(60)}`));
  expect(() => p.push(enc.encode("z".repeat(60)))).toThrow(SseTooLarge);
});
