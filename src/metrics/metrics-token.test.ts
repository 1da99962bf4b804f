import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MetricsToken, readMetricsToken } from "./metrics-token.ts";

const dir = mkdtempSync(join(tmpdir(), "socle-metrics-token-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string, mode = 0o600) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
};

test("the token is the file's one line, final newline dropped; only that exact token matches", () => {
  const warnings: string[] = [];
  const t = readMetricsToken(file("ok", "0123456789abcdef0123\n"), (m) => warnings.push(m));
  expect(t.matches("0123456789abcdef0123")).toBe(true);
  for (const wrong of ["0123456789abcdef012", "0123456789abcdef01234", "0123456789abcdef0123\n", "", "1123456789abcdef0123"]) expect(t.matches(wrong)).toBe(false);
  expect(warnings).toEqual([]);
  expect(new MetricsToken("x".repeat(20)).matches("x".repeat(20))).toBe(true);
});

test("a file others may read is used, with a warning saying to chmod it", () => {
  const warnings: string[] = [];
  const p = file("open", "0123456789abcdef0123", 0o644);
  readMetricsToken(p, (m) => warnings.push(m));
  expect(warnings).toEqual([`metrics token file "${p}" may be read by other users (mode 644); chmod 600 it`]);
});

test("missing, empty, short, multi-line or oversized files are refused, naming the file", () => {
  const missing = join(dir, "nope");
  expect(() => readMetricsToken(missing)).toThrow(`cannot read the metrics token file "${missing}": ENOENT`);
  expect(() => readMetricsToken(dir)).toThrow("not a regular file");
  const empty = file("empty", "\n");
  expect(() => readMetricsToken(empty)).toThrow(`the metrics token file "${empty}" is empty`);
  expect(() => readMetricsToken(file("short", "abc123"))).toThrow("is 6 characters; use at least 16");
  expect(() => readMetricsToken(file("two", "0123456789abcdef\n0123456789abcdef\n"))).toThrow("whitespace or control characters");
  expect(() => readMetricsToken(file("space", "0123456789 abcdef0123"))).toThrow("whitespace or control characters");
  expect(() => readMetricsToken(file("big", "a".repeat(10_000)))).toThrow("longer than a token");
});
