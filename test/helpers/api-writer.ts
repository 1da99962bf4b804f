// An API client that writes at a steady rate and records which writes were acknowledged: run as a
// child in a client namespace, it POSTs a new profile every `everyMs` for `forMs` to `endpoint`
// (the HA pair's VIP) and prints one JSON line per request: {ok: true, name} for a 2xx, {ok: false,
// name, why} otherwise, each with its latency (ms). Requests leave on a fixed schedule, not one
// after the other. A write that fails is retried once as the same name at a later tick, as a
// careful client would; a retried POST answered 409 means the first one landed (counted as acked).
//
//   SOCLE_API_WRITER='{"endpoint":"https://198.51.100.10:8092","caFile":"...","token":"...","everyMs":10,"forMs":8000,"prefix":"ha-w"}'

import type { NetLab, Spawned } from "./netns.ts";
import { BUN } from "./socle-netns.ts";

export interface WriterSpec {
  endpoint: string;
  caFile: string;
  token: string;
  everyMs: number;
  forMs: number;
  prefix: string;
}

export interface WriteResult {
  ok: boolean;
  name: string;
  status?: number;
  why?: string;
  t: number;
  /** How long the request took, from send to the whole answer read (ms). */
  ms: number;
}

export function startWriter(lab: NetLab, ns: string, spec: WriterSpec): Spawned {
  return lab.spawn(ns, ["env", `SOCLE_API_WRITER=${JSON.stringify(spec)}`, BUN, import.meta.path]);
}

export function writes(p: Spawned): WriteResult[] {
  const out: WriteResult[] = [];
  for (const l of p.output().split("\n")) {
    if (!l.startsWith("{")) continue;
    try {
      out.push(JSON.parse(l) as WriteResult);
    } catch {
      // a line cut by a kill
    }
  }
  return out;
}

async function writerChild(spec: WriterSpec): Promise<void> {
  const ca = await Bun.file(spec.caFile).text();
  const start = Date.now();
  let n = 0;
  const retries: string[] = [];
  const inFlight = new Set<Promise<void>>();
  const write = async (name: string, again: boolean): Promise<void> => {
    let line: WriteResult;
    const sent = performance.now();
    try {
      const r = await fetch(`${spec.endpoint}/api/v3/profiles`, {
        method: "POST",
        headers: { authorization: `Bearer ${spec.token}`, "content-type": "application/json" },
        body: JSON.stringify({ Name: name }),
        tls: { ca },
        signal: AbortSignal.timeout(2000),
      });
      await r.arrayBuffer();
      const landed = r.ok || (again && r.status === 409);
      line = { ok: landed, name, status: r.status, t: Date.now(), ms: performance.now() - sent };
      if (!landed && !again) retries.push(name);
    } catch (err) {
      line = { ok: false, name, why: err instanceof Error ? err.message : String(err), t: Date.now(), ms: performance.now() - sent };
      if (!again) retries.push(name);
    }
    process.stdout.write(JSON.stringify(line) + "\n");
  };
  // One request per tick whatever the ones before it are doing (up to 32 in flight), so the rate
  // is the one asked for, not one over the server's latency.
  for (let tick = 0; Date.now() - start < spec.forMs; tick++) {
    if (inFlight.size < 32) {
      const again = retries.length > 0;
      const p = write(again ? retries.shift()! : `${spec.prefix}-${n++}`, again);
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    const wait = start + (tick + 1) * spec.everyMs - Date.now();
    if (wait > 0) await Bun.sleep(wait);
  }
  await Promise.all(inFlight);
}

if (import.meta.main && process.env.SOCLE_API_WRITER) {
  await writerChild(JSON.parse(process.env.SOCLE_API_WRITER) as WriterSpec);
}
