import { describe, expect, test } from "bun:test";
import { FrameError, FrameReader, MAX_FRAME_BYTES, encodeFrame, type Frame, type HaMessage } from "./protocol.ts";

/** A small deterministic PRNG, so a failing case can be replayed from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function u32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

function rawFrame(total: number, headLen: number, rest: Uint8Array): Uint8Array {
  return new Uint8Array([...u32(total), ...u32(headLen), ...rest]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

describe("encodeFrame", () => {
  test("lays out total length, header length, JSON header and body", () => {
    const f = encodeFrame({ T: "Ack", seq: 7 }, new Uint8Array([1, 2, 3]));
    const head = new TextEncoder().encode(JSON.stringify({ T: "Ack", seq: 7 }));
    expect(f.length).toBe(8 + head.length + 3);
    expect([...f.subarray(0, 4)]).toEqual(u32(f.length));
    expect([...f.subarray(4, 8)]).toEqual(u32(head.length));
    expect(new TextDecoder().decode(f.subarray(8, 8 + head.length))).toBe('{"T":"Ack","seq":7}');
    expect([...f.subarray(8 + head.length)]).toEqual([1, 2, 3]);
  });

  test("refuses a header without a string T, and a frame over the limit", () => {
    expect(() => encodeFrame({ T: 5 } as unknown as HaMessage)).toThrow(/header field T is a number \(5\)/);
    expect(() => encodeFrame({ T: "" })).toThrow(/T is an empty string/);
    expect(() => encodeFrame({ T: "FileChunk" }, new Uint8Array(100), 64)).toThrow(/FileChunk: 1\d\d bytes is more than the limit of 64/);
    expect(() => encodeFrame({ T: "X", n: 1n } as unknown as HaMessage)).toThrow(/not JSON-serialisable/);
  });
});

describe("FrameReader", () => {
  test("round trip: empty body reads as undefined, unicode headers survive", () => {
    const r = new FrameReader();
    const frames = r.push(concat([encodeFrame({ T: "Hb", note: "é ✓ 𝄞" }), encodeFrame({ T: "FileChunk" }, new Uint8Array([9]))]));
    expect(frames).toEqual([
      { header: { T: "Hb", note: "é ✓ 𝄞" }, body: undefined },
      { header: { T: "FileChunk" }, body: new Uint8Array([9]) },
    ]);
    expect(r.bufferedBytes).toBe(0);
  });

  test("random chunking yields the same frames in order (200 seeds)", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = rng(seed);
      const sent: Frame[] = [];
      const parts: Uint8Array[] = [];
      const n = 1 + Math.floor(rand() * 30);
      for (let i = 0; i < n; i++) {
        const bodyLen = rand() < 0.3 ? 0 : Math.floor(rand() * (rand() < 0.1 ? 70000 : 300));
        const body = bodyLen ? Uint8Array.from({ length: bodyLen }, () => Math.floor(rand() * 256)) : undefined;
        const header: HaMessage = { T: `M${i}`, seed, pad: "x".repeat(Math.floor(rand() * 50)) };
        sent.push({ header, body });
        parts.push(encodeFrame(header, body));
      }
      const stream = concat(parts);
      const r = new FrameReader();
      const got: Frame[] = [];
      for (let off = 0; off < stream.length; ) {
        const len = rand() < 0.2 ? 1 : 1 + Math.floor(rand() * 5000);
        got.push(...r.push(stream.subarray(off, off + len)));
        off += len;
      }
      expect(got.length).toBe(sent.length);
      expect(got).toEqual(sent);
      expect(r.bufferedBytes).toBe(0);
    }
  });

  test("a truncated stream yields the complete frames and holds the rest", () => {
    const a = encodeFrame({ T: "A" });
    const b = encodeFrame({ T: "B" }, new Uint8Array(50));
    const r = new FrameReader();
    const got = r.push(concat([a, b]).subarray(0, a.length + b.length - 1));
    expect(got.map((f) => f.header.T)).toEqual(["A"]);
    expect(r.bufferedBytes).toBe(b.length - 1);
    expect(r.push(b.subarray(b.length - 1)).map((f) => f.header.T)).toEqual(["B"]);
  });

  test("a 100 MiB frame is refused from its first four bytes, before anything is held", () => {
    const r = new FrameReader();
    expect(() => r.push(new Uint8Array(u32(100 * 1024 * 1024)))).toThrow(new FrameError(`frame length 104857600 is more than the limit of ${MAX_FRAME_BYTES} bytes`));
    expect(r.bufferedBytes).toBe(0);
    // Once out of step, the reader refuses everything.
    expect(() => r.push(encodeFrame({ T: "Hb" }))).toThrow(/104857600/);
  });

  test("the limit is configurable", () => {
    const r = new FrameReader({ maxFrameBytes: 1024 });
    expect(() => r.push(encodeFrame({ T: "Enrol" }, new Uint8Array(2000)))).toThrow(/frame length 20\d\d is more than the limit of 1024 bytes/);
    expect(() => new FrameReader({ maxFrameBytes: 3 })).toThrow(/maxFrameBytes 3/);
  });

  test("a header length larger than the frame is refused as soon as both lengths are in", () => {
    const r = new FrameReader();
    expect(() => r.push(new Uint8Array([...u32(1000), ...u32(5000)]))).toThrow(/header length 5000 is larger than the frame \(992 bytes after the two lengths\)/);
  });

  test("a frame length below 8 is refused", () => {
    expect(() => new FrameReader().push(new Uint8Array(u32(3)))).toThrow(/frame length 3 is less than the 8 bytes/);
  });

  test("headers that are not a JSON object with a string T are refused, naming the value", () => {
    const enc = (s: string) => {
      const b = new TextEncoder().encode(s);
      return rawFrame(8 + b.length, b.length, b);
    };
    expect(() => new FrameReader().push(enc("[1,2]"))).toThrow(/frame header is an array, expected a JSON object/);
    expect(() => new FrameReader().push(enc("42"))).toThrow(/frame header is a number \(42\)/);
    expect(() => new FrameReader().push(enc("null"))).toThrow(/frame header is null/);
    expect(() => new FrameReader().push(enc('{"t":"x"}'))).toThrow(/field T is missing/);
    expect(() => new FrameReader().push(enc('{"T":["x"]}'))).toThrow(/field T is an array/);
    expect(() => new FrameReader().push(enc("{T:1"))).toThrow(/frame header is not JSON .*"\{T:1"/);
    expect(() => new FrameReader().push(rawFrame(10, 2, new Uint8Array([0xc3, 0x28])))).toThrow(/frame header of 2 bytes is not UTF-8/);
  });

  test("random garbage never crashes the reader: it yields valid frames or a FrameError", () => {
    for (let seed = 1; seed <= 500; seed++) {
      const rand = rng(seed * 7919);
      const junk = Uint8Array.from({ length: 4 + Math.floor(rand() * 400) }, () => Math.floor(rand() * 256));
      // Half the cases: a plausible small length up front, so the header checks are reached.
      if (seed % 2 === 0) junk.set(u32(Math.min(junk.length, 8 + Math.floor(rand() * 64))), 0);
      const r = new FrameReader({ maxFrameBytes: 4096 });
      try {
        for (const f of r.push(junk)) {
          expect(typeof f.header.T).toBe("string");
          expect(f.header.T.length).toBeGreaterThan(0);
        }
      } catch (e) {
        expect(e).toBeInstanceOf(FrameError);
      }
    }
  });
});
