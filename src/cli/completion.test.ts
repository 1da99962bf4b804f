// `socle completion bash|zsh`: the scripts are run by the real shells. First the completion
// function is called the way the shell calls it (COMP_WORDS/COMP_CWORD; zsh's words/CURRENT with
// compadd stubbed), checked against the command table; then an interactive bash and zsh on a
// pseudo-terminal load the script and complete typed lines with TAB, as a person would. Without
// bash or zsh on the machine those tests are skipped with the reason printed.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLIENT_FLAGS } from "../config/client-config.ts";
import { serveFlags } from "../config/serve-config.ts";
import { COMMANDS } from "./commands.ts";
import { completionScript, type CompletionNode } from "./completion.ts";
import { runCli } from "./main.ts";
import { commandName, isGroup, type VerbSpec } from "./verb-spec.ts";

const dir = mkdtempSync(join(tmpdir(), "socle-completion-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { SOCLE_DATA_DIR: join(dir, "none") }, { out: (s) => out.push(s), err: (s) => err.push(s) }, {
    serve: async () => 0,
    fetch: (async () => {
      throw new Error("completion must not call the server");
    }) as unknown as typeof fetch,
  });
  return { code, out, err };
}

async function scriptFile(shell: string): Promise<string> {
  const r = await cli(["completion", shell]);
  expect(r).toMatchObject({ code: 0, err: [] });
  const file = join(dir, `socle.${shell}`);
  writeFileSync(file, `${r.out.join("\n")}\n`);
  return file;
}

const BASH = Bun.which("bash");
const ZSH = Bun.which("zsh");
if (!BASH) console.log("skipping the bash completion tests: bash is not installed");
if (!ZSH) console.log("skipping the zsh completion tests: zsh is not installed (apt-get install zsh)");

const sq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const words = (s: string) => s.split(" ").filter((w) => w !== "");

/** Runs `program` in the shell and returns its standard output; any stderr output fails the test. */
function shell(argv: string[], program: string): string {
  const p = Bun.spawnSync([...argv, program], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir } });
  expect(p.stderr.toString()).toBe("");
  expect(p.exitCode).toBe(0);
  return p.stdout.toString();
}

const VERBS: VerbSpec[] = COMMANDS.flatMap((c) => (isGroup(c) ? c.verbs : [c]));
const GLOBAL = CLIENT_FLAGS.flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])]);

describe("socle completion", () => {
  test("an unknown or missing shell is a usage error naming the value and the accepted ones", async () => {
    expect(await cli(["completion", "fish"])).toEqual({
      code: 2,
      out: [],
      err: ['Error: unknown shell "fish" (expected bash|zsh)\nusage: socle completion bash|zsh'],
    });
    expect((await cli(["completion"])).err).toEqual(["Error: missing argument\nusage: socle completion bash|zsh"]);
    expect((await cli(["completion", "bash", "zsh"])).code).toBe(2);
  });

  test("a word that would need quoting is refused, not written into the script", () => {
    const leaf = (): CompletionNode => ({ children: new Map(), flags: [], choices: [] });
    const root: CompletionNode = { children: new Map([["a'b", leaf()]]), flags: [], choices: [] };
    expect(() => completionScript("bash", root)).toThrow(`completion: cannot put "a'b" into a shell script`);
  });

  test("one flag with two different value lists is a bug found at generation", () => {
    const leaf = (values: string[]): CompletionNode => ({ children: new Map(), flags: [{ name: "x", kind: "value", choices: values }], choices: [] });
    const root: CompletionNode = { children: new Map([["a", leaf(["1"])], ["b", leaf(["2"])]]), flags: [], choices: [] };
    expect(() => completionScript("zsh", root)).toThrow('completion: flag --x has values "1" and, at "b", "2"');
  });

  test("the zsh script is a #compdef file that registers itself when sourced", async () => {
    const r = await cli(["completion", "zsh"]);
    const text = r.out.join("\n");
    expect(text.split("\n")[0]).toBe("#compdef socle");
    expect(text).toContain("\n_socle() {\n");
    expect(text.trimEnd().split("\n").at(-1)).toBe('if [[ ${funcstack[1]-} == _socle ]]; then _socle "$@"; else compdef _socle socle; fi');
  });
});

describe.skipIf(!BASH)("bash: the completion function", () => {
  /** COMPREPLY for each line (words separated by one space; a trailing space is an empty word). */
  async function complete(lines: string[]): Promise<string[][]> {
    const file = await scriptFile("bash");
    const calls = lines.map((l) => `c ${l.split(" ").map(sq).join(" ")}`);
    const program = [
      `source ${sq(file)}`,
      `c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _socle; printf '%s\\n' "\${COMPREPLY[*]}"; }`,
      ...calls,
    ].join("\n");
    return shell([BASH as string, "--norc", "--noprofile", "-c"], program)
      .split("\n")
      .slice(0, lines.length)
      .map(words);
  }

  test("commands, verbs, flags and flag values", async () => {
    const [mach, machines, list, listDash, output, outputEq, outputEqY, completion, serve, logLevel, unknown, token] = await complete([
      "socle mach",
      "socle machines ",
      "socle machines list --so",
      "socle machines list -",
      "socle -o ",
      "socle machines list --output = ",
      "socle machines list --output = ya",
      "socle completion ",
      "socle serve --data-dir /x --api-",
      "socle serve --log-level ",
      "socle frob ",
      "socle -E https://h:1 -k users t",
    ]);
    expect(mach).toEqual(["machines"]);
    expect(machines).toContain("list");
    expect(machines).toContain("params");
    expect(machines).toContain("set");
    expect(list).toEqual(["--sort"]);
    expect(listDash).toEqual(expect.arrayContaining(["--sort", "--limit", "--offset", "--reverse", "--help", ...GLOBAL]));
    expect(output).toEqual(["json", "yaml", "table"]);
    expect(outputEq).toEqual(["json", "yaml", "table"]);
    expect(outputEqY).toEqual(["yaml"]);
    expect(completion).toEqual(["bash", "zsh"]);
    expect(serve).toEqual(["--api-listen", "--api-port", "--api-mtls-port"]);
    expect(logLevel).toEqual(["debug", "info", "warn", "error"]);
    expect(unknown).toEqual([]);
    expect(token).toEqual(["token"]);
  });

  test("value flags swallow their value, -- ends the flags, arguments get no verbs", async () => {
    const [afterValue, afterKey, afterDashDash, afterShell, dataDir] = await complete([
      "socle --endpoint machines ",
      "socle machines show m1 ",
      "socle machines list -- -",
      "socle completion bash ",
      "socle pki ca --data-dir ",
    ]);
    expect(afterValue).toEqual([...COMMANDS.map(commandName), "serve", "help"]); // "machines" was the endpoint
    expect(afterKey).toEqual([]);
    expect(afterDashDash).toEqual([]);
    expect(afterShell).toEqual([]);
    expect(dataDir).toEqual([]);
  });

  test("every word of the command table completes, with every flag of its verb", async () => {
    const lines: string[] = ["socle ", "socle serve -"];
    for (const v of VERBS) lines.push(`socle ${v.path.join(" ")} -`);
    for (const c of COMMANDS) if (isGroup(c)) lines.push(`socle ${c.name} `);
    const [top, serve, ...rest] = await complete(lines);
    expect(top).toEqual([...COMMANDS.map(commandName), "serve", "help"]);
    expect(serve).toEqual(expect.arrayContaining([...serveFlags().map((f) => `--${f.name}`), "--help"]));
    VERBS.forEach((v, i) => {
      const own = v.flags.flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])]);
      expect({ verb: v.path.join(" "), flags: rest[i] }).toEqual({
        verb: v.path.join(" "),
        flags: [...own, "--help", "-h", ...(v.local ? [] : GLOBAL)],
      });
    });
    const groups = COMMANDS.filter(isGroup);
    groups.forEach((g, i) => expect(rest[VERBS.length + i]).toEqual(g.verbs.map((v) => v.path[1] as string)));
  });
});

describe.skipIf(!ZSH)("zsh: the completion function", () => {
  test("zsh -n accepts the script", async () => {
    const file = await scriptFile("zsh");
    const p = Bun.spawnSync([ZSH as string, "-n", file]);
    expect(p.stderr.toString()).toBe("");
    expect(p.exitCode).toBe(0);
  });

  test("with compadd stubbed: commands, verbs, flags, values, files", async () => {
    const file = await scriptFile("zsh");
    const lines = ["socle ", "socle machines ", "socle machines list --so", "socle -o ", "socle serve --log-format=", "socle machines create "];
    const program = [
      // Stand-ins for the completion system: print what would be offered.
      `compdef() { :; }; compset() { :; }; _files() { print -r -- '<files>'; }`,
      `compadd() { [[ $1 == -- ]] && shift; print -r -- "$*"; }`,
      `source ${sq(file)}`,
      `c() { words=("$@"); CURRENT=$#; _socle; }`,
      ...lines.map((l) => `c ${l.split(" ").map(sq).join(" ")}`),
    ].join("\n");
    const [top, machines, list, output, logFormat, create] = shell([ZSH as string, "-f", "-c"], program).split("\n").map(words);
    expect(top).toEqual([...COMMANDS.map(commandName), "serve", "help"]);
    expect(machines).toEqual(expect.arrayContaining(["list", "params", "set"]));
    expect(list).toEqual(expect.arrayContaining(["--sort", "--limit", "--offset", "--reverse", ...GLOBAL]));
    expect(output).toEqual(["json", "yaml", "table"]);
    expect(logFormat).toEqual(["text", "json"]);
    expect(create).toEqual(["<files>"]);
  });
});

/**
 * An interactive shell on a pseudo-terminal with the script loaded and a stand-in `socle` on PATH
 * that prints its arguments: `typed` (with \t for TAB) is entered, and what the shell ran is returned.
 */
async function interactive(argv: string[], setup: string, typed: string): Promise<string> {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, "socle"), `#!/bin/sh\nprintf 'ARGS: %s\\n' "$*"\n`, { mode: 0o755 });
  let screen = "";
  const proc = Bun.spawn(argv, {
    env: { PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`, HOME: dir, TERM: "dumb", PS1: "$ ", PROMPT: "$ " },
    terminal: { cols: 200, rows: 50, data: (_t, d) => (screen += new TextDecoder().decode(d)) },
  });
  const until = async (re: RegExp) => {
    for (const end = Date.now() + 10_000; !re.test(screen); await Bun.sleep(10)) {
      if (Date.now() > end) throw new Error(`no ${re} on the terminal: ${JSON.stringify(screen)}`);
    }
  };
  try {
    proc.terminal?.write(`${setup}; echo READY\n`);
    await until(/^READY/m);
    proc.terminal?.write(`${typed}\n`);
    await until(/^ARGS: .*\r?\n/m);
    return /^ARGS: (.*?)\r?\n/m.exec(screen)?.[1] ?? "";
  } finally {
    proc.terminal?.write("exit\n");
    const exited = await Promise.race([proc.exited, Bun.sleep(2000).then(() => undefined)]);
    if (exited === undefined) proc.kill();
    proc.terminal?.close();
  }
}

describe.skipIf(!BASH)("bash: TAB in an interactive shell", () => {
  test("completes commands, verbs, flags and values as typed", async () => {
    const file = await scriptFile("bash");
    const run = (typed: string) => interactive([BASH as string, "--norc", "--noprofile", "-i"], `source ${sq(file)}`, typed);
    expect(await run("socle mach\t li\t --so\tName")).toBe("machines list --sort Name");
    expect(await run("socle machines list --output=ya\t")).toBe("machines list --output=yaml");
    expect(await run("socle completion z\t")).toBe("completion zsh");
  }, 30_000);
});

describe.skipIf(!ZSH)("zsh: TAB in an interactive shell", () => {
  test("completes commands, verbs, flags and values as typed", async () => {
    const file = await scriptFile("zsh");
    const run = (typed: string) => interactive([ZSH as string, "-f", "-i"], `autoload -U compinit && compinit -u -D && source ${sq(file)}`, typed);
    expect(await run("socle mach\t li\t --so\tName")).toBe("machines list --sort Name");
    expect(await run("socle serve --log-level=de\t")).toBe("serve --log-level=debug");
    expect(await run("socle -o ya\t info")).toBe("-o yaml info");
  }, 30_000);
});
