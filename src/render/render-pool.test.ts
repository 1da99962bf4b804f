import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { WORKER_ENTRIES } from "../../build/compile.ts";
import { NO_AGENT } from "./context.ts";
import { RenderError } from "./render-error.ts";
import { RenderPool } from "./render-pool.ts";
import type { RenderHost, RenderInput } from "./render-input.ts";
import { RENDER_WORKER_ENTRY, renderWorkerUrl } from "./worker-url.ts";

const DEADLINE = 300;
const pools: RenderPool[] = [];
afterAll(() => pools.forEach((p) => p.close()));

function pool(opts: ConstructorParameters<typeof RenderPool>[0] = {}): RenderPool {
  const p = new RenderPool({ deadlineMs: DEADLINE, ...opts });
  pools.push(p);
  return p;
}

const input = (over: Partial<RenderInput> = {}): RenderInput => ({
  machine: { Uuid: "u-1", Name: "n1", Address: "198.51.100.7", HardwareAddrs: ["52:54:00:12:34:56"], Arch: "amd64", BootEnv: "ks" },
  env: { Name: "ks", OS: { Name: "rocky-9" }, Kernel: "vmlinuz", Initrds: ["initrd.img"], BootParams: "ks=<%= it.Machine.Url %>/ks.cfg" },
  serverAddress: "198.51.100.1",
  apiPin: "",
  caCert: "",
  agent: NO_AGENT,
  httpPort: 8091,
  apiPort: 8092,
  target: 'machine "n1"',
  tokens: true,
  ...over,
});

const asked: string[] = [];
const host: RenderHost = {
  params() {
    asked.push("params");
    return [["disk", "vda"], ["ntp", ["198.51.100.1", "198.51.100.2"]]];
  },
  token() {
    asked.push("token");
    return "tok-1";
  },
};

async function failure(p: Promise<unknown>): Promise<RenderError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RenderError) return err;
    throw err;
  }
  throw new Error("expected a RenderError");
}

/** Runs `fn` while measuring the longest gap between ticks of this thread's event loop. */
async function withLoopWatch<T>(fn: () => Promise<T>): Promise<{ value: T; maxGapMs: number; ms: number }> {
  let last = performance.now();
  let maxGapMs = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
  }, 5);
  const t0 = performance.now();
  try {
    const value = await fn();
    return { value, maxGapMs, ms: performance.now() - t0 };
  } finally {
    clearInterval(tick);
  }
}

describe("rendering in the workers", () => {
  test("registered templates with includes, BootParams and parameters; the used ones are reported", async () => {
    const p = pool();
    p.set("ks", "# <%= it.Machine.Name %> <%= it.Machine.MacAddr('raw') %>\n<%~ include('disk', it) %>boot <%= it.BootParams %>\n");
    p.set("disk", "disk <%= it.param('disk') %> <%= it.ParamExists('nope') %>\n");
    asked.length = 0;
    const r = await p.render({ name: "ks" }, input(), host);
    expect(r.output).toBe("# n1 525400123456\ndisk vda false\nboot ks=http://198.51.100.1:8091/machines/u-1/ks.cfg\n");
    expect(r.used).toEqual(["disk"]);
    expect(asked).toEqual(["params"]); // asked once, on first use
    // Sent along, the parameters are not asked for.
    asked.length = 0;
    expect((await p.render({ name: "disk" }, input({ params: [["disk", "sda"]] }), host)).output).toBe("disk sda false\n");
    expect(asked).toEqual([]);
  });

  test("GenerateToken asks the server's thread; not offered, or failing, it is an error naming the template", async () => {
    const p = pool();
    asked.length = 0;
    expect((await p.render({ label: "Contents", source: "t=<%= it.GenerateToken() %>" }, input(), host)).output).toBe("t=tok-1");
    expect(asked).toEqual(["token"]);
    const off = await failure(p.render({ label: "x/Path", source: "<%= it.GenerateToken() %>" }, input({ tokens: false }), host));
    expect(off.message).toBe('template "x/Path" line 1: GenerateToken() is not available here (file paths are rendered without a client)');
    const broken: RenderHost = { ...host, token: () => { throw new Error("token key unavailable"); } };
    expect((await failure(p.render({ label: "c", source: "<%= it.GenerateToken() %>" }, input(), broken))).message).toBe('template "c" line 1: token key unavailable');
  });

  test("MachineCert asks the server's thread, which may answer later; refused in paths, for unknown machines, and when it fails", async () => {
    const p = pool();
    const pems = { Cert: "CERT", Key: "KEY", Ca: "CA" };
    const slow: RenderHost = { ...host, machineCert: () => Bun.sleep(30).then(() => pems) };
    const src = "<% const c = it.MachineCert() %><%= c.Cert %>/<%= c.Key %>/<%= c.Ca %>";
    expect((await p.render({ label: "Contents", source: src }, input(), slow)).output).toBe("CERT/KEY/CA");
    const path = await failure(p.render({ label: "x/Path", source: src }, input({ tokens: false }), slow));
    expect(path.message).toBe('template "x/Path" line 1: MachineCert() is not available here (file paths are rendered without a client)');
    const unknown = await failure(p.render({ label: "c", source: src }, input({ machine: undefined, target: "unknown machines" }), slow));
    expect(unknown.message).toBe('template "c" line 1: MachineCert() is for known machines; this render is for unknown machines');
    expect((await failure(p.render({ label: "c", source: src }, input(), host))).message).toBe('template "c" line 1: MachineCert() is not available here');
    const broken: RenderHost = { ...host, machineCert: () => Promise.reject(new Error("record not writable")) };
    expect((await failure(p.render({ label: "c", source: src }, input(), broken))).message).toBe('template "c" line 1: record not writable');
    expect((await failure(p.render({ label: "c", source: "<%= it.MachineCert().Secret %>" }, input(), slow))).message).toContain("Secret");
  });

  test("errors cross as RenderErrors: missing parameter, missing template, syntax, cycle", async () => {
    const p = pool();
    p.set("a", "x\n<%= it.param('gone') %>");
    p.set("loop1", "<%~ include('loop2', it) %>");
    p.set("loop2", "<%~ include('loop1', it) %>");
    expect(() => p.set("bad", "<% if ( %>")).toThrow(RenderError);
    expect(p.has("bad")).toBe(true);
    const missing = await failure(p.render({ name: "a" }, input(), host));
    expect(missing.kind).toBe("missing-param");
    expect(missing.message).toBe(`template "a" line 2: parameter "gone" is not set for machine "n1" (looked in the machine, its profiles, the global profile and the Param's default)`);
    expect((await failure(p.render({ name: "nope" }, input(), host))).kind).toBe("missing-template");
    expect((await failure(p.render({ label: "c", source: "<%~ include('bad', it) %>" }, input(), host))).message).toBe('template "c" line 1 -> template "bad" line 1: JavaScript syntax error: Unexpected if in "<% if ( %>"');
    expect((await failure(p.render({ name: "loop1" }, input(), host))).kind).toBe("cycle");
    p.delete("a");
    expect((await failure(p.render({ name: "a" }, input(), host))).kind).toBe("missing-template");
  });

  test("the compiled binary carries the worker (build/compile.ts lists it)", () => {
    expect(WORKER_ENTRIES).toContain(`src/${RENDER_WORKER_ENTRY}`);
    expect(renderWorkerUrl().pathname).toBe(join(import.meta.dir, "render-worker.ts"));
    expect(renderWorkerUrl("file:///$bunfs/root/socle-linux-amd64").href).toBe("file:///$bunfs/root/render/render-worker.ts");
  });
});

describe("the deadline", () => {
  // Each stops only by being terminated: no check inside the template's thread could end them.
  const RUNAWAYS: Array<[string, string]> = [
    ["a loop", "<% while (true) {} %>"],
    ["code built at run time", '<%= "".constructor.constructor("while (1) {}")() %>'],
    ["a regular expression backtracking for ever (one call into the engine)", "<%= /^(a+)+$/.test('a'.repeat(64) + 'b') %>"],
    ["a loop in a function called from a getter", "<% const o = { get x() { for (;;) {} } }; o.x %>"],
  ];
  for (const [what, source] of RUNAWAYS) {
    test(`${what}: a "deadline" error naming the template, while this thread never waits`, async () => {
      const p = pool();
      const { value: err, maxGapMs, ms } = await withLoopWatch(() => failure(p.render({ label: "runaway", source }, input(), host)));
      expect(err.kind).toBe("deadline");
      expect(err.message).toBe(`template "runaway": rendering ran past the deadline of ${DEADLINE} ms and was stopped (a loop, deep recursion or a runaway regular expression?)`);
      expect(ms).toBeGreaterThanOrEqual(DEADLINE - 5);
      expect(ms).toBeLessThan(DEADLINE + 700);
      expect(maxGapMs).toBeLessThan(DEADLINE / 2); // this thread ran all along (a loaded machine may pause it briefly)
      // The pool goes on with a fresh worker.
      expect((await p.render({ label: "ok", source: "fine" }, input(), host)).output).toBe("fine");
    });
  }

  test("unbounded recursion is a quick runtime error, not a stuck worker", async () => {
    const p = pool();
    const err = await failure(p.render({ label: "r", source: "<% function f() { return f() + 1 } f() %>" }, input(), host));
    expect(err.kind).toBe("runtime");
    expect(err.message).toContain("Maximum call stack size exceeded");
  });

  test("the error names the include the render was stuck in", async () => {
    const p = pool();
    p.set("top", "a\n<%~ include('mid', it) %>");
    p.set("mid", "<%~ include('spin', it) %>");
    p.set("spin", "<% for (;;) {} %>");
    const err = await failure(p.render({ name: "top" }, input(), host));
    expect(err.kind).toBe("deadline");
    expect(err.message).toStartWith('template "top" -> template "spin": rendering ran past the deadline');
    expect(err.where?.template).toBe("spin");
  });

  test("other renders go on meanwhile on the other worker", async () => {
    // A long deadline, and order rather than time: the 20 renders all finish while the stuck one
    // still runs, however slow a loaded machine makes each of them.
    const p = pool({ workers: 2, deadlineMs: 3_000 });
    p.set("ok", "ok <%= it.Machine.Name %>");
    let stuckEnded = false;
    const stuck = failure(p.render({ label: "spin", source: "<% for (;;) {} %>" }, input(), host)).finally(() => (stuckEnded = true));
    await Bun.sleep(50);
    for (let i = 0; i < 20; i++) expect((await p.render({ name: "ok" }, input(), host)).output).toBe("ok n1");
    expect(stuckEnded).toBe(false);
    expect((await stuck).kind).toBe("deadline");
  }, 15_000);

  test("a run of many targets: one deadline for a template that overruns, the rest rendered", async () => {
    const p = pool({ workers: 1 });
    const jobs = Array.from({ length: 5 }, (_, i) => ({
      input: input({ machine: { Uuid: `u-${i}`, Name: `n${i}`, Address: "", HardwareAddrs: [], Arch: "amd64", BootEnv: "ks" } }),
      host,
      targets: [
        { label: "ks/ipxe/Path", source: "<%= it.Machine.Name %>.ipxe" },
        { label: "ks/spin/Path", source: "<% while (it.Machine.Name) {} %>" },
        { label: "ks/ks/Path", source: "<%= it.Machine.Path %>/ks.cfg" },
      ],
    }));
    const { value: out, ms } = await withLoopWatch(() => p.renderAll(jobs));
    expect(ms).toBeLessThan(2 * DEADLINE);
    out.forEach((list, i) => {
      expect(list[0]).toEqual({ output: `n${i}.ipxe`, used: [] });
      expect((list[1] as RenderError).kind).toBe("deadline");
      expect(list[2]).toEqual({ output: `machines/u-${i}/ks.cfg`, used: [] });
    });
  });

  test("each item has its own deadline: a run (or a queue) longer than the deadline in total completes", async () => {
    const p = pool({ workers: 1 });
    const slow = { label: "slow", source: "<% const t = Date.now(); while (Date.now() - t < 100) {} %>ok" };
    const batch = p.renderAll([{ input: input(), host, targets: [slow, slow, slow, slow, slow] }]);
    const singles = Array.from({ length: 4 }, () => p.render(slow, input(), host)); // queued together: sent in one message
    expect((await batch)[0]).toEqual(Array.from({ length: 5 }, () => ({ output: "ok", used: [] })));
    expect((await Promise.all(singles)).map((r) => r.output)).toEqual(["ok", "ok", "ok", "ok"]);
  });

  test("close: queued renders fail, no worker is left", async () => {
    const p = pool({ workers: 1 });
    const stuck = failure(p.render({ label: "spin", source: "<% for (;;) {} %>" }, input(), host));
    const queued = failure(p.render({ label: "ok", source: "ok" }, input(), host));
    await Bun.sleep(20);
    p.close();
    expect((await stuck).message).toContain("template rendering has stopped (server shutting down)");
    expect((await queued).message).toBe('template "ok": template rendering has stopped (server shutting down)');
    expect((await failure(p.render({ label: "late", source: "x" }, input(), host))).message).toContain("has stopped");
  });

  test("a worker that cannot start fails renders instead of leaving them waiting", async () => {
    const p = pool({ workerUrl: new URL("./no-such-worker.ts", import.meta.url) });
    const err = await failure(p.render({ label: "x", source: "x" }, input(), host));
    expect(err.message).toMatch(/render worker|unavailable/);
  });
});
