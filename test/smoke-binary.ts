// Smoke test of the compiled executable: build dist/socle-linux-amd64 (or use $SOCLE_SMOKE_BINARY),
// run `serve` with only the API on a loopback port and a temporary data dir, then drive it with
// the same binary as the CLI: pki ca, info, /metrics, create, list, show, an unauthenticated call. Stops the
// server by its PID. As root, a second run inside a network namespace of its own (loopback only)
// serves the embedded loaders and discovery images (obtained into assets/boot by npm install)
// and a file from its data dir over TFTP (transfer workers
// bundled in the binary) and HTTP, fetched with curl and compared byte for byte. Prints bun-test-style summary lines (" N pass",
// " N fail", " N skip") for test/run-all.ts.
//
//   bun test/smoke-binary.ts            build, then test
//   SOCLE_SMOKE_BINARY=path bun test/smoke-binary.ts    test an existing executable

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compile } from "../build/compile.ts";
import { steps } from "./helpers/steps.ts";

const ROOT = resolve(import.meta.dir, "..");
const PASSWORD = "smoke-test-pw-1";
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

const { step, skip, finish } = steps("smoke");

/** A port the kernel just handed out on 127.0.0.1 (closed again; tiny race accepted for a smoke test). */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => (typeof addr === "object" && addr ? res(addr.port) : rej(new Error("no port"))));
    });
  });
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function runBin(bin: string, args: string[], env: Record<string, string>): Promise<Ran> {
  const p = Bun.spawn([bin, ...args], { env, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 15_000);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

function expectOk(r: Ran, what: string): Ran {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}

/** The API smoke steps; resolves to the executable tested (undefined when it could not be built). */
async function main(): Promise<string | undefined> {
  const dir = mkdtempSync(join(tmpdir(), "socle-smoke-"));
  const dataDir = join(dir, "data");
  const logFile = join(dir, "serve.log");
  const baseEnv: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir };
  let server: ReturnType<typeof Bun.spawn> | undefined;
  let serverLog = "";
  let bin: string | undefined;

  try {
    const exe = await step("executable", async () => {
      if (process.env.SOCLE_SMOKE_BINARY) return resolve(process.env.SOCLE_SMOKE_BINARY);
      const [out] = await compile(ROOT, { targets: ["amd64"], outdir: "dist" });
      if (!out) throw new Error("compile produced nothing");
      return out;
    });
    bin = exe;

    const port = await freePort();
    const endpoint = `https://127.0.0.1:${port}`;
    const serveArgs = [
      "serve",
      "--data-dir", dataDir,
      "--api-listen", "127.0.0.1",
      "--api-port", String(port),
      "--address", "127.0.0.1",
      "--disable-dhcp", "--disable-tftp", "--disable-binl", "--disable-static",
    ];

    server = await step("serve starts", async () => {
      const p = Bun.spawn([exe, ...serveArgs], {
        env: { ...baseEnv, SOCLE_ADMIN_PASSWORD: PASSWORD },
        stdout: "pipe",
        stderr: "pipe",
        stdin: "ignore",
      });
      // Collect the server's output for the report without blocking on it.
      for (const stream of [p.stdout, p.stderr]) {
        void (async () => {
          const decoder = new TextDecoder();
          for await (const chunk of stream as ReadableStream<Uint8Array>) serverLog += decoder.decode(chunk);
        })();
      }
      return p;
    });

    const caFile = join(dir, "ca.pem");
    const client = ["-E", endpoint, "--ca-file", caFile, "-U", "admin", "-P", PASSWORD];

    await step("info answers (CA from `socle pki ca`)", async () => {
      const deadline = Date.now() + START_TIMEOUT_MS;
      let last = "";
      for (let i = 0; i < 300 && Date.now() < deadline; i++) {
        if (server?.exitCode !== null) throw new Error(`server exited with ${server?.exitCode}`);
        const ca = await runBin(exe, ["pki", "ca", "--data-dir", dataDir], baseEnv);
        if (ca.code === 0) {
          writeFileSync(caFile, ca.stdout);
          const r = await runBin(exe, [...client, "info"], baseEnv);
          if (r.code === 0) {
            const info = JSON.parse(r.stdout) as { ApiPort?: number };
            if (info.ApiPort !== port) throw new Error(`info says ApiPort ${info.ApiPort}, expected ${port}`);
            return;
          }
          last = r.stderr.trim();
        } else {
          last = ca.stderr.trim();
        }
        await Bun.sleep(100);
      }
      throw new Error(`no answer within ${START_TIMEOUT_MS / 1000}s; last: ${last}`);
    });

    await step("GET /metrics answers (prom-client loads on the first scrape, inside the executable)", async () => {
      const res = await fetch(`${endpoint}/metrics`, {
        headers: { Authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString("base64")}` },
        tls: { ca: readFileSync(caFile, "utf8") },
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${text.slice(0, 300)}`);
      if (!/^socle_store_seq \d+$/m.test(text)) throw new Error(`GET /metrics: no socle_store_seq sample in ${text.slice(0, 300)}`);
    });

    const uuid = await step("machines create", async () => {
      const r = expectOk(
        await runBin(exe, [...client, "machines", "create", '{"Name":"smoke-1","HardwareAddrs":["52:54:00:12:34:56"]}'], baseEnv),
        "create",
      );
      const m = JSON.parse(r.stdout) as { Uuid?: string; Name?: string };
      if (m.Name !== "smoke-1" || !m.Uuid) throw new Error(`unexpected object: ${r.stdout}`);
      return m.Uuid;
    });

    await step("machines list (json and table)", async () => {
      const r = expectOk(await runBin(exe, [...client, "machines", "list", "Name=Eq(smoke-1)"], baseEnv), "list");
      const list = JSON.parse(r.stdout) as { Uuid: string }[];
      if (list.length !== 1 || list[0]?.Uuid !== uuid) throw new Error(`list returned ${r.stdout}`);
      const t = expectOk(await runBin(exe, [...client, "-o", "table", "machines", "list"], baseEnv), "list -o table");
      if (!t.stdout.split("\n").some((l) => l.startsWith(uuid) && l.includes("smoke-1"))) {
        throw new Error(`table lacks the machine:\n${t.stdout}`);
      }
    });

    await step("machines show Name:smoke-1", async () => {
      const r = expectOk(await runBin(exe, [...client, "machines", "show", "Name:smoke-1"], baseEnv), "show");
      if ((JSON.parse(r.stdout) as { Uuid?: string }).Uuid !== uuid) throw new Error(`show returned ${r.stdout}`);
    });

    await step("no credentials: 401 and exit 1", async () => {
      const r = await runBin(exe, ["-E", endpoint, "--ca-file", caFile, "machines", "list"], baseEnv);
      if (r.code !== 1 || !r.stderr.startsWith("Error: Unauthorized 401")) {
        throw new Error(`expected exit 1 with "Error: Unauthorized 401", got ${r.code}: ${r.stderr.trim()}`);
      }
    });

    await step("stops on SIGTERM", async () => {
      const p = server as ReturnType<typeof Bun.spawn>;
      process.kill(p.pid, "SIGTERM");
      const code = await Promise.race([p.exited, Bun.sleep(STOP_TIMEOUT_MS).then(() => "timeout" as const)]);
      if (code === "timeout") throw new Error(`still running ${STOP_TIMEOUT_MS / 1000}s after SIGTERM`);
      if (code !== 0) throw new Error(`exit code ${code} after SIGTERM`);
    });
  } catch {
    // The failing step has been reported; the server log says why.
    if (serverLog) {
      writeFileSync(logFile, serverLog);
      console.log(`--- server output (last 40 lines) ---\n${serverLog.trimEnd().split("\n").slice(-40).join("\n")}\n---`);
    }
  } finally {
    if (server && server.exitCode === null) {
      process.kill(server.pid, "SIGKILL");
      await server.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return bin;
}

/**
 * TFTP and HTTP from the compiled binary, in a namespace this test creates (only `lo` in it, so
 * no TFTP server ever listens on a real interface). Root only; skipped with the reason otherwise.
 */
async function bootFiles(bin: string): Promise<void> {
  const name = "boot files from the binary: TFTP (workers) and HTTP, byte-identical (own netns)";
  const A = join(ROOT, "assets", "boot");
  const absent = ["undionly.kpxe", "ipxe.efi", "discovery/amd64/vmlinuz", "discovery/arm64/initrd.img"].find((f) => !existsSync(join(A, f)));
  const why =
    process.getuid?.() !== 0 ? "needs root (network namespace)"
    : !Bun.which("ip") ? "needs iproute2"
    : absent ? `assets/boot/${absent} was not obtained, so the binary embeds none (run npm run assets)`
    : undefined;
  if (why) {
    skip(name, why);
    return;
  }
  const ns = `socle-smoke-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), "socle-smoke-boot-"));
  let server: ReturnType<typeof Bun.spawn> | undefined;
  let log = "";
  try {
    await step(name, async () => {
      expectOk(await runBin("ip", ["netns", "add", ns], { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" }), "ip netns add");
      expectOk(await runBin("ip", ["-n", ns, "link", "set", "lo", "up"], { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" }), "lo up");
      const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, SOCLE_ADMIN_PASSWORD: PASSWORD };
      // A file on disk too: workers read those themselves, synchronously, in their poll loop.
      const disk = new Uint8Array(3_000_001);
      for (let i = 0; i < disk.length; i += 65536) crypto.getRandomValues(disk.subarray(i, Math.min(disk.length, i + 65536)));
      mkdirSync(join(dir, "data", "files"), { recursive: true });
      writeFileSync(join(dir, "data", "files", "disk.bin"), disk);
      server = Bun.spawn(
        ["ip", "netns", "exec", ns, bin, "serve", "--data-dir", join(dir, "data"), "--address", "127.0.0.1", "--api-listen", "127.0.0.1",
          "--api-port", "18092", "--static-port", "18091", "--tftp-port", "1069", "--disable-dhcp", "--disable-binl"],
        { env, stdout: "pipe", stderr: "pipe", stdin: "ignore" },
      );
      for (const stream of [server.stdout, server.stderr]) {
        void (async () => {
          const decoder = new TextDecoder();
          for await (const chunk of stream as ReadableStream<Uint8Array>) log += decoder.decode(chunk);
        })();
      }
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (!/socle started/.test(log)) {
        if (server.exitCode !== null) throw new Error(`server exited with ${server.exitCode}: ${log.trim().split("\n").slice(-5).join(" | ")}`);
        if (Date.now() > deadline) throw new Error(`not started within ${START_TIMEOUT_MS / 1000}s`);
        await Bun.sleep(100);
      }
      for (const [want, url] of [
        [join(A, "undionly.kpxe"), "tftp://127.0.0.1:1069/undionly.kpxe"],
        [join(A, "ipxe.efi"), "tftp://127.0.0.1:1069/ipxe.efi"],
        [join(A, "grubnetaa64.efi"), "tftp://127.0.0.1:1069/grubnetaa64.efi"],
        [join(A, "discovery/amd64/vmlinuz"), "tftp://127.0.0.1:1069/discovery/amd64/vmlinuz"],
        [join(dir, "data", "files", "disk.bin"), "tftp://127.0.0.1:1069/disk.bin"],
        [join(A, "ipxe.efi"), "http://127.0.0.1:18091/ipxe.efi"],
        [join(A, "discovery/amd64/vmlinuz"), "http://127.0.0.1:18091/discovery/amd64/vmlinuz"],
        [join(A, "discovery/arm64/initrd.img"), "http://127.0.0.1:18091/discovery/arm64/initrd.img"],
      ] as const) {
        const out = join(dir, "got");
        rmSync(out, { force: true });
        const args = ["netns", "exec", ns, "curl", "-sS", "--max-time", "20", ...(url.startsWith("tftp") ? ["--tftp-blksize", "1468"] : []), "-o", out, url];
        expectOk(await runBin("ip", args, { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" }), `curl ${url}`);
        const expected = new Uint8Array(await Bun.file(want).arrayBuffer());
        const got = new Uint8Array(await Bun.file(out).arrayBuffer());
        if (got.length !== expected.length || !got.every((b, i) => b === expected[i])) {
          throw new Error(`${url}: ${got.length} bytes, not the ${expected.length} bytes of ${want}`);
        }
      }
    });
  } catch {
    if (log) console.log(`--- server output (last 40 lines) ---\n${log.trimEnd().split("\n").slice(-40).join("\n")}\n---`);
  } finally {
    if (server && server.exitCode === null) {
      server.kill("SIGTERM");
      const done = await Promise.race([server.exited, Bun.sleep(STOP_TIMEOUT_MS).then(() => undefined)]);
      if (done === undefined) {
        server.kill("SIGKILL");
        await server.exited;
      }
    }
    await runBin("ip", ["netns", "del", ns], { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" });
    rmSync(dir, { recursive: true, force: true });
  }
}

const built = await main();
if (built) await bootFiles(built);
finish();
