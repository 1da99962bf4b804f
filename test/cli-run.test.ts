// src/cli/run.ts at the process edge: exit codes reach the shell, and large output piped into
// another process arrives whole before process.exit (it was once cut at 64 KiB).

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "socle-cli-run-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RUN = resolve(import.meta.dir, "../src/cli/run.ts");
const script = join(dir, "entry.ts");
writeFileSync(
  script,
  `import { main } from ${JSON.stringify(RUN)};
const n = Number(process.env.ROWS ?? "0");
const rows = Array.from({ length: n }, (_, i) => ({ Name: "m" + i, Pad: "x".repeat(100) }));
await main(process.argv.slice(2), { serve: async () => 7, fetch: (async () => Response.json(rows)) as unknown as typeof fetch });
`,
);

async function run(args: string[], rows = 0) {
  const p = Bun.spawn([process.execPath, script, ...args], {
    env: { ...process.env, ROWS: String(rows), SOCLE_DATA_DIR: join(dir, "none") },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

test("large output through a pipe arrives whole", async () => {
  const r = await run(["machines", "list"], 20_000);
  expect(r.code).toBe(0);
  expect(r.stdout.length).toBeGreaterThan(2_000_000);
  expect(JSON.parse(r.stdout)).toHaveLength(20_000);
});

test("exit codes: usage error 2, serve's own code", async () => {
  const bad = await run(["machines", "show"]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toBe("Error: missing argument\nusage: socle machines show <key>\n");
  expect((await run(["serve", "--api-port", "0"])).code).toBe(7);
});

test("a download to - arrives whole through a pipe, bytes as sent", async () => {
  const r = await run(["files", "download", "rows.json", "-"], 20_000);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const rows = Array.from({ length: 20_000 }, (_, i) => ({ Name: "m" + i, Pad: "x".repeat(100) }));
  expect(r.stdout).toBe(JSON.stringify(rows));
});
