// bench:http — Socle's boot file server against nginx (Debian nginx-light) in the same run:
// N concurrent downloads of one large file, the same client (curl processes) for both, aggregate
// MB/s. Target (issue 4): Socle >= 0.8x nginx. Both serve the same file from the page cache.
//
//   bun test/bench/http-bench.ts [--clients 50] [--size-mb 50] [--rounds 5]
//
// nginx runs as our child with its own temporary config on 127.0.0.1 (`daemon off;`, sendfile on,
// one worker per core, access log off) and is stopped by its PID when the run ends. Socle's file
// server runs in a child process too (this script again, with SOCLE_HTTP_BENCH_ROOT set), so that
// spawning and reaping the curl clients here never shares its event loop.

import { chmod, mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { startHttpServer } from "../../src/http/server.ts";
import { directorySource } from "../../src/files/sources.ts";
import { nullLogger } from "../../src/log/logger.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : def;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`bench:http: --${name}: invalid value "${args[i + 1]}"`);
  return v;
};
const CLIENTS = opt("clients", 50);
const SIZE_MB = opt("size-mb", 50);
const ROUNDS = opt("rounds", 5);
const ROUND_TIMEOUT_S = 120;
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => existsSync(p));

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(url, { method: "HEAD" });
      if (r.ok) return;
    } catch {}
    await Bun.sleep(50);
  }
  throw new Error(`bench:http: ${url} did not answer within 5 s`);
}

/** N curl processes at once; returns aggregate MB/s over the wall time of the slowest. */
async function round(url: string, expected: number): Promise<number> {
  const started = performance.now();
  const procs = Array.from({ length: CLIENTS }, () =>
    Bun.spawn(["curl", "-s", "-S", "--max-time", String(ROUND_TIMEOUT_S), "-o", "/dev/null", "-w", "%{size_download} %{http_code}", url], {
      stdout: "pipe",
      stderr: "pipe",
    }),
  );
  const results = await Promise.all(procs.map(async (p) => [await new Response(p.stdout).text(), await p.exited] as const));
  const secs = (performance.now() - started) / 1000;
  for (const [out, code] of results) {
    const [size, status] = out.trim().split(" ");
    if (code !== 0 || status !== "200" || Number(size) !== expected) {
      throw new Error(`bench:http: a download from ${url} failed (curl exit ${code}, "${out.trim()}")`);
    }
  }
  return (expected * CLIENTS) / (1024 * 1024) / secs;
}

async function measure(name: string, url: string, expected: number): Promise<number> {
  await round(url, expected); // warm-up
  const rates: number[] = [];
  for (let i = 0; i < ROUNDS; i++) rates.push(await round(url, expected));
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)]!;
  console.log(`${name.padEnd(6)} ${rates.map((r) => r.toFixed(0).padStart(6)).join(" ")} MB/s  median ${median.toFixed(0)} MB/s`);
  return median;
}

/** The child: Socle's boot file server on a free port over `root`; prints the port, runs until killed. */
async function serveChild(root: string): Promise<never> {
  const socle = startHttpServer({ listen: "127.0.0.1", port: 0, source: directorySource(root), log: nullLogger });
  console.log(`port ${socle.port}`);
  return await new Promise<never>(() => {});
}

async function startSocleChild(root: string): Promise<{ port: number; proc: Bun.Subprocess }> {
  const proc = Bun.spawn([process.execPath, import.meta.path], { env: { ...process.env, SOCLE_HTTP_BENCH_ROOT: root }, stdout: "pipe", stderr: "inherit" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let out = "";
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const m = /port (\d+)/.exec(out);
    if (m) {
      reader.releaseLock();
      return { port: Number(m[1]), proc };
    }
    const r = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => undefined)]);
    if (!r || r.done) break;
    out += new TextDecoder().decode(r.value);
  }
  proc.kill();
  throw new Error(`bench:http: Socle's file server did not start (output: ${JSON.stringify(out)})`);
}

async function main(): Promise<number> {
  if (!NGINX) {
    console.error("bench:http: nginx not found; install Debian's nginx-light (apt-get install nginx-light)");
    return 2;
  }
  const dir = await mkdtemp(join(tmpdir(), "socle-http-bench-"));
  await chmod(dir, 0o755); // nginx workers started by root run as "nobody" and must read the file
  const root = join(dir, "files");
  await mkdir(root, { recursive: true });
  const size = SIZE_MB * 1024 * 1024;
  const data = new Uint8Array(size);
  crypto.getRandomValues(data.subarray(0, 65536));
  for (let off = 65536; off < size; off += 65536) data.copyWithin(off, 0, Math.min(65536, size - off));
  await writeFile(join(root, "big.img"), data);

  const workers = availableParallelism();
  const nginxPort = await freePort();
  const conf = join(dir, "nginx.conf");
  await writeFile(
    conf,
    [
      "daemon off;",
      "master_process on;",
      `worker_processes ${workers};`,
      `pid ${join(dir, "nginx.pid")};`,
      `error_log ${join(dir, "nginx-error.log")} warn;`,
      "events { worker_connections 1024; }",
      "http {",
      "  access_log off;",
      "  sendfile on;",
      "  tcp_nopush on;",
      `  client_body_temp_path ${join(dir, "nginx-tmp")};`,
      `  proxy_temp_path ${join(dir, "nginx-tmp")};`,
      `  fastcgi_temp_path ${join(dir, "nginx-tmp")};`,
      `  uwsgi_temp_path ${join(dir, "nginx-tmp")};`,
      `  scgi_temp_path ${join(dir, "nginx-tmp")};`,
      "  default_type application/octet-stream;",
      `  server { listen 127.0.0.1:${nginxPort}; root ${root}; }`,
      "}",
      "",
    ].join("\n"),
  );
  await mkdir(join(dir, "nginx-tmp"));
  const nginx = Bun.spawn([NGINX, "-c", conf, "-e", join(dir, "nginx-error.log")], { stdout: "ignore", stderr: "inherit" });
  let socle: { port: number; proc: Bun.Subprocess } | undefined;
  try {
    socle = await startSocleChild(root);
    const nginxUrl = `http://127.0.0.1:${nginxPort}/big.img`;
    const socleUrl = `http://127.0.0.1:${socle.port}/big.img`;
    await waitFor(nginxUrl);
    await waitFor(socleUrl);
    console.log(`bench:http: ${CLIENTS} concurrent curl downloads of a ${SIZE_MB} MB file, ${ROUNDS} rounds (+1 warm-up), ${workers} cores`);
    const n = await measure("nginx", nginxUrl, size);
    const s = await measure("socle", socleUrl, size);
    const n2 = await measure("nginx", nginxUrl, size); // again, to see drift between the two runs
    const ref = Math.max(n, n2);
    const ratio = s / ref;
    console.log(`ratio socle/nginx ${ratio.toFixed(2)}x (against the better nginx run; target >= 0.80x) ${ratio >= 0.8 ? "OK" : "BELOW TARGET"}`);
    return 0;
  } finally {
    nginx.kill("SIGQUIT");
    const quit = await Promise.race([nginx.exited, Bun.sleep(5000).then(() => undefined)]);
    if (quit === undefined) nginx.kill("SIGKILL");
    if (socle) {
      socle.proc.kill();
      await socle.proc.exited;
    }
    await rm(dir, { recursive: true, force: true });
  }
}

const childRoot = process.env.SOCLE_HTTP_BENCH_ROOT;
if (childRoot) await serveChild(childRoot);
else process.exit(await main());
