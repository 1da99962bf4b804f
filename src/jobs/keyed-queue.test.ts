import { expect, test } from "bun:test";
import { KeyedQueue } from "./keyed-queue.ts";

test("one key runs in call order, one at a time, past failures; other keys run alongside", async () => {
  const q = new KeyedQueue();
  const log: string[] = [];
  let running = 0;
  let most = 0;
  const work = (key: string, i: number, fail = false) =>
    q.run(key, async () => {
      if (key === "a") most = Math.max(most, ++running);
      log.push(`${key}${i}+`);
      await Bun.sleep(2);
      log.push(`${key}${i}-`);
      if (key === "a") running--;
      if (fail) throw new Error("boom");
      return i;
    });
  const done = [work("a", 1), work("a", 2, true), work("b", 1), work("a", 3)];
  const results = await Promise.allSettled(done);
  expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
  expect(most).toBe(1);
  expect(log.filter((l) => l.startsWith("a"))).toEqual(["a1+", "a1-", "a2+", "a2-", "a3+", "a3-"]);
  expect(log.indexOf("b1+")).toBeLessThan(log.indexOf("a1-")); // b did not wait for a
  await q.idle();
});
