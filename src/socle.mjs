#!/usr/bin/env node
// `socle` from a clone (package.json "bin"; `npx socle ...`): runs src/main.ts on the Bun that
// npm installed (the devDependency `bun`), so neither bun nor socle needs to be on PATH. The
// compiled executable (`npm run build`) needs none of this.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
let bun;
try {
  bun = createRequire(import.meta.url).resolve("bun/bin/bun.exe");
} catch {
  console.error("socle: the bun package is not installed here; run npm install in " + join(here, ".."));
  process.exit(1);
}
const child = spawn(bun, [join(here, "main.ts"), ...process.argv.slice(2)], { stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
