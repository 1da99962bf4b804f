// Socle's TFTP server alone in a process, for bench:tftp (tftp-bench.ts starts it in the server's
// network namespace, or on 127.0.0.1 with --loopback), so its CPU time, threads, RSS and system
// calls can be read by PID apart from the bench's own.
//
// Usage: bun test/bench/tftp-serve.ts --root DIR --address ADDR --port N [--workers N] [--spin N]
// Serves the regular files directly in DIR from disk. Prints "ready <port>" once it listens;
// SIGUSR1 prints "stats <json>" (TftpStats plus RSS); SIGTERM/SIGINT stop it.

import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { BootFile, FileSource } from "../../src/files/file-source.ts";
import { nullLogger } from "../../src/log/logger.ts";
import { startTftpServer } from "../../src/tftp/server.ts";

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const num = (name: string): number | undefined => {
  const v = opt(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`tftp-serve: ${name} ${JSON.stringify(v)} is not a whole number`);
  return n;
};

const root = opt("--root");
const address = opt("--address") ?? "127.0.0.1";
const port = num("--port") ?? 26969;
if (!root || !existsSync(root)) throw new Error(`tftp-serve: --root ${JSON.stringify(root)} is not a directory`);

// A minimal FileSource over one flat directory (the real directory source with its jail lives in
// src/boot; this measures the protocol server). A name with a slash is never served.
const source: FileSource = {
  async get(path) {
    if (path.includes("/")) return undefined;
    const full = join(root, path);
    const st = statSync(full, { throwIfNoEntry: false });
    if (!st?.isFile()) return undefined;
    const f = Bun.file(full);
    const file: BootFile = { size: st.size, read: (start, end) => f.slice(start ?? 0, end).stream(), diskPath: full };
    return file;
  },
};

const workers = num("--workers");
const spin = num("--spin");
const server = await startTftpServer({
  port,
  listen: [address],
  source,
  log: nullLogger,
  maxTransfers: 512,
  ...(workers === undefined ? {} : { workers }),
  ...(spin === undefined ? {} : { spin }),
});

process.on("SIGUSR1", () => {
  console.log(`stats ${JSON.stringify({ ...server.stats(), rssKb: Math.round(process.memoryUsage().rss / 1024) })}`);
});
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void server.stop().finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
console.log(`ready ${server.stats().listening[0]?.port ?? port}`);
