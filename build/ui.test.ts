import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildUi } from "./ui.ts";

const ROOT = resolve(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "socle-ui-build-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the bundle: index.html naming hashed files under /ui/, nothing inline, well under budget", async () => {
  const out = join(dir, "ui");
  const r = await buildUi(ROOT, out);
  const names = r.files.map((f) => f.name);
  expect(names).toContain("index.html");
  const js = names.filter((n) => /^[a-z]+-[a-z0-9]{8}\.js$/.test(n));
  const css = names.filter((n) => /^[a-z]+-[a-z0-9]{8}\.css$/.test(n));
  expect(js.length).toBe(1);
  expect(css.length).toBe(1);
  const html = readFileSync(join(out, "index.html"), "utf8");
  expect(html).toContain(`src="/ui/${js[0]}"`);
  expect(html).toContain(`href="/ui/${css[0]}"`);
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  expect(html).not.toContain("<style");
  // Preact's production build: no development warnings or React runtime.
  const code = readFileSync(join(out, js[0]!), "utf8");
  expect(code).not.toContain("react/jsx");
  expect(r.gz).toBeLessThan(100 * 1024);
  expect(r.gz).toBe(r.files.reduce((s, f) => s + f.gz, 0));
  // A second build replaces the first and leaves nothing of it behind.
  const again = await buildUi(ROOT, out);
  expect(again.files.map((f) => f.name)).toEqual(names);
});

test("over the budget the build fails, saying by how much", () => {
  const p = Bun.spawnSync([process.execPath, join(ROOT, "build/ui.ts"), "--budget-kb", "1"], { cwd: ROOT });
  expect(p.exitCode).toBe(1);
  expect(p.stderr.toString()).toMatch(/ui: the bundle is [\d.]+ kB gzipped, over the budget of 1\.0 kB/);
});
