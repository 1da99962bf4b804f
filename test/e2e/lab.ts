// The QEMU lab (test/lab) driven from bun: its scripts with this suite's
// own namespace names, Socle (`bun src/main.ts serve`) started inside the server namespace, and
// the API called from there with curl (the API listens only inside the namespace).

import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = resolve(import.meta.dir, "../..");
export const LAB_DIR = join(ROOT, "test", "lab");
/** What `npm install` obtained (build/assets.ts) and Socle serves from source. */
export const ASSETS = join(ROOT, "assets", "boot");
export const ADMIN_PASSWORD = "e2e-admin-horse-battery";

/** This suite's namespaces and state dir: other users of the lab on this machine keep theirs. */
export const LAB_ENV: Record<string, string> = {
  E2E_NS_SRV: process.env.E2E_NS_SRV ?? "socle-e2e-srv",
  E2E_NS_VM: process.env.E2E_NS_VM ?? "socle-e2e-vm",
  E2E_STATE: process.env.E2E_STATE ?? "/run/socle-e2e",
};

/** Why the suite cannot run here, or undefined. */
export function skipReason(): string | undefined {
  if (process.platform !== "linux") return "the QEMU lab needs Linux";
  if (process.getuid?.() !== 0) return "the QEMU lab needs root (network namespaces, taps)";
  for (const f of ["/usr/bin/qemu-system-x86_64", "/usr/share/ovmf/OVMF.fd", "/usr/bin/curl"]) {
    if (!existsSync(f)) return `${f} is missing (run ${LAB_DIR}/install-deps.sh)`;
  }
  for (const f of ["undionly.kpxe", "ipxe.efi", "discovery/amd64/vmlinuz", "discovery/amd64/initrd.img"]) {
    if (!existsSync(join(ASSETS, f))) return `${join(ASSETS, f)} is missing (run npm run assets)`;
  }
  return undefined;
}

export interface Ran {
  code: number;
  out: string;
}

/** Run a command with the lab's environment (`env`: another suite's names); output (stdout+stderr) is returned, never thrown. */
export async function sh(cmd: string[], timeoutMs = 120_000, env: Record<string, string> = LAB_ENV): Promise<Ran> {
  const p = Bun.spawn(cmd, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => p.kill("SIGTERM"), timeoutMs);
  const [o, e, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, out: o + e };
}

export const lab = (script: string, ...args: string[]) => [join(LAB_DIR, script), ...args];

/** What `curl -w "\n%{http_code}"` printed: the status on the last line, the body (JSON when it parses) before it. */
export function curlAnswer(out: string): { status: number; body: any; text: string } {
  const cut = out.lastIndexOf("\n");
  const status = Number(out.slice(cut + 1).trim()) || 0;
  const text = out.slice(0, Math.max(cut, 0));
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status, body, text };
}

/** lab-up.sh (or another setup script of the lab: ha-up.sh); returns its KEY=VALUE lines as a map. */
export async function labUp(env: Record<string, string> = LAB_ENV, script = "lab-up.sh"): Promise<Record<string, string>> {
  const p = Bun.spawn(lab(script), { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [o, e, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${script} failed (${code}): ${e}`);
  const vars: Record<string, string> = {};
  for (const line of o.split("\n")) {
    const m = /^([A-Z0-9_]+)=['"]?(.*?)['"]?$/.exec(line.trim());
    if (m) vars[m[1] as string] = m[2] as string;
  }
  return vars;
}

export interface ApiAnswer {
  status: number;
  body: any;
  text: string;
}

/** Socle serving the lab from inside the server namespace. */
export class LabSocle {
  readonly work = mkdtempSync(join(tmpdir(), "socle-e2e-"));
  readonly dataDir = join(this.work, "data");
  readonly logFile = join(this.work, "socle.log");
  private proc: Subprocess | undefined;

  /**
   * `command` runs the server: by default the compiled binary alone (copied into an empty
   * directory: nothing else of the repository is there), else `bun src/main.ts`. `serveArgs` go
   * after the lab's own `serve` flags (an HA node's `--ha-vip ...`).
   */
  constructor(
    readonly ns: string,
    readonly iface: string,
    readonly address: string,
    readonly command: string[] = [process.execPath, join(ROOT, "src", "main.ts")],
    readonly serveArgs: string[] = [],
  ) {}

  get api(): string {
    return `https://${this.address}:8092`;
  }

  /** The server's process id (`ip netns exec` and `env` exec it: this is the server itself). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /**
   * kill -9, as a crash or power loss of the server's host would stop it (no shutdown code runs).
   * Its log so far is kept as socle.killed-<n>.log beside socle.log; start() runs it again on the
   * same data dir and ports.
   */
  async kill9(): Promise<string> {
    const p = this.proc;
    if (!p || p.exitCode !== null) throw new Error("socle is not running");
    p.kill("SIGKILL");
    await p.exited;
    let n = 1;
    while (existsSync(join(this.work, `socle.killed-${n}.log`))) n++;
    const kept = join(this.work, `socle.killed-${n}.log`);
    renameSync(this.logFile, kept);
    return kept;
  }

  /** The CLI (the same executable or `bun src/main.ts`) as a client of this server, from its namespace. */
  async cli(...args: string[]): Promise<Ran> {
    return sh([
      "ip", "netns", "exec", this.ns, "env",
      `SOCLE_ENDPOINT=${this.api}`, "SOCLE_USERNAME=admin", `SOCLE_PASSWORD=${ADMIN_PASSWORD}`, `SOCLE_CA_FILE=${join(this.dataDir, "pki", "ca.pem")}`,
      ...this.command, ...args,
    ], 60_000);
  }

  /**
   * Start the server and wait until `ready` says so: by default until its API answers (an HA
   * standby serves none: its caller waits for something else).
   */
  async start(timeoutMs = 30_000, ready: () => Promise<boolean> = async () => (await this.call("GET", "/api/v3/info")).status === 200): Promise<void> {
    const cmd = [
      "ip", "netns", "exec", this.ns,
      "env", `SOCLE_ADMIN_PASSWORD=${ADMIN_PASSWORD}`,
      ...this.command, "serve",
      "--data-dir", this.dataDir, "--dhcp-interfaces", this.iface, "--address", this.address, "--log-level", "debug",
      ...this.serveArgs,
    ];
    this.proc = Bun.spawn(cmd, { cwd: this.work, stdout: Bun.file(this.logFile), stderr: Bun.file(this.logFile), stdin: "ignore" });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`socle exited with ${this.proc.exitCode}: ${this.log().slice(-2000)}`);
      if (await ready()) return;
      await Bun.sleep(250);
    }
    throw new Error(`socle did not become ready (${this.api}) within ${timeoutMs} ms: ${this.log().slice(-2000)}`);
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, "utf8") : "";
  }

  /** An API call from inside the namespace (curl with Socle's CA and admin credentials). */
  async call(method: string, path: string, opts: { json?: unknown; file?: string; type?: string } = {}): Promise<ApiAnswer> {
    const ca = join(this.dataDir, "pki", "ca.pem");
    const args = ["ip", "netns", "exec", this.ns, "curl", "-sS", "--max-time", "60", "-X", method, "-u", `admin:${ADMIN_PASSWORD}`, "-w", "\n%{http_code}"];
    args.push(...(existsSync(ca) ? ["--cacert", ca] : ["-k"]));
    if (opts.json !== undefined) args.push("-H", `Content-Type: ${opts.type ?? "application/json"}`, "--data-binary", JSON.stringify(opts.json));
    if (opts.file !== undefined) args.push("-H", `Content-Type: ${opts.type ?? "application/octet-stream"}`, "--data-binary", `@${opts.file}`);
    args.push(`${this.api}${path}`);
    return curlAnswer((await sh(args, 90_000)).out);
  }

  /** Like call, but throws naming the request when the status is not 2xx. */
  async must(method: string, path: string, opts: { json?: unknown; file?: string; type?: string } = {}): Promise<any> {
    const r = await this.call(method, path, opts);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path} answered ${r.status}: ${r.text.slice(0, 600)}`);
    return r.body;
  }

  /** The machines that list `mac` among their HardwareAddrs. */
  async machinesWith(mac: string): Promise<any[]> {
    const list = await this.must("GET", `/api/v3/machines?HardwareAddrs=Eq(${mac})`);
    return Array.isArray(list) ? list : [];
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    p.kill("SIGTERM");
    const done = await Promise.race([p.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
    if (!done) {
      p.kill("SIGKILL");
      await p.exited;
    }
  }

  remove(): void {
    rmSync(this.work, { recursive: true, force: true });
  }
}
