// The quiet reclaim in the real server (src/sys/idle-reclaim.ts, wired in main.ts serve): once
// start-up is over and the process is quiet, it drops its compiled code and gives pages back, says
// so, and goes on answering (every path is compiled again on first use). A few requests after it
// are not work enough for another one.

import { expect, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnServer } from "./helpers/process.ts";
import { API_ONLY } from "./helpers/socle.ts";

const PASSWORD = "idle-reclaim-password";

test("serve --idle-reclaim 1: one reclaim after start-up, logged; the API answers after it, and its requests do not start another", async () => {
  const dir = await mkdtemp(join(tmpdir(), "socle-idle-reclaim-"));
  let srv: Awaited<ReturnType<typeof spawnServer>> | undefined;
  try {
    srv = await spawnServer(["--data-dir", dir, "--api-port", "0", "--api-listen", "127.0.0.1", ...API_ONLY, "--idle-reclaim", "1"], {
      SOCLE_ADMIN_PASSWORD: PASSWORD,
    });
    const deadline = Date.now() + 20_000;
    let m: RegExpExecArray | null = null;
    while (m === null && Date.now() < deadline) {
      m = /quiet: memory given back.*rssMB=([\d.]+).*wasMB=([\d.]+).*pauseMs=(\d+)/.exec(srv.output());
      if (m === null) await Bun.sleep(100);
    }
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![2])).toBeGreaterThan(0);
    const ca = await readFile(join(dir, "pki/ca.pem"), "utf8");
    const auth = { Authorization: "Basic " + Buffer.from(`admin:${PASSWORD}`).toString("base64") };
    for (const path of ["/info", "/machines", "/subnets"]) {
      const r = await fetch(`https://127.0.0.1:${srv.port}/api/v3${path}`, { headers: auth, tls: { ca } } as RequestInit);
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
    const bad = await fetch(`https://127.0.0.1:${srv.port}/api/v3/machines?limit=x`, { headers: auth, tls: { ca } } as RequestInit);
    expect(bad.status).toBe(400);
    // Past the grace (5 s) and the quiet wait (1 s) after the first: still one.
    await Bun.sleep(7_000);
    expect(srv.output().match(/quiet: memory given back/g)).toHaveLength(1);
  } finally {
    // The directory goes even when the server never announced its port.
    srv?.proc.kill("SIGTERM");
    await srv?.proc.exited;
    await rm(dir, { recursive: true, force: true });
  }
}, 40_000);
