// The READMEs' shell examples stay true. Every ```sh / ```bash block must pass `bash -n` (an
// unquoted `Name=Re(^web)` does not), and every command in them that runs `socle` is run, through
// bash, in README order, against a real Socle on 127.0.0.1, and must exit 0.
//
// Bash does the parsing: a block is cut into commands by growing a chunk line by line until
// `bash -n` accepts it (so a quoted string or a `\` continuation over several lines stays one
// command), and whether a command runs `socle` is read from `declare -f`'s reprint of it, which
// has no comments (so `npm start   # or: socle serve` is not one).
//
// `socle` is a script on PATH that runs this clone's src/main.ts with the test server's endpoint,
// CA, credentials and data directory, whatever the README exported before it: the README's
// endpoint (198.51.100.5) is never contacted. It records each call and its exit code, so a
// failure inside `source <(socle ...)`, whose status bash drops, still fails the line. `npx` is a
// shell function that sends `npx socle` to the same script and refuses everything else (from a
// temporary directory npx would ask the npm registry). Lines that are not `socle` commands
// (`npm`, `curl`, `export`) are only syntax-checked.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ADMIN_PASSWORD, startTestSocle, type TestSocle } from "./helpers/socle.ts";

const ROOT = resolve(import.meta.dir, "..");
const DOCS = ["README.md", "test/lab/README.md"];
const BASH = Bun.which("bash");
const ZSH = Bun.which("zsh");

/**
 * Files the README's commands name, created in the working directory before the first command.
 * (`ca.pem` is not here: the README's own `socle pki ca > ca.pem` writes it.)
 *
 * | file           | used by                                    |
 * | -------------- | ------------------------------------------ |
 * | `machine.yaml` | `socle machines create machine.yaml` (a second machine, web-2) |
 * | `ipxe.efi`     | `socle files upload ipxe.efi`              |
 * | `snp.efi`      | `socle files upload snp.efi loaders/snp.efi` |
 * | `Rocky-9.iso`  | `socle isos upload Rocky-9.iso`            |
 */
const LOCAL_FILES: Record<string, string> = {
  "machine.yaml": 'Name: web-2\nHardwareAddrs: ["52:54:00:12:34:57"]\n',
  "ipxe.efi": "placeholder for an iPXE EFI loader\n",
  "snp.efi": "placeholder for an iPXE snponly loader\n",
  "Rocky-9.iso": "placeholder for a DVD image\n",
};

/**
 * Files the server holds before the first command, uploaded through the API.
 *
 * | remote path       | used by                                                   |
 * | ----------------- | --------------------------------------------------------- |
 * | `rocky/9/vmlinuz` | `socle files list rocky/9`, `... download ...`, `... delete ...` |
 */
const SERVER_FILES: Record<string, string> = {
  "rocky/9/vmlinuz": "placeholder for an installer kernel\n",
};

/** Where the host's iPXE package puts its loaders (`socle loaders import /usr/lib/ipxe`). */
const HOST_IPXE = "/usr/lib/ipxe";
const hostHasIpxe = ["ipxe.efi", "undionly.kpxe", "snponly.efi"].some((f) => existsSync(join(HOST_IPXE, f)));

interface Special {
  /** Why the line is not run alone, as written, by bash. */
  reason: string;
  /** Not run at all. */
  never?: true;
  /** Run this instead of the line. */
  run?: string;
  /** Run it in this shell (`bash -c` otherwise). */
  shell?: "zsh";
  /** Commands run after the line in the same shell, to check what it did. */
  check?: string;
  /** A condition the host must meet; otherwise the line is not run, with this reason. */
  needs?: { ok: boolean; otherwise: string };
}

/**
 * The socle lines not run alone, as written, by bash, keyed by the command as bash reprints it (no
 * comments). Every key must still be in a README (a test checks), so the list cannot outlive its
 * lines. Every other socle line is run as written and must exit 0.
 */
const SPECIAL: Record<string, Special> = {
  "socle serve --dhcp-interfaces eth1 &": {
    reason: "starts a second server with DHCP on a real interface: never in the default namespace",
    never: true,
  },
  "socle discovery build --arch arm64": {
    reason: "downloads about 130 MB of Debian packages; its --help is run instead",
    run: "socle discovery build --arch arm64 --help",
  },
  "socle loaders import /usr/lib/ipxe": {
    reason: "reads the host's iPXE package",
    needs: { ok: hostHasIpxe, otherwise: `${HOST_IPXE} has no iPXE loader (Debian package ipxe)` },
  },
  "sudo socle install --systemd": {
    reason: "would create a user and a unit on this host: run into a temporary root instead",
    run: 'mkdir -p "$PWD/install-root" && socle install --systemd --root "$PWD/install-root"',
  },
  "socle install --systemd --dry-run": {
    reason: "a dry run changes nothing: run as written",
  },
  "source <(socle completion bash)": {
    reason: "checked: bash has a completion for socle afterwards",
    check: "complete -p socle >/dev/null",
  },
  "source <(socle completion zsh)": {
    reason: "a zsh script, sourced by zsh after compinit as its comment says",
    shell: "zsh",
    check: "(( $+_comps[socle] ))",
    needs: { ok: ZSH !== null, otherwise: "zsh is not installed" },
  },
};

interface Block {
  doc: string;
  /** 1-based line of the block's first line in the README. */
  line: number;
  text: string;
}

interface Command {
  doc: string;
  line: number;
  /** As written in the README, comments included. */
  text: string;
  /** As bash reprints it: no comments, whitespace normalised. */
  parsed: string;
}

/** The ```sh and ```bash blocks of a markdown file (fences may be indented, as in list items). */
function shellBlocks(doc: string): Block[] {
  const lines = readFileSync(join(ROOT, doc), "utf8").split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(sh|bash)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const indent = (open[1] as string).length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j] as string); j++) body.push((lines[j] as string).slice(indent));
    if (j === lines.length) throw new Error(`${doc}:${i + 1}: shell block never closed`);
    blocks.push({ doc, line: i + 2, text: body.join("\n") + "\n" });
    i = j;
  }
  return blocks;
}

function bashCheck(script: string): { ok: boolean; err: string } {
  const p = Bun.spawnSync([BASH as string, "--noprofile", "--norc", "-n"], { stdin: Buffer.from(script), stderr: "pipe" });
  return { ok: p.exitCode === 0, err: p.stderr.toString().trim() };
}

/** bash's own reprint of one complete command: comments gone, one space between words. */
function reprint(command: string): string {
  // The command passed `bash -n` alone, so it cannot close the function early: nothing in it runs.
  // The `:` keeps a body of only comments from being empty, which bash refuses.
  const p = Bun.spawnSync([BASH as string, "--noprofile", "--norc", "-c", `f() {\n:\n${command}\n}\ndeclare -f f`], { stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`bash could not reprint ${JSON.stringify(command)}: ${p.stderr}`);
  // "f () ", "{ ", "    :;", the body indented by 4, "}", ""
  const body = p.stdout.toString().split("\n").slice(3, -2);
  return body.map((l) => l.replace(/^ {4}/, "")).join("\n").replace(/;$/, "").trim();
}

/**
 * A block cut into commands as bash reads them. A chunk that bash refuses for another reason than
 * reaching its end too soon is a syntax error (its block's `bash -n` test names it): it is dropped
 * and the next line starts afresh, so one bad line does not hide the block's other commands.
 */
function commandsOf(block: Block): Command[] {
  const lines = block.text.split("\n");
  const out: Command[] = [];
  let start = 0;
  let chunk: string[] = [];
  lines.forEach((l, i) => {
    if (chunk.length === 0) start = i;
    chunk.push(l);
    const text = chunk.join("\n");
    if (l.endsWith("\\")) return;
    const { ok, err } = bashCheck(text);
    if (!ok && /unexpected (EOF|end of file)/.test(err)) return;
    chunk = [];
    if (!ok) return;
    const parsed = reprint(text);
    if (parsed !== "") out.push({ doc: block.doc, line: block.line + start, text: text.trim(), parsed });
  });
  return out;
}

/** `socle` (or `npx socle`, `sudo socle`) in command position: at the start, or after ; & | ( (so also in $( and <( ). */
const RUNS_SOCLE = /(?:^|[;&|(])\s*(?:(?:npx|sudo)\s+)?socle(?=[\s)]|$)/m;

/**
 * Commands that start servers or change this host (the tests may run as root). A README line
 * with one is never run unless SPECIAL says how; otherwise its test fails and asks for an entry.
 */
const HOST_CHANGING = /\bsudo\b|\bsocle\s+(?:serve|install)\b/;

/** What an example line may not hold: `...`, `[a|b]` alternatives, DIR/FILE-style placeholders. */
const SYNOPSIS = /\.\.\.|\[[^\]'"]*\|[^\]'"]*\]|\b(?:DIR|FILE|PATH|NAME|KEY|VALUE)\b/;

const bashReason = BASH === null ? "bash is not installed" : undefined;
if (bashReason) console.log(`readme.test.ts: skipped: ${bashReason}`);
const blocks = bashReason ? [] : DOCS.flatMap(shellBlocks);
const commands = blocks.flatMap(commandsOf);
const socleCommands = commands.filter((c) => RUNS_SOCLE.test(c.parsed));
const where = (c: { doc: string; line: number }) => `${c.doc}:${c.line}`;

test.skipIf(bashReason !== undefined)("the READMEs have shell blocks with socle commands", () => {
  expect(blocks.length).toBeGreaterThan(5);
  expect(socleCommands.length).toBeGreaterThan(20);
});

describe("every shell block passes bash -n", () => {
  for (const b of blocks) {
    test(`${where(b)}`, () => {
      const { ok, err } = bashCheck(b.text);
      // "bash: line 3: syntax error ..." -> "README.md:120: syntax error ..."
      const located = err.replace(/^\S*bash: line (\d+):/gm, (_, n) => `${b.doc}:${b.line + Number(n) - 1}:`);
      expect(ok ? "" : located).toBe("");
    });
  }
});

describe("the examples are commands", () => {
  test.skipIf(bashReason !== undefined)("every SPECIAL line is still in a README", () => {
    const parsed = new Set(commands.map((c) => c.parsed));
    expect(Object.keys(SPECIAL).filter((k) => !parsed.has(k))).toEqual([]);
  });
  test.skipIf(bashReason !== undefined)("no socle line holds a placeholder (..., [a|b], DIR)", () => {
    const synopses = socleCommands.filter((c) => SYNOPSIS.test(c.parsed) && !SPECIAL[c.parsed]).map((c) => `${where(c)}: ${c.parsed}`);
    expect(synopses).toEqual([]);
  });
});

let socle: TestSocle;
let work: string;
let calls: string;
let env: Record<string, string>;

beforeAll(async () => {
  if (bashReason) return;
  socle = await startTestSocle();
  work = mkdtempSync(join(tmpdir(), "socle-readme-"));
  const bin = join(work, ".bin");
  const cwd = join(work, "cwd");
  mkdirSync(bin);
  mkdirSync(cwd);
  mkdirSync(join(work, "home"));
  for (const [name, body] of Object.entries(LOCAL_FILES)) writeFileSync(join(cwd, name), body);
  for (const [path, body] of Object.entries(SERVER_FILES)) {
    const res = await socle.req("PUT", `/api/v3/files/${path}`, { raw: body, type: "application/octet-stream" });
    expect(res.status).toBeLessThan(300);
  }
  const ca = join(work, "test-ca.pem");
  writeFileSync(ca, socle.socle.caCertPem);
  calls = join(work, "calls");
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  // The test's settings are exported inside the script, after anything the README exported.
  writeFileSync(
    join(bin, "socle"),
    [
      "#!/usr/bin/env bash",
      `export SOCLE_ENDPOINT=${q(socle.base)} SOCLE_CA_FILE=${q(ca)} SOCLE_USERNAME=admin SOCLE_PASSWORD=${q(ADMIN_PASSWORD)}`,
      `export SOCLE_DATA_DIR=${q(socle.dir)}`,
      "unset SOCLE_TOKEN",
      `${q(join(ROOT, "node_modules/.bin/bun"))} ${q(join(ROOT, "src/main.ts"))} "$@"`,
      "rc=$?",
      `printf '%s\\t%s\\n' "$rc" "\${*//$'\\n'/ }" >> ${q(calls)}`,
      'exit "$rc"',
      "",
    ].join("\n"),
  );
  chmodSync(join(bin, "socle"), 0o755);
  // Only what a shell needs: no SOCLE_* of whoever runs the tests, no BASH_ENV, a private HOME.
  env = { PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`, HOME: join(work, "home"), LANG: "C.UTF-8", TERM: "dumb" };
});

afterAll(async () => {
  await socle?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** `npx socle ...` is the same CLI; any other npx would reach for the registry. */
const NPX = 'npx() { if [ "$1" = socle ]; then shift; socle "$@"; else echo "readme test: npx $1 is not run here" >&2; return 127; fi; }';

async function runLine(script: string, shell: "bash" | "zsh") {
  writeFileSync(calls, "");
  const argv = shell === "zsh" ? [ZSH as string, "-f", "-c", script] : [BASH as string, "--noprofile", "--norc", "-c", `${NPX}\n${script}`];
  const p = Bun.spawn(argv, { cwd: join(work, "cwd"), env, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 30_000, killSignal: "SIGKILL" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const made = readFileSync(calls, "utf8").split("\n").filter(Boolean).map((l) => {
    const [rc, args] = l.split("\t");
    return { rc: Number(rc), args: args ?? "" };
  });
  return { stdout, stderr, code, calls: made };
}

describe("socle commands run against a real server", () => {
  for (const c of socleCommands) {
    const special = SPECIAL[c.parsed];
    const name = `${where(c)} ${c.parsed.split("\n")[0]}`;
    if (special?.never || special?.needs?.ok === false) {
      const why = special.needs?.ok === false ? special.needs.otherwise : special.reason;
      console.log(`readme.test.ts: not run: ${where(c)} ${c.parsed}: ${why}`);
      test.skip(`${name} (not run: ${why})`, () => {});
      continue;
    }
    if (!special && HOST_CHANGING.test(c.parsed)) {
      test(name, () => {
        throw new Error(`${where(c)} starts a server or changes this host: say in SPECIAL how to run it (e.g. install --root DIR) or that it is never run`);
      });
      continue;
    }
    test(name, async () => {
      const line = special?.run ?? c.text;
      const script = special?.shell === "zsh" ? `autoload -Uz compinit && compinit -u -D\n${line}` : line;
      const r = await runLine(special?.check ? `${script}\n${special.check}` : script, special?.shell ?? "bash");
      const failed = r.calls.filter((k) => k.rc !== 0);
      const report = { line: where(c), ran: line, code: r.code, failedCalls: failed, stderr: r.stderr.trim() };
      expect(r.calls.length > 0 && failed.length === 0 && r.code === 0 ? "ok" : report).toBe("ok");
    }, 40_000);
  }
});
