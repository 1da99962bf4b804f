// For the registration tests in this folder: a whole Socle whose boot file server runs too (both
// on port 0, loopback), registration tokens taken the way anyone on the boot LAN takes them (the
// discovery iPXE script of an unknown MAC, over plain HTTP, no credentials), and API requests
// from a chosen loopback address (curl --interface 127.0.0.x: Linux routes all of 127/8 to lo).

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestSocle, type TestSocle } from "../helpers/socle.ts";
import type { StartOptions } from "../../src/main.ts";

export interface BootSocle {
  s: TestSocle;
  /** The boot file server's port (read from its log line: it listens on port 0). */
  bootPort: number;
}

export async function startWithBootServer(startOpts: Omit<StartOptions, "log"> = {}, extraArgs: readonly string[] = []): Promise<BootSocle> {
  const s = await startTestSocle(["--disable-static=false", "--static-listen", "127.0.0.1", "--static-port", "0", ...extraArgs], undefined, startOpts);
  const line = s.lines.find((l) => l.includes("HTTP boot file server listening"));
  const port = Number(/\bport=(\d+)/.exec(line ?? "")?.[1] ?? 0);
  if (!port) throw new Error(`no boot file server port in the log:\n${s.lines.join("\n")}`);
  const prefs = await s.call("POST", "/api/v3/prefs", { body: { unknownBootEnv: "discovery" } });
  if (prefs.status !== 200) throw new Error(`set unknownBootEnv=discovery: ${prefs.status} ${JSON.stringify(prefs.body)}`);
  return { s, bootPort: port };
}

/** The socle.token= of a boot script, as the discovery image reads it from its command line. */
export function tokenOf(script: string): string {
  const m = /\bsocle\.token=(\S+)/.exec(script);
  if (!m) throw new Error(`no socle.token= in:\n${script}`);
  return m[1]!;
}

/** GET /boot/<mac>.ipxe from the boot file server, without credentials: its registration token. */
export async function registrationToken(bootPort: number, mac: string): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${bootPort}/boot/${mac}.ipxe`);
  const text = await r.text();
  if (r.status !== 200) throw new Error(`GET /boot/${mac}.ipxe: ${r.status} ${text}`);
  return tokenOf(text);
}

export interface Answer {
  status: number;
  body: any;
  /** The answer as received, for "contains no ..." checks. */
  text: string;
}

/** An HTTPS API request from the loopback address `from` (curl, the server's CA). */
export async function apiFrom(s: TestSocle, from: string, method: string, path: string, opts: { auth: string; body?: unknown }): Promise<Answer> {
  const ca = join(s.dir, "test-ca.pem");
  writeFileSync(ca, s.socle.caCertPem);
  const args = ["curl", "-sS", "--max-time", "20", "--interface", from, "--cacert", ca, "-X", method, "-H", `Authorization: ${opts.auth}`, "-o", "-", "-w", "\n%{http_code}"];
  if (opts.body !== undefined) args.push("-H", "Content-Type: application/json", "--data-binary", JSON.stringify(opts.body));
  const p = Bun.spawn([...args, `${s.base}${path}`], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`curl from ${from} ${method} ${path}: exit ${code}: ${err}`);
  const i = out.lastIndexOf("\n");
  const text = out.slice(0, i);
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: Number(out.slice(i + 1)), body, text };
}
