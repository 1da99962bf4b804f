// bench:render: renders per second and latency percentiles of a kickstart with three nested
// includes, rendered for a machine through the boot core (parameter resolution, strict context,
// path index lookup, a render worker under the deadline), as the HTTP server would ask for it,
// one at a time and 64 at once; and, in the same run, the same render in this thread with no
// deadline (what BootCore did before renders moved to workers). Not a timed test: prints figures.
//
//   bun test/bench/render-bench.ts [seconds=3]

import { agentFacts } from "../../src/assets/agent-files.ts";
import { nullLogger } from "../../src/log/logger.ts";
import { bootenvs } from "../../src/model/schemas/bootenvs.ts";
import { machines } from "../../src/model/schemas/machines.ts";
import { templates } from "../../src/model/schemas/templates.ts";
import { profiles } from "../../src/model/schemas/profiles.ts";
import { params } from "../../src/model/schemas/params.ts";
import { memoryBootData } from "../../src/boot/boot-data.ts";
import { BootCore } from "../../src/boot/core.ts";
import { renderRequest } from "../../src/boot/render-context.ts";
import { TemplateEngine, contextOf, DEFAULT_RENDER_DEADLINE_MS, DEFAULT_RENDER_WORKERS } from "../../src/render/index.ts";

const seconds = Number(process.argv[2] ?? "3");
const MACHINES = 1000;

const ms = Array.from({ length: MACHINES }, (_, i) =>
  machines.prepare({
    Name: `n${i}`,
    HardwareAddrs: [`52:54:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`],
    Address: `198.51.${100 + (i >> 8)}.${i & 0xff}`,
    BootEnv: "rocky-9",
    Profiles: ["site"],
    Params: { "operating-system-disk": i % 2 ? "vda" : "sda" },
  }),
);
const data = memoryBootData({
  machines: ms,
  bootenvs: [
    bootenvs.prepare({
      Name: "rocky-9",
      OS: { Name: "rocky-9" },
      Kernel: "rocky-9/vmlinuz",
      BootParams: "inst.ks=<%= it.Machine.Url %>/ks.cfg inst.repo=<%= it.Env.InstallUrl %> <%= it.param('kernel-console') %>",
      Templates: [{ Name: "kickstart", Path: "<%= it.Machine.Path %>/ks.cfg", ID: "ks.tmpl" }],
    }),
  ],
  templates: [
    templates.prepare({
      ID: "ks.tmpl",
      Contents: [
        "# Kickstart for <%= it.Machine.Name %> (<%= it.Machine.MacAddr() %>)",
        "text",
        "url --url=<%= it.Env.InstallUrl %>",
        "lang en_US.UTF-8",
        "keyboard us",
        "timezone <%= it.param('timezone') %> --utc",
        "<%~ include('ks-network.tmpl', it) %>",
        "<%~ include('ks-disk.tmpl', it) %>",
        "rootpw --iscrypted <%= it.param('root-hash') %>",
        "%packages",
        "@^minimal-environment",
        "<% for (const p of it.param('extra-packages')) { %><%= p %>",
        "<% } %>%end",
        "%post",
        "curl -s -X POST <%= it.ApiURL %>/api/v3/machines/<%= it.Machine.Uuid %>/done",
        "%end",
        "reboot",
        "",
      ].join("\n"),
    }),
    templates.prepare({
      ID: "ks-network.tmpl",
      Contents: "network --bootproto=dhcp --device=<%= it.Machine.MacAddr() %> --hostname=<%= it.Machine.Name %>.<%= it.param('domain') %>\n<%~ include('ks-ntp.tmpl', it) %>",
    }),
    templates.prepare({ ID: "ks-ntp.tmpl", Contents: "<% for (const s of it.param('ntp-servers')) { %>timesource --ntp-server=<%= s %>\n<% } %>" }),
    templates.prepare({
      ID: "ks-disk.tmpl",
      Contents: "ignoredisk --only-use=<%= it.param('operating-system-disk') %>\nclearpart --all --initlabel --drives=<%= it.param('operating-system-disk') %>\nautopart --type=lvm\nbootloader --append=\"<%= it.BootParams %>\"\n",
    }),
  ],
  profiles: [
    profiles.prepare({ Name: "global", Params: { domain: "lab.example", "ntp-servers": ["198.51.100.1", "198.51.100.2"] } }),
    profiles.prepare({ Name: "site", Params: { timezone: "Europe/Paris", "extra-packages": ["vim-enhanced", "tmux", "curl"] } }),
  ],
  params: [
    params.prepare({ Name: "root-hash", Schema: { type: "string", default: "$6$rounds=4096$abcdefgh$0123456789" } }),
    params.prepare({ Name: "kernel-console", Schema: { type: "string", default: "console=ttyS0,115200" } }),
  ],
  prefs: [{ unknownBootEnv: "ignore" }],
});
const core = new BootCore({ data, log: nullLogger, httpPort: 8091, apiPort: 8092, tokens: { machine: () => "t", registration: () => "t" }, agent: agentFacts() });
const facts = { protocol: "http" as const, remoteAddress: "198.51.100.50", serverAddress: "198.51.100.1" };
const paths = ms.map((m) => `machines/${String(m.Uuid)}/ks.cfg`);

// Sanity: the file renders completely, with its includes.
const sample = (await core.renderFile(paths[1]!, facts.serverAddress))!;
if (!sample.includes("timesource --ntp-server=198.51.100.2") || !sample.includes("--only-use=vda") || !sample.endsWith("reboot\n")) {
  throw new Error(`bench:render: unexpected kickstart:\n${sample}`);
}

// The same render in this thread, as before renders moved to workers: the context from the same
// RenderInput, the same compiled templates, no deadline (a looping template would stop this thread).
const inThread = new TemplateEngine();
for (const t of data.templates()) inThread.set(String(t.ID), String(t.Contents));
const rocky = data.bootEnv("rocky-9")!;
const renderInThread = (i: number): string => {
  const req = renderRequest({ data, machine: ms[i % MACHINES], env: rocky, serverAddress: facts.serverAddress, httpPort: 8091, apiPort: 8092, apiPin: "", caCert: "", tokens: undefined, eagerParams: true });
  return inThread.render("ks.tmpl", contextOf(inThread, req.input, req.host));
};
if (renderInThread(1) !== sample) throw new Error("bench:render: the in-thread render differs from the worker's");

const t0 = performance.now();
await core.paths(); // index build for all machines (path templates rendered once each, in the workers)
const indexMs = performance.now() - t0;

interface Figures {
  n: number;
  elapsed: number;
  bytes: number;
  lat: number[];
}

/** `concurrency` renders in flight at once (an HTTP server under load), for `seconds`. */
async function measure(render: (i: number) => string | Promise<string | undefined>, concurrency: number): Promise<Figures> {
  for (let i = 0; i < 2000; i++) await render(i); // warm-up (JIT)
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  let n = 0;
  let bytes = 0;
  const started = performance.now();
  const client = async () => {
    while (performance.now() < end && n < 50_000_000) {
      const i = n++;
      const a = performance.now();
      const out = (await render(i))!;
      lat.push(performance.now() - a);
      bytes += out.length;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return { n, elapsed: (performance.now() - started) / 1000, bytes, lat: lat.sort((a, b) => a - b) };
}

function report(label: string, f: Figures): void {
  const pct = (p: number) => f.lat[Math.min(f.lat.length - 1, Math.floor((p / 100) * f.lat.length))]!;
  const us = (v: number) => `${(v * 1000).toFixed(1)} µs`;
  console.log(`  ${label.padEnd(48)} ${String(Math.round(f.n / f.elapsed)).padStart(7)} renders/s, ${(f.bytes / f.elapsed / 1e6).toFixed(1).padStart(5)} MB/s   p50 ${us(pct(50))}  p90 ${us(pct(90))}  p99 ${us(pct(99))}  max ${us(f.lat[f.lat.length - 1]!)}`);
}

console.log(`bench:render  kickstart with 3 nested includes, ${MACHINES} machines, ${sample.length} bytes each, ${seconds} s each`);
console.log(`  path index build (${MACHINES} machines, in the workers): ${indexMs.toFixed(1)} ms`);
report("in-thread TemplateEngine (no deadline)", await measure(renderInThread, 1));
const pooled = async (i: number): Promise<string> => {
  const req = renderRequest({ data, machine: ms[i % MACHINES], env: rocky, serverAddress: facts.serverAddress, httpPort: 8091, apiPort: 8092, apiPin: "", caCert: "", tokens: undefined, eagerParams: true });
  return (await core.engine.render({ name: "ks.tmpl" }, req.input, req.host)).output;
};
report("RenderPool alone (no path lookup), 1 in flight", await measure(pooled, 1));
const file = (i: number) => core.renderFile(paths[i % MACHINES]!, facts.serverAddress);
report(`BootCore, workers+deadline, 1 in flight`, await measure(file, 1));
report(`BootCore, workers+deadline, 64 in flight`, await measure(file, 64));
console.log(`  (${DEFAULT_RENDER_WORKERS} render workers, deadline ${DEFAULT_RENDER_DEADLINE_MS} ms; ${navigator.hardwareConcurrency} cores)`);
core.close();
