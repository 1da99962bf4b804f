// Crash safety through the API: the server is killed with SIGKILL at random moments while a
// client writes; after each restart every acknowledged write must be there, nothing corrupt.
// Trials: API_CRASH_TRIALS (default 20; the benchmark uses 50).

import { expect, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnServer } from "./helpers/process.ts";
import { API_ONLY } from "./helpers/socle.ts";

const TRIALS = Number(process.env.API_CRASH_TRIALS ?? 20);
const PASSWORD = "crash-test-password";

test(`acknowledged API writes survive SIGKILL (${TRIALS} trials)`, async () => {
  const dir = await mkdtemp(join(tmpdir(), "socle-crash-"));
  const args = ["--data-dir", dir, "--api-port", "0", "--api-listen", "127.0.0.1", ...API_ONLY];
  const env = { SOCLE_ADMIN_PASSWORD: PASSWORD };
  const acked = new Set<string>();
  const errors: string[] = [];
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  try {
    for (let trial = 0; trial < TRIALS; trial++) {
      const srv = await spawnServer(args, env);
      const ca = await readFile(join(dir, "pki/ca.pem"), "utf8");
      const base = `https://127.0.0.1:${srv.port}/api/v3`;
      const auth = { Authorization: "Basic " + Buffer.from(`admin:${PASSWORD}`).toString("base64") };
      const opts = (init: RequestInit = {}) => ({ ...init, headers: { ...auth, "Content-Type": "application/json" }, tls: { ca } }) as RequestInit;

      // Everything acknowledged before this start must be there, each exactly once.
      const list = await fetch(`${base}/machines`, opts());
      expect(list.status).toBe(200);
      const names = new Set(((await list.json()) as { Name: string }[]).map((m) => m.Name));
      const missing = [...acked].filter((n) => !names.has(n));
      expect(missing).toEqual([]);

      let stop = false;
      let killing = false;
      let i = 0;
      const writer = async () => {
        while (!stop) {
          const name = `t${trial}-${i++}`;
          try {
            const r = await fetch(`${base}/machines`, opts({ method: "POST", body: JSON.stringify({ Name: name }) }));
            if (r.status === 201) acked.add(name);
            else if (!killing) errors.push(`unexpected ${r.status} for ${name}: ${await r.text()}`);
          } catch (err) {
            // A write cut off by the kill is unacknowledged; any other failure is a finding.
            if (!killing) errors.push(`${name}: ${(err as Error).message}`);
          }
        }
      };
      const writers = Array.from({ length: 8 }, writer);
      await Bun.sleep(50 + Math.floor(rand() * 400));
      killing = true;
      srv.proc.kill("SIGKILL");
      await srv.proc.exited;
      stop = true;
      await Promise.allSettled(writers);
    }
    const srv = await spawnServer(args, env);
    const ca = await readFile(join(dir, "pki/ca.pem"), "utf8");
    const res = await fetch(`https://127.0.0.1:${srv.port}/api/v3/machines`, {
      headers: { Authorization: "Basic " + Buffer.from(`admin:${PASSWORD}`).toString("base64") },
      tls: { ca },
    } as RequestInit);
    const names = new Set(((await res.json()) as { Name: string }[]).map((m) => m.Name));
    srv.proc.kill("SIGTERM");
    await srv.proc.exited;
    expect([...acked].filter((n) => !names.has(n))).toEqual([]);
    expect(errors).toEqual([]);
    expect(acked.size).toBeGreaterThan(TRIALS);
    console.log(`crash-api: ${TRIALS} SIGKILL trials, ${acked.size} acknowledged writes, all present after restart`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 300_000);
