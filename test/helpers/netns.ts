// Network namespaces for tests that put real DHCP traffic on a wire: namespaces, veth pairs,
// bridges and addresses made with iproute2, commands and long-running processes inside them, and
// a cleanup that removes everything this lab made (and kills what it spawned, by PID).
//
// Names are unique per lab (a short random id), so parallel runs and leftovers from a crashed run
// never collide; interface names stay within Linux's 15 characters. DHCP traffic stays inside the
// namespaces; nothing is created in the default namespace (deleting a namespace deletes the veth
// ends and bridges inside it).

import type { Subprocess } from "bun";

const IFNAME_MAX = 15;

/** A skip reason when the namespace tests cannot run here, or undefined. */
export function needsRoot(): string | undefined {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (process.getuid?.() !== 0) return "needs root (ip netns, veth, binding port 67)";
  if (!Bun.which("ip")) return "needs iproute2 (`ip`)";
  return undefined;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Spawned {
  proc: Subprocess;
  pid: number;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Wait until output matches `re` (or throw with the output after timeoutMs, or if it exits). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** SIGTERM, then SIGKILL after graceMs; resolves when it has exited. */
  kill(graceMs?: number): Promise<void>;
}

export class NetLab {
  /** Short random id shared by every name this lab makes. */
  readonly id: string;
  private readonly namespaces: string[] = [];
  private readonly spawned: Spawned[] = [];

  constructor() {
    this.id = Math.random().toString(36).slice(2, 7).padEnd(5, "0");
  }

  /** A unique interface (or namespace) name: tag + lab id, at most 15 characters. */
  name(tag: string): string {
    const n = `${tag}${this.id}`;
    if (n.length > IFNAME_MAX) throw new Error(`netns: name "${n}" is longer than ${IFNAME_MAX} characters (shorten the tag "${tag}")`);
    return n;
  }

  /** Create a namespace with loopback up; returns its name. */
  async ns(tag: string): Promise<string> {
    const name = `socle-${this.name(tag)}`;
    await run(["ip", "netns", "add", name]);
    this.namespaces.push(name);
    await this.ip(name, "link", "set", "lo", "up");
    return name;
  }

  /** `ip` inside a namespace; throws with stderr on failure. */
  async ip(ns: string, ...args: string[]): Promise<string> {
    return (await run(["ip", "-n", ns, ...args])).stdout;
  }

  /** A veth pair with one end in each namespace (both up). */
  async veth(a: { ns: string; name: string }, b: { ns: string; name: string }): Promise<void> {
    await run(["ip", "-n", a.ns, "link", "add", a.name, "type", "veth", "peer", "name", b.name, "netns", b.ns]);
    await this.ip(a.ns, "link", "set", a.name, "up");
    await this.ip(b.ns, "link", "set", b.name, "up");
  }

  /** A bridge in `ns` with `members` (interfaces already in ns) enslaved; all up. */
  async bridge(ns: string, name: string, members: readonly string[] = []): Promise<void> {
    await this.ip(ns, "link", "add", name, "type", "bridge");
    await this.ip(ns, "link", "set", name, "up");
    for (const m of members) await this.ip(ns, "link", "set", m, "master", name);
  }

  /** Add an address ("198.51.100.1/24") to an interface. */
  async addr(ns: string, dev: string, cidr: string): Promise<void> {
    await this.ip(ns, "addr", "add", cidr, "dev", dev);
  }

  /** Run a command in a namespace to completion; never throws on a non-zero exit. */
  async exec(ns: string, argv: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
    return runRaw(["ip", "netns", "exec", ns, ...argv], timeoutMs);
  }

  /** Start a long-running process in a namespace; cleanup() kills it by PID if still running. */
  spawn(ns: string, argv: readonly string[], env: Record<string, string | undefined> = {}): Spawned {
    const proc = Bun.spawn(["ip", "netns", "exec", ns, ...argv], {
      env: { ...process.env, ...env },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    let out = "";
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      for await (const chunk of stream) out += dec.decode(chunk, { stream: true });
    };
    const done = Promise.allSettled([collect(proc.stdout as ReadableStream<Uint8Array>), collect(proc.stderr as ReadableStream<Uint8Array>)]);
    const s: Spawned = {
      proc,
      pid: proc.pid,
      output: () => out,
      async waitFor(re, timeoutMs = 10_000) {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
          const m = re.exec(out);
          if (m) return m;
          if (proc.exitCode !== null || proc.signalCode !== null) {
            await Promise.race([done, Bun.sleep(200)]);
            const late = re.exec(out);
            if (late) return late;
            throw new Error(`process ${proc.pid} (${argv.join(" ")}) exited (${proc.exitCode ?? proc.signalCode}) before printing ${re}:\n${out}`);
          }
          await Bun.sleep(20);
        }
        throw new Error(`process ${proc.pid} (${argv.join(" ")}) did not print ${re} within ${timeoutMs} ms:\n${out}`);
      },
      async kill(graceMs = 2_000) {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        // `ip netns exec` execs the command, so this PID is the command itself.
        proc.kill("SIGTERM");
        const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
        if (!exited) {
          proc.kill("SIGKILL");
          await proc.exited;
        }
        await Promise.race([done, Bun.sleep(500)]);
      },
    };
    this.spawned.push(s);
    return s;
  }

  /** Kill what this lab spawned, then delete its namespaces (with their interfaces). Idempotent. */
  async cleanup(): Promise<void> {
    const errors: string[] = [];
    for (const s of this.spawned.splice(0)) {
      try {
        await s.kill(1_000);
      } catch (err) {
        errors.push(`kill ${s.pid}: ${(err as Error).message}`);
      }
    }
    for (const ns of this.namespaces.splice(0).reverse()) {
      const r = await runRaw(["ip", "netns", "del", ns], 10_000);
      if (r.code !== 0 && !/No such file/.test(r.stderr)) errors.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
    }
    if (errors.length > 0) throw new Error(`netns cleanup: ${errors.join("; ")}`);
  }
}

async function runRaw(argv: readonly string[], timeoutMs: number): Promise<RunResult> {
  const proc = Bun.spawn([...argv], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  try {
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    const code = await proc.exited;
    return { code: proc.signalCode ? -1 : code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

async function run(argv: readonly string[]): Promise<RunResult> {
  const r = await runRaw(argv, 10_000);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r;
}

/** Run `fn` with a fresh lab that is always cleaned up, also when fn throws. */
export async function withNetLab<T>(fn: (lab: NetLab) => Promise<T>): Promise<T> {
  const lab = new NetLab();
  try {
    return await fn(lab);
  } finally {
    await lab.cleanup();
  }
}
