// bench:render: renders per second and latency percentiles of a kickstart with three nested
// includes, rendered for a machine through the boot core (parameter resolution, strict context,
// path index lookup), as the HTTP server would ask for it. Not a timed test: prints figures.
//
//   bun test/bench/render-bench.ts [seconds=3]

import { nullLogger } from "../../src/log/logger.ts";
import { bootenvs } from "../../src/model/schemas/bootenvs.ts";
import { machines } from "../../src/model/schemas/machines.ts";
import { templates } from "../../src/model/schemas/templates.ts";
import { profiles } from "../../src/model/schemas/profiles.ts";
import { params } from "../../src/model/schemas/params.ts";
import { memoryBootData } from "../../src/boot/boot-data.ts";
import { BootCore } from "../../src/boot/core.ts";

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
const core = new BootCore({ data, log: nullLogger, httpPort: 8091, apiPort: 8092, tokens: { machine: () => "t", registration: () => "t" } });
const facts = { protocol: "http" as const, remoteAddress: "198.51.100.50", serverAddress: "198.51.100.1" };
const paths = ms.map((m) => `machines/${String(m.Uuid)}/ks.cfg`);

// Sanity: the file renders completely, with its includes.
const sample = core.renderFile(paths[1]!, facts.serverAddress)!;
if (!sample.includes("timesource --ntp-server=198.51.100.2") || !sample.includes("--only-use=vda") || !sample.endsWith("reboot\n")) {
  throw new Error(`bench:render: unexpected kickstart:\n${sample}`);
}

const t0 = performance.now();
core.paths(); // index build for all machines (path templates rendered once each)
const indexMs = performance.now() - t0;

for (let i = 0; i < 2000; i++) core.renderFile(paths[i % MACHINES]!, facts.serverAddress); // warm-up (JIT)

const lat: number[] = [];
const end = performance.now() + seconds * 1000;
let n = 0;
let bytes = 0;
const started = performance.now();
while (performance.now() < end && n < 50_000_000) {
  const a = performance.now();
  const out = core.renderFile(paths[n % MACHINES]!, facts.serverAddress)!;
  lat.push(performance.now() - a);
  bytes += out.length;
  n++;
}
const elapsed = (performance.now() - started) / 1000;
lat.sort((a, b) => a - b);
const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]!;
const us = (v: number) => `${(v * 1000).toFixed(1)} µs`;
console.log(`bench:render  kickstart with 3 nested includes, ${MACHINES} machines, ${sample.length} bytes each`);
console.log(`  path index build (${MACHINES} machines): ${indexMs.toFixed(1)} ms`);
console.log(`  ${n} renders in ${elapsed.toFixed(2)} s: ${Math.round(n / elapsed)} renders/s, ${(bytes / elapsed / 1e6).toFixed(1)} MB/s`);
console.log(`  latency p50 ${us(pct(50))}  p90 ${us(pct(90))}  p99 ${us(pct(99))}  max ${us(lat[lat.length - 1]!)}`);
core.close();
