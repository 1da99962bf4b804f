import { describe, expect, test } from "bun:test";
import { MAX_TERM, readPeerMessage } from "./messages.ts";

const hb = (over: Record<string, unknown>) => ({ T: "Hb", t: 1, seq: 1, term: 1, state: "standby", hasData: true, streaming: true, tail: false, ...over });
const hello = (over: Record<string, unknown>) => ({ ...hb({}), T: "Hello", node: "node-b", cluster: "c", version: "1", follow: true, ...over });

describe("what a peer may claim", () => {
  test("a term above 2^31 is refused in Hello and Hb, so that term + 1 stays exact", () => {
    expect(MAX_TERM).toBe(2 ** 31);
    for (const make of [hb, hello]) {
      const atLimit = readPeerMessage(make({ term: MAX_TERM }) as never);
      expect(atLimit).not.toBeInstanceOf(Error);
      expect((atLimit as { term: number }).term).toBe(MAX_TERM);
      for (const term of [MAX_TERM + 1, Number.MAX_SAFE_INTEGER]) {
        const r = readPeerMessage(make({ term }) as never);
        expect(r).toBeInstanceOf(Error);
        expect((r as Error).message).toBe(`${make({}).T}.term: want at most 2^31 (2147483648), got ${term}`);
      }
    }
  });

  test("a Seq is any safe whole number: a long-lived store may count that far", () => {
    const big = Number.MAX_SAFE_INTEGER - 1;
    expect((readPeerMessage(hb({ seq: big }) as never) as { seq: number }).seq).toBe(big);
    expect((readPeerMessage({ T: "Ack", seq: big } as never) as { seq: number }).seq).toBe(big);
  });
});
