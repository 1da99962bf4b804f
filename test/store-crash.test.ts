// kill -9 at random moments while a child process writes through the FileStore; every
// acknowledged write must survive, nothing may be corrupt, and Seq must continue.
// STORE_CRASH_TRIALS raises the number of trials (default 20).

import { expect, test } from "bun:test";
import { runCrashTrials } from "./fixtures/store-crash-plan.ts";

const TRIALS = Math.max(20, Number(process.env.STORE_CRASH_TRIALS ?? 20) || 20);

test(`acknowledged writes survive kill -9 (${TRIALS} trials)`, async () => {
  const report = await runCrashTrials(TRIALS);
  expect(report.trials).toBe(TRIALS);
  expect(report.acked).toBeGreaterThan(TRIALS * 10); // the writer really wrote before each kill
  expect(report.maxSeq).toBeGreaterThanOrEqual(report.acked);
}, 180_000);
