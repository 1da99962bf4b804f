// bench:tftp — Socle's TFTP server against tftpd-hpa in the same run, on 127.0.0.1.
// A 20 MB file, blksize 1468: one client, 30 parallel clients (aggregate MB/s), and one client
// with windowsize 16. Clients are atftp (and curl for a second single-client view). Each scenario
// runs ROUNDS times per server, interleaved, and the median is kept. Targets: >= 1.0x tftpd-hpa
// single and parallel, >= 2x with windowsize 16.
// Needs: atftp, curl, in.tftpd (Debian tftpd-hpa; started here as a child, never as a daemon).
// Socle runs transfers on one worker thread per core by default; --workers N overrides (0: all on
// the main thread). The CPU columns are each server's CPU time per round: Socle's (all threads),
// and tftpd-hpa's with its per-transfer children (sampled).
// Usage: bun test/bench/tftp-bench.ts [--rounds N] [--mb N] [--parallel N] [--workers N]

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BootFile, FileSource } from "../../src/files/file-source.ts";
import { nullLogger } from "../../src/log/logger.ts";
import { startTftpServer } from "../../src/tftp/server.ts";

const args = process.argv.slice(2);
const arg = (name: string, def: number, min = 1) => {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : def;
  if (!Number.isFinite(v) || v < min) throw new Error(`bench:tftp: ${name} ${JSON.stringify(args[i + 1])} is not a positive number`);
  return v;
};
const ROUNDS = arg("--rounds", 3);
const MB = arg("--mb", 20);
const PARALLEL = arg("--parallel", 30);
const WORKERS = args.includes("--workers") ? arg("--workers", 0, 0) : undefined;
const DEADLINE = Date.now() + 8 * 60_000;
const CLIENT_TIMEOUT_MS = 120_000;

for (const bin of ["atftp", "curl", "in.tftpd"]) {
  if (!Bun.which(bin, { PATH: `${process.env.PATH}:/usr/sbin:/sbin` })) {
    console.error(`bench:tftp: "${bin}" not found (apt-get install atftp curl tftpd-hpa)`);
    process.exit(2);
  }
}

const dir = mkdtempSync(join(tmpdir(), "socle-tftp-bench-"));
const root = join(dir, "root");
const out = join(dir, "out");
await Bun.$`mkdir -p ${root} ${out}`.quiet();
const size = MB * 1_000_000;
const content = new Uint8Array(size);
for (let off = 0; off < size; off += 65536) crypto.getRandomValues(content.subarray(off, Math.min(size, off + 65536)));
writeFileSync(join(root, "big.bin"), content);

// Socle serves the same file from disk through a minimal FileSource (the real directory source
// lives in src/boot; the bench measures the protocol server, not the jail).
const source: FileSource = {
  async get(path) {
    if (path !== "big.bin") return undefined;
    const f = Bun.file(join(root, path));
    const file: BootFile = { size: f.size, read: (start, end) => f.slice(start ?? 0, end).stream(), diskPath: join(root, path) };
    return file;
  },
};

const SOCLE_PORT = 26969;
const HPA_PORT = 26970;
const socle = await startTftpServer({ port: SOCLE_PORT, listen: ["127.0.0.1"], source, log: nullLogger, maxTransfers: 512, workers: WORKERS });
const hpa = Bun.spawn(["in.tftpd", "--foreground", "--address", `127.0.0.1:${HPA_PORT}`, "--secure", root], {
  stdout: "ignore",
  stderr: "pipe",
  env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` },
});
await Bun.sleep(300);
if (hpa.exitCode !== null) {
  console.error(`bench:tftp: in.tftpd exited with ${hpa.exitCode}: ${await new Response(hpa.stderr).text()}`);
  process.exit(2);
}

type Client = "atftp" | "atftp-w16" | "curl";
function command(client: Client, port: number, dest: string): string[] {
  switch (client) {
    case "atftp":
      return ["atftp", "--option", "blksize 1468", "-g", "-r", "big.bin", "-l", dest, "127.0.0.1", String(port)];
    case "atftp-w16":
      return ["atftp", "--option", "blksize 1468", "--option", "windowsize 16", "-g", "-r", "big.bin", "-l", dest, "127.0.0.1", String(port)];
    case "curl":
      return ["curl", "-sS", "--tftp-blksize", "1468", "-o", dest, `tftp://127.0.0.1:${port}/big.bin`];
  }
}

/** Seconds for `clients` simultaneous downloads; every output is checked for size. */
async function timeRun(client: Client, port: number, clients: number): Promise<number> {
  const t0 = performance.now();
  const procs = Array.from({ length: clients }, (_, i) =>
    Bun.spawn(command(client, port, join(out, `o${i}`)), { stdout: "ignore", stderr: "pipe", timeout: CLIENT_TIMEOUT_MS }),
  );
  const codes = await Promise.all(procs.map((p) => p.exited));
  const secs = (performance.now() - t0) / 1000;
  for (let i = 0; i < clients; i++) {
    const got = statSync(join(out, `o${i}`), { throwIfNoEntry: false })?.size;
    if (codes[i] !== 0 || got !== size) {
      const err = await new Response(procs[i]!.stderr).text();
      throw new Error(`bench:tftp: ${client} client ${i} on port ${port} exited ${codes[i]} with ${got ?? "no"} bytes of ${size}: ${err.trim()}`);
    }
  }
  return secs;
}

/** utime + stime of one process in seconds (proc(5) fields 14 and 15; 100 ticks per second). */
function processCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds used by tftpd-hpa and the child it forks for each transfer, sampled every 20 ms
 * (it ignores SIGCHLD, so the children's time never reaches its own counters). A child's last
 * few milliseconds between samples are missed: a slight undercount in tftpd-hpa's favour.
 */
function sampleTreeCpu(pid: number): () => number {
  const seen = new Map<number, number>();
  const base = processCpu(pid);
  const sample = () => {
    let kids: string[] = [];
    try {
      kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    } catch {}
    for (const k of kids) seen.set(Number(k), Math.max(seen.get(Number(k)) ?? 0, processCpu(Number(k))));
  };
  const timer = setInterval(sample, 20);
  return () => {
    clearInterval(timer);
    sample();
    let total = processCpu(pid) - base;
    for (const v of seen.values()) total += v;
    return total;
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row {
  name: string;
  client: Client;
  clients: number;
  target: number;
}
const scenarios: Row[] = [
  { name: "1 client, blksize 1468 (atftp)", client: "atftp", clients: 1, target: 1.0 },
  { name: "1 client, blksize 1468 (curl)", client: "curl", clients: 1, target: 1.0 },
  { name: `${PARALLEL} clients, blksize 1468 (atftp)`, client: "atftp", clients: PARALLEL, target: 1.0 },
  { name: "1 client, windowsize 16 (atftp)", client: "atftp-w16", clients: 1, target: 2.0 },
];

const results: { row: Row; hpa: number; socle: number; cpu: number; hpaCpu: number }[] = [];
let failed = false;
try {
  // Warm-up: page cache, Bun's JIT.
  await timeRun("atftp", SOCLE_PORT, 1);
  await timeRun("atftp", HPA_PORT, 1);
  for (const row of scenarios) {
    const t = { hpa: [] as number[], socle: [] as number[], cpu: [] as number[], hpaCpu: [] as number[] };
    for (let r = 0; r < ROUNDS && Date.now() < DEADLINE; r++) {
      // Interleave so drift (thermal, other load) hits both servers alike.
      const hpaCpu = sampleTreeCpu(hpa.pid);
      t.hpa.push(await timeRun(row.client, HPA_PORT, row.clients));
      t.hpaCpu.push(hpaCpu());
      const c0 = process.cpuUsage();
      t.socle.push(await timeRun(row.client, SOCLE_PORT, row.clients));
      const c = process.cpuUsage(c0);
      t.cpu.push((c.user + c.system) / 1e6);
    }
    const mbps = (secs: number) => (size * row.clients) / 1e6 / secs;
    results.push({ row, hpa: mbps(median(t.hpa)), socle: mbps(median(t.socle)), cpu: median(t.cpu), hpaCpu: median(t.hpaCpu) });
  }
} catch (e) {
  console.error(e instanceof Error ? e.message : String(e));
  failed = true;
} finally {
  hpa.kill();
  await hpa.exited;
  const st = socle.stats();
  await socle.stop();
  rmSync(dir, { recursive: true, force: true });
  console.log(`socle: ${st.completed} transfers, ${st.failed} failed, ${st.retransmits} retransmissions`);
}

const pad = (s: string, n: number) => s.padEnd(n);
const workers = WORKERS ?? `default (${Math.min(8, navigator.hardwareConcurrency || 1)})`;
console.log(`\nTFTP, ${MB} MB file on 127.0.0.1, median of ${ROUNDS} (MB/s, aggregate for parallel clients), socle workers: ${workers}`);
console.log(`${pad("scenario", 40)} ${pad("tftpd-hpa", 10)} ${pad("socle", 10)} ${pad("hpa cpu", 10)} ${pad("socle cpu", 10)} ${pad("ratio", 7)} target`);
for (const { row, hpa: h, socle: s, cpu, hpaCpu } of results) {
  const ratio = s / h;
  const ok = ratio >= row.target;
  if (!ok) failed = true;
  console.log(`${pad(row.name, 40)} ${pad(h.toFixed(1), 10)} ${pad(s.toFixed(1), 10)} ${pad(hpaCpu.toFixed(2) + " s", 10)} ${pad(cpu.toFixed(2) + " s", 10)} ${pad(ratio.toFixed(2) + "x", 7)} >= ${row.target.toFixed(1)}x ${ok ? "ok" : "BELOW"}`);
}
process.exit(failed ? 1 : 0);
