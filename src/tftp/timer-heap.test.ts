// The reactor's timer heap: entries come out in due order whatever order they went in, ties and
// repeated items included, and it empties cleanly.

import { expect, test } from "bun:test";
import { TimerHeap } from "./timer-heap.ts";

test("pops in due order for shuffled, tied and repeated entries", () => {
  const h = new TimerHeap<string>();
  expect(h.peekDue()).toBe(Infinity);
  expect(h.peekItem()).toBeUndefined();
  h.pop(); // empty: a no-op
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 1000) / 10;
  const dues: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const due = i % 7 === 0 ? 50 : rnd(); // many ties at 50
    dues.push(due);
    h.push(due, `t${i % 13}`); // items repeat, as re-armed timers do
  }
  expect(h.size).toBe(2000);
  const out: number[] = [];
  while (h.size > 0) {
    expect(h.peekItem()).toBeString();
    out.push(h.peekDue());
    h.pop();
  }
  expect(out).toEqual([...dues].sort((a, b) => a - b));
  h.push(3, "a");
  h.push(1, "b");
  expect(h.peekItem()).toBe("b");
  h.clear();
  expect(h.size).toBe(0);
  expect(h.peekDue()).toBe(Infinity);
});
