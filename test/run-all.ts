// `npm test`: runs the suites in order as child processes, streams their output, and ends with
// one plain line "N passed, M failed[, K skipped]". Exit status 1 if anything failed or a suite
// crashed (non-zero exit without reported failures, or killed at its time limit).
//
//   bun test/run-all.ts                 all suites
//   bun test/run-all.ts unit smoke      only the named ones

import { readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;

export interface Counts {
  pass: number;
  fail: number;
  skip: number;
}

interface Suite {
  name: string;
  cmd: () => string[] | undefined;
  timeoutMs: number;
  /** A check that prints no test counts: it counts as one test, passed when it exits 0. */
  single?: boolean;
}

/**
 * Test files under test/, without the QEMU lab (e2e), as ./paths for bun test. The benchmarks
 * themselves are not tests, but the tests of their helpers (test/bench/*.test.ts) are, and run here.
 */
export function integrationFiles(testDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 8) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== "e2e" && e.name !== "fixtures" && e.name !== "node_modules") walk(p, depth + 1);
      } else if (/\.test\.ts$/.test(e.name)) {
        out.push(`./${relative(ROOT, p)}`);
      }
    }
  };
  walk(testDir, 0);
  return out.sort();
}

const SUITES: Suite[] = [
  { name: "types", cmd: () => [process.execPath, join(ROOT, "node_modules/typescript/bin/tsc"), "-p", ROOT, "--noEmit"], timeoutMs: 5 * 60_000, single: true },
  // The web UI's pages have their own compiler options (DOM, JSX for Preact): the root config leaves them out.
  { name: "types", cmd: () => [process.execPath, join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(ROOT, "src/ui/web"), "--noEmit"], timeoutMs: 5 * 60_000, single: true },
  // A minute per test and hook: RSA keys, namespaces and child servers take seconds on a loaded
  // 2-core machine, and a slow CI neighbour must not turn into a failure. Hangs are still caught.
  { name: "unit", cmd: () => [BUN, "test", "--timeout", "60000", "./src", "./build"], timeoutMs: 10 * 60_000 },
  {
    name: "integration",
    cmd: () => {
      const files = integrationFiles(join(ROOT, "test"));
      return files.length ? [BUN, "test", "--timeout", "60000", ...files] : undefined;
    },
    timeoutMs: 20 * 60_000,
  },
  { name: "smoke", cmd: () => [BUN, "test/smoke-binary.ts"], timeoutMs: 5 * 60_000 },
  // A clone of HEAD, `npm install`, `npm start`, boot files fetched (root; downloads packages).
  { name: "fresh", cmd: () => [BUN, "test/fresh-clone.ts"], timeoutMs: 20 * 60_000 },
  // The QEMU lab (test/e2e, scripts in test/lab): as root with the lab packages installed; its
  // tests skip, saying why, anywhere else. About 3-4 minutes when it passes.
  { name: "e2e", cmd: () => [BUN, "test", "--timeout", "300000", "./test/e2e"], timeoutMs: 20 * 60_000 },
];

/** The counts of bun's closing summary (" 12 pass", " 0 fail", " 1 skip"); the last ones win. */
export function parseSummary(text: string): Counts {
  const last = (word: string) => {
    const all = [...text.matchAll(new RegExp(`^\\s*(\\d+) ${word}\\s*$`, "gm"))];
    const m = all.at(-1);
    return m ? Number(m[1]) : 0;
  };
  return { pass: last("pass"), fail: last("fail"), skip: last("skip") };
}

export function closingLine(c: Counts): string {
  return `${c.pass} passed, ${c.fail} failed${c.skip ? `, ${c.skip} skipped` : ""}`;
}

/**
 * The failed tests of a bun test run, each with the lines bun printed just before its "(fail)"
 * line (the assertion and its location), so the closing summary, which is all a truncated CI log
 * may keep, still says what failed and why.
 */
export function failedTests(text: string, context = 12): string[] {
  const lines = text.split("\n");
  const out: string[] = [];
  let since = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^\((pass|skip|todo)\) /.test(line)) since = i + 1;
    if (!line.startsWith("(fail) ")) continue;
    const before = lines.slice(Math.max(since, i - context), i).filter((l) => l.trim() !== "");
    out.push([line, ...before.map((l) => `    ${l}`)].join("\n"));
    since = i + 1;
  }
  return out;
}

async function runSuite(s: Suite): Promise<{ counts: Counts; crashed: string | undefined; failed: string[] }> {
  const cmd = s.cmd();
  if (!cmd) {
    console.log(`\n=== ${s.name}: no test files ===`);
    return { counts: { pass: 0, fail: 0, skip: 0 }, crashed: undefined, failed: [] };
  }
  console.log(`\n=== ${s.name}: ${cmd.map((a) => (a === BUN ? "bun" : a)).join(" ")} ===`);
  const child = Bun.spawn(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe", stdin: "ignore", env: process.env });
  let text = "";
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, s.timeoutMs);
  const pump = async (stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      sink.write(chunk);
      text += decoder.decode(chunk, { stream: true });
    }
  };
  await Promise.all([pump(child.stdout, process.stdout), pump(child.stderr, process.stderr)]);
  const code = await child.exited;
  clearTimeout(timer);
  const counts = s.single ? { pass: code === 0 ? 1 : 0, fail: code === 0 ? 0 : 1, skip: 0 } : parseSummary(text);
  let crashed: string | undefined;
  if (timedOut) crashed = `killed after ${s.timeoutMs / 60_000} minutes`;
  else if (code !== 0 && counts.fail === 0) crashed = `exited with ${code} without reporting a failed test`;
  return { counts, crashed, failed: s.single ? [] : failedTests(text) };
}

async function main(names: string[]): Promise<number> {
  const unknown = names.filter((n) => !SUITES.some((s) => s.name === n));
  if (unknown.length) {
    console.error(`run-all: unknown suite "${unknown[0]}" (suites: ${SUITES.map((s) => s.name).join(", ")})`);
    return 2;
  }
  const chosen = names.length ? SUITES.filter((s) => names.includes(s.name)) : SUITES;
  const total: Counts = { pass: 0, fail: 0, skip: 0 };
  const lines: string[] = [];
  const failures: string[] = [];
  for (const s of chosen) {
    const { counts, crashed, failed } = await runSuite(s);
    for (const f of failed) failures.push(`  ${s.name}: ${f}`);
    total.pass += counts.pass;
    total.fail += counts.fail + (crashed ? 1 : 0);
    total.skip += counts.skip;
    lines.push(`  ${s.name.padEnd(12)} ${closingLine(counts)}${crashed ? `  (suite crashed: ${crashed})` : ""}`);
  }
  if (failures.length) console.log(`\n=== failed tests ===\n${failures.join("\n")}`);
  console.log(`\n=== summary ===\n${lines.join("\n")}\n`);
  console.log(closingLine(total));
  return total.fail > 0 ? 1 : 0;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
