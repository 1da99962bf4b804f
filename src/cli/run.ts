// The process edge: real argv, environment and stdio in, process.exit out. This is the only
// place in Socle that calls process.exit (see DESIGN.md, cli/).

import { runCli, type CliDeps } from "./main.ts";

export async function main(argv: readonly string[], deps: CliDeps): Promise<never> {
  // process.stdout.write on a pipe is asynchronous and process.exit drops what is still queued
  // (a large list piped into another program was cut at 64 KiB). Writes are chained through
  // Bun.write, and all of them are awaited before exiting. A reader that went away (EPIPE, e.g.
  // `| head`) is not an error of ours.
  let pending: Promise<unknown> = Promise.resolve();
  const writer = (file: typeof Bun.stdout) => (s: string) => {
    const text = s.endsWith("\n") ? s : s + "\n";
    pending = pending.then(() => Bun.write(file, text)).catch(() => undefined);
  };
  // Raw bytes (a download to `-`) join the same chain, and the caller waits for each write: a slow
  // reader slows the download instead of queueing it in memory. Here a write error is the
  // caller's to see (EPIPE ends the download).
  const writeBytes = (chunk: Uint8Array): Promise<void> => {
    const done = pending.then(() => Bun.write(Bun.stdout, chunk)).then(() => undefined);
    pending = done.catch(() => undefined);
    return done;
  };
  const code = await runCli(argv, process.env, {
    out: writer(Bun.stdout),
    err: writer(Bun.stderr),
    readStdin: () => Bun.stdin.text(),
    writeBytes,
  }, deps);
  await pending;
  process.exit(code);
}
