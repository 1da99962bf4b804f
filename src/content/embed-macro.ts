// Bun macro: runs at build (and transpile) time and returns the shipped content tree as a plain
// object { "local/bootenv.yaml": "...", ... }, so the compiled binary carries bootenvs/ inside it.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export function readContentTree(): Record<string, string> {
  const root = join(import.meta.dir, "../../bootenvs");
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const st = statSync(full);
      if (st.isDirectory()) walk(full);
      else if (st.isFile()) out[relative(root, full)] = readFileSync(full, "utf8");
    }
  };
  walk(root);
  return out;
}
