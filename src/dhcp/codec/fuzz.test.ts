// Robustness: ~20,000 seeded mutations of captured and synthetic packets. Only DhcpParseError may
// escape the codec, every packet that parses must format and re-parse to the same packet, and no
// packet may take long (the parser is linear; a slow packet means a hidden loop).
// For a million packets and figures, run: bun test/bench/dhcp-fuzz.ts 1000000 1

import { expect, test } from "bun:test";
import { exercise, makeRng, makeSeeds, mutate } from "./testdata/fuzz.ts";

const COUNT = 20_000;
const SEED = 20261122;
const MAX_MS_PER_PACKET = 50;

/**
 * Time for one packet, robust against a GC pause or a busy CI host: a packet over the limit is
 * re-timed and only its fastest run counts, so a genuinely slow (super-linear) packet still fails.
 */
function fastestOf3(buf: Uint8Array): number {
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const t0 = performance.now();
    exercise(buf);
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

test(`fuzz: ${COUNT} mutated packets, only DhcpParseError escapes, round-trips hold`, () => {
  const rng = makeRng(SEED);
  const seeds = makeSeeds();
  expect(seeds.length).toBeGreaterThan(20);
  const results = new Map<string, number>();
  let worst = 0;
  for (let i = 0; i < COUNT; i++) {
    const buf = mutate(rng, seeds[Math.floor(rng() * seeds.length)]!);
    const t0 = performance.now();
    const { result } = exercise(buf);
    const ms = performance.now() - t0;
    results.set(result, (results.get(result) ?? 0) + 1);
    worst = Math.max(worst, ms > MAX_MS_PER_PACKET / 5 ? fastestOf3(buf) : ms);
  }
  expect(worst).toBeLessThan(MAX_MS_PER_PACKET);
  // The mutator must reach both sides: packets that parse and each main parser rejection.
  expect(results.get("ok") ?? 0).toBeGreaterThan(COUNT / 10);
  for (const reason of ["truncated-option", "short-packet", "bad-hlen", "bad-overload", "nested-overload", "bad-op"]) {
    expect(results.get(reason) ?? 0).toBeGreaterThan(0);
  }
});

test("fuzz: every prefix of every seed is handled", () => {
  for (const seed of makeSeeds()) {
    for (let n = 0; n <= seed.length; n++) exercise(seed.subarray(0, n));
  }
});
