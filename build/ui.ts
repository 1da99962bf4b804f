// Builds the web UI (src/ui/web) into assets/ui/, where the server reads it from source and
// build/compile.ts embeds it (--asset=assets). Bun's bundler takes index.html as the entry: it
// compiles the TSX (jsxImportSource preact, from src/ui/web/tsconfig.json), bundles the CSS, and
// writes files named by content hash under /ui/, so they are cached for a year and a new build
// is a new name. Nothing is inlined: the page's Content-Security-Policy allows scripts and styles
// from the server's own files only (no 'unsafe-inline', no nonces).
//
//   bun build/ui.ts [--budget-kb N]
//
// Prints each file with its raw and gzipped size and the total; fails when the gzipped total is
// over the budget (300 kB unless given).

import { gzipSync } from "node:zlib";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

export const UI_BUDGET_GZ_BYTES = 300 * 1024;

export interface UiBuildResult {
  files: { name: string; raw: number; gz: number }[];
  raw: number;
  gz: number;
}

export async function buildUi(root: string, outdir = join(root, "assets", "ui")): Promise<UiBuildResult> {
  const entry = join(root, "src", "ui", "web", "index.html");
  // Built beside the output, then each file renamed into it and the previous build's files removed
  // (they must not linger, and be embedded): a server reading assets/ui/ meanwhile (another test,
  // `npm start`) sees whole files, the old build's or the new one's.
  mkdirSync(outdir, { recursive: true });
  const staging = mkdtempSync(join(dirname(outdir), ".ui-build-"));
  try {
    await bundle(entry, staging, root);
    const fresh = new Set(readdirSync(staging));
    for (const name of fresh) renameSync(join(staging, name), join(outdir, name));
    for (const name of readdirSync(outdir)) if (!fresh.has(name)) rmSync(join(outdir, name), { recursive: true, force: true });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const files = readdirSync(outdir)
    .sort()
    .map((name) => {
      const bytes = readFileSync(join(outdir, name));
      return { name, raw: bytes.length, gz: gzipSync(bytes, { level: 9 }).length };
    });
  return { files, raw: files.reduce((s, f) => s + f.raw, 0), gz: files.reduce((s, f) => s + f.gz, 0) };
}

async function bundle(entry: string, outdir: string, root: string): Promise<void> {
  const result = await Bun.build({
    entrypoints: [entry],
    outdir,
    publicPath: "/ui/",
    minify: true,
    target: "browser",
    sourcemap: "none",
    naming: { entry: "[name].[ext]", chunk: "[name]-[hash].[ext]", asset: "[name]-[hash].[ext]" },
    define: { "process.env.NODE_ENV": '"production"' },
    tsconfig: join(root, "src", "ui", "web", "tsconfig.json"),
  } as Parameters<typeof Bun.build>[0]);
  if (!result.success) {
    throw new Error(`ui: build failed:\n${result.logs.map((l) => String(l)).join("\n")}`);
  }
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} kB`;

if (import.meta.main) {
  const root = resolve(import.meta.dir, "..");
  const args = process.argv.slice(2);
  const at = args.indexOf("--budget-kb");
  const budget = at >= 0 ? Number(args[at + 1]) * 1024 : UI_BUDGET_GZ_BYTES;
  try {
    if (!Number.isFinite(budget) || budget <= 0) throw new Error(`ui: --budget-kb: invalid value "${args[at + 1] ?? ""}"`);
    const r = await buildUi(root);
    for (const f of r.files) console.log(`ui: assets/ui/${f.name}  ${kb(f.raw)}  (${kb(f.gz)} gzipped)`);
    console.log(`ui: total ${kb(r.raw)}, ${kb(r.gz)} gzipped (budget ${kb(budget)})`);
    if (r.gz > budget) throw new Error(`ui: the bundle is ${kb(r.gz)} gzipped, over the budget of ${kb(budget)}`);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
