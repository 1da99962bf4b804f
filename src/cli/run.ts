// The process edge: real argv, environment and stdio in, process.exit out. This is the only
// place in Socle that calls process.exit (see DESIGN.md, cli/).

import { runCli, type CliDeps } from "./main.ts";

export async function main(argv: readonly string[], deps: CliDeps): Promise<never> {
  const code = await runCli(argv, process.env, {
    out: (s) => process.stdout.write(s.endsWith("\n") ? s : s + "\n"),
    err: (s) => process.stderr.write(s.endsWith("\n") ? s : s + "\n"),
    readStdin: () => Bun.stdin.text(),
  }, deps);
  // Let buffered stdout drain before exiting (large lists piped into another program).
  await new Promise<void>((resolve) => (process.stdout.write("") ? resolve() : process.stdout.once("drain", () => resolve())));
  process.exit(code);
}
