// Runs `bun src/main.ts serve` as a child process (for tests that kill it), and waits for the
// log line that announces the API port.

import { resolve } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = resolve(import.meta.dir, "../..");
export const BUN = process.execPath;

export interface ServerProcess {
  proc: Subprocess;
  port: number;
  output: () => string;
}

export async function spawnServer(args: string[], env: Record<string, string>, timeoutMs = 15_000): Promise<ServerProcess> {
  const proc = Bun.spawn([BUN, resolve(ROOT, "src/main.ts"), "serve", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) out += dec.decode(chunk);
  };
  void collect(proc.stdout as ReadableStream<Uint8Array>);
  void collect(proc.stderr as ReadableStream<Uint8Array>);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = /api=https:\/\/[^\s]*?:(\d+)\/api\/v3/.exec(out);
    if (m) return { proc, port: Number(m[1]), output: () => out };
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}:\n${out}`);
    await Bun.sleep(20);
  }
  proc.kill("SIGKILL");
  throw new Error(`server did not announce its port within ${timeoutMs} ms:\n${out}`);
}
