// DESIGN.md's dependency direction, made executable: reads every import under src/ and fails on
// an edge the design forbids or on an import cycle (between folders or between files).

import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../src");

/** folder -> folders it may import (besides itself). `main.ts` (the composition root) may import all. */
const ALLOWED: Record<string, string[]> = {
  log: [],
  sys: [],
  model: [],
  // The boot timeline: a leaf that every protocol room records into (fixed columns, no allocation).
  timeline: [],
  render: ["osconfig"],
  osconfig: ["model"],
  iso: [],
  files: ["iso", "log", "model"],
  // files/ owns the one atomic write (atomic-write.ts): the rooms that replace files whole import it.
  assets: ["log", "files"],
  config: ["log", "model"],
  store: ["model", "log", "sys", "files"],
  auth: ["model", "log"],
  pki: ["model", "log", "files"],
  content: ["model", "store", "log"],
  boot: ["model", "render", "log", "files", "osconfig"],
  // DHCP in rooms: the pure codec (packets, options, its own errors); the lease engine and pool
  // arithmetic; the sockets and the server loop. The handler, reply and option rendering on top.
  "dhcp/codec": [],
  "dhcp/leases": ["model"],
  "dhcp/net": ["dhcp/codec", "log", "model", "sys", "timeline"],
  dhcp: ["dhcp/codec", "dhcp/leases", "dhcp/net", "boot", "model", "log", "timeline"],
  tftp: ["boot", "files", "model", "log", "sys", "timeline"],
  http: ["boot", "files", "model", "log", "timeline"],
  adapters: ["dhcp/leases", "boot", "store", "model", "log", "timeline"],
  jobs: ["model", "store", "auth", "log"],
  // The HA pair: replication from the store's feed, lease sync before DHCPACK, the VIP. It uses dhcp
  // only for types, the pure pool split and a MAC's spelling; nothing but main.ts and api/ imports it.
  ha: ["store", "model", "log", "sys", "files", "pki", "dhcp/leases", "dhcp/codec", "config"],
  // The web UI: its pages (ui/web, bundled by build/ui.ts) and the server of the bundle; api mounts it.
  ui: [],
  // Prometheus metrics: the registry and the series over the services' plain counters, which
  // main.ts hands it as readers; api serves GET /metrics.
  metrics: ["log"],
  api: ["boot", "store", "render", "auth", "pki", "model", "log", "content", "jobs", "http", "files", "iso", "osconfig", "ha", "ui", "metrics", "hooks", "timeline"],
  cli: ["config", "log", "model", "assets", "files", "timeline"],
  // The webhook sender: the store's feed to signed POSTs, its positions and logs (files' atomic write).
  hooks: ["model", "store", "log", "files"],
};

/**
 * Third-party packages that belong to one room: only these folders import them (main.ts none).
 * A package not listed here may be imported anywhere.
 */
const PACKAGES: Record<string, string[]> = {
  "prom-client": ["metrics"],
  hono: ["api"],
  eta: ["render"],
  preact: ["ui"],
  "node-forge": ["pki"],
  lowdb: ["store"],
  "swagger-ui-dist": ["api"],
};

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(full);
  }
  return out;
}

/** What a file loads: `import`/`export ... from`, a bare `import "x"`, `import("x")` and `require("x")`. */
const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|(?:^|\n)\s*import\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|require\(\s*["']([^"']+)["']\s*\)/g;
const specOf = (m: RegExpMatchArray) => (m[1] ?? m[2] ?? m[3] ?? m[4]) as string;

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = specOf(m);
    if (spec.startsWith(".")) out.push(resolve(dirname(file), spec));
  }
  return out;
}

/** The room a file is in: the longest folder path named in ALLOWED ("dhcp/codec/packet.ts" -> "dhcp/codec"). */
const folderOf = (file: string) => {
  const rel = relative(SRC, file);
  const parts = rel.split("/");
  for (let n = parts.length - 1; n > 1; n--) {
    const room = parts.slice(0, n).join("/");
    if (room in ALLOWED) return room;
  }
  return parts.length > 1 ? parts[0]! : rel;
};

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

test("every src folder is known to the dependency rules", () => {
  const folders = new Set(files.map(folderOf).filter((f) => !f.endsWith(".ts")));
  const unknown = [...folders].filter((f) => !(f in ALLOWED));
  expect(unknown).toEqual([]);
});

test("src/dhcp keeps its rooms: only the handler, the reply and option rendering live at the top", () => {
  const dir = join(SRC, "dhcp");
  const top = readdirSync(dir).filter((n) => statSync(join(dir, n)).isFile() && !n.endsWith(".test.ts"));
  expect(top.sort()).toEqual(["handler.ts", "link-choice.ts", "option-templates.ts", "reply.ts"]);
  const rooms = readdirSync(dir).filter((n) => statSync(join(dir, n)).isDirectory());
  expect(rooms.sort()).toEqual(["codec", "leases", "net"]);
  for (const room of rooms) expect(ALLOWED[`dhcp/${room}`]).toBeDefined();
});

/** Runtime modules a room may import: bun:ffi reaches libc, so it stays in the rooms that make system calls. */
const BUILTINS: Record<string, string[]> = {
  "bun:ffi": ["sys", "dhcp/net", "tftp", "store"],
};

test("bun:ffi only in the rooms that make system calls; the DHCP codec imports no runtime module", () => {
  const bad: string[] = [];
  for (const file of files) {
    const from = folderOf(file);
    const fixture = relative(SRC, file).includes("/testdata/");
    for (const m of readFileSync(file, "utf8").matchAll(IMPORT_RE)) {
      const spec = specOf(m);
      const owners = BUILTINS[spec];
      if (owners && from !== "main.ts" && !owners.includes(from)) bad.push(`${relative(SRC, file)} imports ${spec} (only ${owners.join(", ")} may)`);
      if (from === "dhcp/codec" && !fixture && /^(node|bun):|^bun$/.test(spec)) bad.push(`${relative(SRC, file)} imports ${spec} (the codec is pure)`);
    }
  }
  expect(bad).toEqual([]);
});

test("no import crosses a forbidden edge", () => {
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    const from = folderOf(file);
    if (from === "main.ts") continue;
    for (const dep of deps) {
      const to = folderOf(dep);
      if (to === from) continue;
      if (dep === resolve(SRC, "../package.json")) continue; // the version string
      // The agent, put into the discovery image and served to installers (assets/agent-files.ts).
      if (dep.startsWith(resolve(SRC, "../assets/agent") + "/") && from === "assets") continue;
      if (!dep.startsWith(SRC)) {
        bad.push(`${relative(SRC, file)} imports ${relative(SRC, dep)} outside src/`);
        continue;
      }
      if (!(ALLOWED[from] ?? []).includes(to)) bad.push(`${relative(SRC, file)} -> ${relative(SRC, dep)} (${from} may not import ${to})`);
    }
  }
  expect(bad).toEqual([]);
});

/** The package an import names ("hono/bun" -> "hono", "@scope/x/y" -> "@scope/x"); undefined for relative, node: and bun ones. */
function packageOf(spec: string): string | undefined {
  if (spec.startsWith(".") || spec.startsWith("/") || /^(node|bun):/.test(spec) || spec === "bun") return undefined;
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

test("third-party packages are imported only by the rooms that own them", () => {
  const bad: string[] = [];
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) return walk(full);
      return /\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name) ? [full] : [];
    });
  for (const file of walk(SRC)) {
    const from = folderOf(file);
    for (const m of readFileSync(file, "utf8").matchAll(IMPORT_RE)) {
      const pkg = packageOf(specOf(m));
      const owners = pkg === undefined ? undefined : PACKAGES[pkg];
      if (owners && !owners.includes(from)) bad.push(`${relative(SRC, file)} imports ${pkg} (only ${owners.join(", ")} may)`);
    }
  }
  expect(bad).toEqual([]);
  expect(packageOf("hono/bun")).toBe("hono");
  expect(packageOf("@scope/pkg/sub")).toBe("@scope/pkg");
  expect(packageOf("node:fs")).toBeUndefined();
});

test("no import cycles between files", () => {
  const state = new Map<string, 1 | 2>();
  const cycles: string[] = [];
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 1);
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      const dep = graph.has(d) ? d : graph.has(`${d}.ts`) ? `${d}.ts` : d;
      if (!graph.has(dep)) continue;
      if (state.get(dep) === 1) cycles.push([...stack.slice(stack.indexOf(dep)), dep].map((x) => relative(SRC, x)).join(" -> "));
      else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  expect(cycles).toEqual([]);
});

test("the rules catch a forbidden edge (self-check)", () => {
  expect(ALLOWED.dhcp).not.toContain("api");
  expect(ALLOWED["dhcp/codec"]).toEqual([]);
  expect(folderOf(join(SRC, "dhcp/codec/packet.ts"))).toBe("dhcp/codec");
  expect(folderOf(join(SRC, "dhcp/handler.ts"))).toBe("dhcp");
  expect(folderOf(join(SRC, "dhcp/codec/testdata/pcap.ts"))).toBe("dhcp/codec");
  expect(folderOf(join(SRC, "main.ts"))).toBe("main.ts");
  for (const room of ["dhcp", "dhcp/codec", "dhcp/leases", "dhcp/net", "tftp"]) expect(PACKAGES.eta).not.toContain(room);
  expect(PACKAGES.hono).toEqual(["api"]);
  expect(PACKAGES.eta).toEqual(["render"]);
  expect(ALLOWED.model).toEqual([]);
  expect(Object.values(ALLOWED).some((deps) => deps.includes("api"))).toBe(false);
});
