import { expect, test } from "bun:test";
import { DEFAULT_LIMITS, negotiate } from "./options.ts";

test("no options: RFC 1350 defaults and no OACK", () => {
  expect(negotiate([], 100)).toEqual({ blksize: 512, windowsize: 1, timeoutMs: undefined, oack: [], refused: [] });
});

test("accepted options echo in request order; tsize answers the size", () => {
  const n = negotiate([["tsize", "0"], ["blksize", "1468"], ["timeout", "3"], ["windowsize", "4"]], 12345);
  expect(n.oack).toEqual([["tsize", "12345"], ["blksize", "1468"], ["timeout", "3"], ["windowsize", "4"]]);
  expect(n).toMatchObject({ blksize: 1468, windowsize: 4, timeoutMs: 3000, refused: [] });
});

test("blksize is capped by the path MTU and the RFC maximum; below 8 it is refused", () => {
  expect(negotiate([["blksize", "9000"]], 1).blksize).toBe(1468);
  expect(negotiate([["blksize", "99999"]], 1, { ...DEFAULT_LIMITS, maxBlksize: 70000 }).oack).toEqual([["blksize", "65464"]]);
  const small = negotiate([["blksize", "7"]], 1);
  expect(small).toMatchObject({ blksize: 512, oack: [] });
  expect(small.refused[0]).toContain('blksize "7"');
});

test("windowsize is capped by count and by bytes in flight", () => {
  expect(negotiate([["windowsize", "1000"]], 1).windowsize).toBe(64);
  const n = negotiate([["blksize", "65464"], ["windowsize", "64"]], 1, { maxBlksize: 65464, maxWindowsize: 64, maxWindowBytes: 1 << 20 });
  expect(n.windowsize).toBe(16);
  expect(negotiate([["windowsize", "0"]], 1).oack).toEqual([]);
});

test("tsize of unknown size, bad timeout and unknown options are refused, not fatal", () => {
  const n = negotiate([["tsize", "0"], ["timeout", "0"], ["timeout", "5"], ["multicast", ""], ["blksize", "x"]], undefined);
  expect(n.oack).toEqual([]);
  expect(n.refused).toEqual([
    'blksize "x": not an integer of at least 8',
    'timeout "0": not an integer from 1 to 255',
    "tsize: the size is not known before sending",
    "multicast: not supported",
  ]);
});
