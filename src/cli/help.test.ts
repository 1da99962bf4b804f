// Help through runCli: every verb of the command table answers --help, -h and help with its usage
// line, exit 0, and no request; groups list their verbs; `socle help` points at both.

import { describe, expect, test } from "bun:test";
import { COMMANDS } from "./commands.ts";
import { mainHelp } from "./help.ts";
import { runCli } from "./main.ts";
import { CLI_TYPES, CRUD_VERBS } from "./types.ts";
import { commandName, isGroup, usageOf, type VerbSpec } from "./verb-spec.ts";

function harness() {
  const out: string[] = [];
  const err: string[] = [];
  const requests: string[] = [];
  const served: unknown[] = [];
  const run = (argv: string[]) =>
    runCli(argv, { SOCLE_DATA_DIR: "/nonexistent-socle-test" }, { out: (s) => out.push(s), err: (s) => err.push(s) }, {
      fetch: (async (input: string | URL | Request, init?: RequestInit) => {
        requests.push(`${init?.method ?? "GET"} ${String(input)}`);
        return Response.json(init?.body ? JSON.parse(String(init.body)) : {});
      }) as typeof fetch,
      serve: async (c) => {
        served.push(c);
        return 0;
      },
    });
  return { run, out, err, requests, served };
}

const VERBS: VerbSpec[] = COMMANDS.flatMap((c) => (isGroup(c) ? c.verbs : [c]));
const paths = VERBS.map((v) => v.path.join(" "));

test("the table has the verbs the CLI promises", () => {
  for (const t of CLI_TYPES) {
    for (const v of t.verbs ?? CRUD_VERBS) expect(paths).toContain(`${t.name} ${v}`);
  }
  for (const t of ["tasks", "stages", "workflows"]) for (const v of CRUD_VERBS) expect(paths).toContain(`${t} ${v}`);
  // Jobs are made by the scheduler: no generic create, update or patch.
  expect(paths.filter((p) => p.startsWith("jobs ")).sort()).toEqual(["jobs actions", "jobs create", "jobs destroy", "jobs exists", "jobs list", "jobs log", "jobs show"]);
  const more = [
    "machines set", "machines params", "machines wait", "machines runnable", "machines token", "machines revoke", "profiles params", "users token", "users password",
    "prefs list", "prefs set", "info", "pki ca", "version", "completion",
    "events watch", "machines timeline", "doctor",
    ...["files", "isos"].flatMap((a) => ["list", "upload", "download", "delete"].map((v) => `${a} ${v}`)),
  ];
  for (const p of more) expect(paths).toContain(p);
  expect(new Set(paths).size).toBe(paths.length);
});

describe("socle <command> <verb> --help", () => {
  test("every verb: --help, -h and help print its usage on stdout, exit 0, no request", async () => {
    const h = harness();
    for (const v of VERBS) {
      for (const word of ["--help", "-h", "help"]) {
        const argv = [...v.path, word];
        const before = h.out.length;
        expect({ argv, code: await h.run(argv) }).toEqual({ argv, code: 0 });
        expect(h.out.length).toBe(before + 1);
        expect(h.out.at(-1)?.split("\n")[0]).toBe(`Usage: ${usageOf(v)}`);
      }
    }
    expect(h.err).toEqual([]);
    expect(h.requests).toEqual([]);
  });

  test("the verb's help shows its notes, and points at the global flags only if it talks to the server", async () => {
    const h = harness();
    expect(await h.run(["machines", "list", "--help"])).toBe(0);
    expect(h.out[0]).toBe(
      [
        "Usage: socle machines list [Field=Op(value) ...] [--sort Field] [--limit N] [--offset N] [--reverse]",
        "  filter operators: Eq Ne Lt Lte Gt Gte Re In Nin Between, e.g. Name=Re(^web) Address=In(a,b)",
        "",
        "Global flags (-E, -U, -P, -T, --ca-file, -k, -o): see socle help.",
      ].join("\n"),
    );
    expect(await h.run(["version", "--help"])).toBe(0);
    expect(h.out[1]).toBe("Usage: socle version");
  });

  test("--help anywhere among a verb's arguments and global flags", async () => {
    const h = harness();
    expect(await h.run(["-E", "https://h:1", "machines", "list", "Name=Eq(x)", "--limit", "3", "--help"])).toBe(0);
    expect(await h.run(["users", "token", "bob", "-h", "--ttl", "5"])).toBe(0);
    expect(await h.run(["files", "download", "a", "b", "--force", "--help"])).toBe(0);
    expect(await h.run(["-o", "table", "pki", "ca", "--data-dir", "/x", "-h"])).toBe(0);
    expect(h.out.map((o) => o.split("\n")[0])).toEqual([
      "Usage: socle machines list [Field=Op(value) ...] [--sort Field] [--limit N] [--offset N] [--reverse]",
      "Usage: socle users token <name> [--ttl seconds]",
      "Usage: socle files download <remote-path> [local-file|dir|-] [--force]",
      "Usage: socle pki ca [--data-dir D]",
    ]);
    expect(h.requests).toEqual([]);
  });

  test("help among other arguments is an argument; machines set takes -h as a value", async () => {
    const h = harness();
    // `help` asks for help only alone: here it is a key.
    expect(await h.run(["profiles", "update", "help", "Name: help"])).toBe(0);
    // The value of `machines set` may start with "-", so its -h is the value.
    expect(await h.run(["machines", "set", "n1", "param", "p", "to", "-h"])).toBe(0);
    expect(h.requests).toEqual([
      "PUT https://127.0.0.1:8092/api/v3/profiles/help",
      "POST https://127.0.0.1:8092/api/v3/machines/n1/params/p",
    ]);
    expect(await h.run(["machines", "set", "-h"])).toBe(0);
    expect(h.out.at(-1)?.split("\n")[0]).toBe("Usage: socle machines set <key> param <name> to <json-value>");
  });

  test("serve --help, -h and help: serve's own flag list, nothing started", async () => {
    const h = harness();
    for (const word of ["--help", "-h", "help"]) expect(await h.run(["serve", word])).toBe(0);
    for (const o of h.out) expect(o).toStartWith("Usage: socle serve [flags]");
    expect(h.served).toEqual([]);
  });
});

describe("socle <command> --help", () => {
  const groups = COMMANDS.filter(isGroup);

  test("every group lists the usage of each of its verbs; without a verb the same on stderr, exit 2", async () => {
    const h = harness();
    for (const g of groups) {
      for (const word of ["--help", "-h", "help"]) expect(await h.run([g.name, word])).toBe(0);
      const text = h.out.at(-1) as string;
      expect(text.split("\n")[0]).toBe("Usage:");
      for (const v of g.verbs) expect(text).toContain(usageOf(v));
      expect(await h.run([g.name])).toBe(2);
      expect(h.err.at(-1)).toBe(text);
    }
    expect(h.requests).toEqual([]);
  });

  test("an unknown verb names it and shows the group's usage (exit 2)", async () => {
    const h = harness();
    expect(await h.run(["pki", "crl"])).toBe(2);
    expect(h.err[0]).toStartWith('Error: unknown pki command "crl"\nUsage:\n  socle pki ca [--data-dir D]');
  });
});

describe("socle help", () => {
  const text = mainHelp();

  test("lists every verb but the per-type copies of the seven object verbs", () => {
    const perType = new Set(["list", "show", "exists", "create", "update", "patch", "destroy"]);
    for (const v of VERBS) {
      const typeVerb = CLI_TYPES.some((t) => t.name === v.path[0]) && perType.has(v.path[1] as string);
      if (!typeVerb) expect(text).toContain(usageOf(v));
    }
    expect(text).toContain("socle <type> list [Field=Op(value) ...] [--sort Field] [--limit N] [--offset N] [--reverse]");
    expect(text).toContain("socle <type> patch <key> <json-patch|@file|file|->");
  });

  test("mentions shell completion and per-verb help", () => {
    expect(text).toContain("socle completion bash|zsh");
    expect(text).toContain("socle <command> <verb> --help");
    expect(text).toMatch(/^ {2}socle serve \[flags\] /m);
  });

  test("every command name appears (types by name in the Objects heading)", () => {
    const types = /^Objects \(types: (.*)\):$/m.exec(text)?.[1]?.split(" ") ?? [];
    for (const c of COMMANDS) {
      if (CLI_TYPES.some((t) => t.name === commandName(c))) expect(types).toContain(commandName(c));
      else expect(text).toContain(`socle ${commandName(c)}`);
    }
  });
});
