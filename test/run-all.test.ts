import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closingLine, failedTests, integrationFiles, parseSummary } from "./run-all.ts";

test("parseSummary reads bun's closing counts, last block wins", () => {
  const out = [
    "(pass) a [1ms]",
    " 3 pass",
    " 1 fail",
    "",
    "src/x.test.ts:",
    "(fail) y",
    " 12 pass",
    " 2 skip",
    " 0 fail",
    " 40 expect() calls",
    "Ran 14 tests across 3 files. [1.2s]",
  ].join("\n");
  expect(parseSummary(out)).toEqual({ pass: 12, fail: 0, skip: 2 });
  expect(parseSummary("nothing here")).toEqual({ pass: 0, fail: 0, skip: 0 });
  // A test named "1 pass" inside a line does not count.
  expect(parseSummary("(pass) counts 1 pass\n 5 pass\n 0 fail")).toEqual({ pass: 5, fail: 0, skip: 0 });
});

test("closingLine is the plain line CI reads", () => {
  expect(closingLine({ pass: 10, fail: 0, skip: 0 })).toBe("10 passed, 0 failed");
  expect(closingLine({ pass: 10, fail: 2, skip: 3 })).toBe("10 passed, 2 failed, 3 skipped");
});

test("integrationFiles skips e2e and fixtures, and takes the tests of the bench helpers", () => {
  const dir = mkdtempSync(join(tmpdir(), "socle-runall-"));
  try {
    for (const d of ["e2e", "bench", "fixtures", "helpers"]) mkdirSync(join(dir, d));
    for (const f of ["a.test.ts", "e2e/b.test.ts", "bench/c.test.ts", "fixtures/d.test.ts", "helpers/e.test.ts", "helper.ts"]) {
      writeFileSync(join(dir, f), "");
    }
    const files = integrationFiles(dir).map((f) => f.slice(f.lastIndexOf("/") + 1));
    expect(files).toEqual(["a.test.ts", "c.test.ts", "e.test.ts"]);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("failedTests names each failed test with the error bun printed before it, nothing from passing tests", () => {
  const out = [
    "test/a.test.ts:",
    "noise from a passing test",
    "(pass) a > works [1ms]",
    "error: expect(received).toBe(expected)",
    "",
    "Expected: 2",
    "Received: 3",
    "      at <anonymous> (/repo/test/a.test.ts:9:5)",
    "(fail) a > adds [2ms]",
    "(pass) a > other [1ms]",
    "(fail) a > bare [1ms]",
    " 2 pass",
    " 2 fail",
  ].join("\n");
  const failed = failedTests(out);
  expect(failed).toHaveLength(2);
  expect(failed[0]).toStartWith("(fail) a > adds [2ms]\n");
  expect(failed[0]).toContain("Received: 3");
  expect(failed[0]).toContain("a.test.ts:9:5");
  expect(failed[0]).not.toContain("noise from a passing test");
  expect(failed[1]).toBe("(fail) a > bare [1ms]");
  expect(failedTests(" 3 pass\n 0 fail")).toEqual([]);
});
