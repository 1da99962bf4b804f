// Starts a Socle in-process on an ephemeral loopback port with a temporary data directory, and
// talks HTTPS to it with the CA it generated. Integration tests use this; nothing is mocked.

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseServeConfig } from "../../src/config/serve-config.ts";
import { startSocle, type Socle, type StartOptions } from "../../src/main.ts";
import { createLogger, type Logger } from "../../src/log/logger.ts";
import { ParamCipher } from "../../src/model/secure-params.ts";
import { SETTINGS_FILE } from "../../src/store/settings.ts";

export const ADMIN_PASSWORD = "correct-horse-battery";

/**
 * Flags for a server that runs only the API: tests never run DHCP or TFTP in the default network
 * namespace (DHCP tests start their own server inside namespaces they create).
 */
export const API_ONLY = ["--disable-dhcp", "--disable-binl", "--disable-tftp", "--disable-static"];

/** A loopback port that was free a moment ago (for flags that take a port, like --static-port). */
export function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

export interface TestSocle {
  socle: Socle;
  base: string;
  dir: string;
  lines: string[];
  /** fetch with the server's CA and, unless auth is null, admin Basic credentials. */
  req(method: string, path: string, opts?: ReqOpts): Promise<Response>;
  /** req + parse JSON; returns status, headers and body. */
  call(method: string, path: string, opts?: ReqOpts): Promise<{ status: number; body: any; headers: Headers }>;
  restart(): Promise<void>;
  stop(opts?: { keep?: boolean }): Promise<void>;
}

export interface ReqOpts {
  body?: unknown;
  raw?: string | Uint8Array;
  type?: string;
  auth?: string | null; // full Authorization header; null = none; default admin Basic
  headers?: Record<string, string>;
}

export function basic(user: string, pass: string): string {
  return "Basic " + Buffer.from(`${user}:${pass}`).toString("base64");
}

export async function startTestSocle(extraArgs: string[] = [], dirIn?: string, startOpts: Omit<StartOptions, "log"> = {}): Promise<TestSocle> {
  const dir = dirIn ?? (await mkdtemp(join(tmpdir(), "socle-test-")));
  const lines: string[] = [];
  const log: Logger = createLogger({ level: "debug", sink: (l) => lines.push(l) });
  const args = ["--data-dir", dir, "--api-port", "0", "--api-listen", "127.0.0.1", ...API_ONLY, ...extraArgs];
  const env = { SOCLE_ADMIN_PASSWORD: ADMIN_PASSWORD };
  let socle = await startSocle(parseServeConfig(args, env, { compiled: false }), { ...startOpts, log });
  const t: TestSocle = {
    socle,
    dir,
    lines,
    get base() {
      return `https://127.0.0.1:${socle.apiPort}`;
    },
    async req(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (opts.auth !== null) headers.Authorization = opts.auth ?? basic("admin", ADMIN_PASSWORD);
      let body: string | Uint8Array | undefined;
      if (opts.raw !== undefined) body = opts.raw;
      else if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined) headers["Content-Type"] = opts.type ?? "application/json";
      return fetch(`${t.base}${path}`, { method, headers, body, tls: { ca: socle.caCertPem } } as RequestInit);
    },
    async call(method, path, opts) {
      const res = await t.req(method, path, opts);
      const text = await res.text();
      let body: any = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {}
      return { status: res.status, body, headers: res.headers };
    },
    async restart() {
      await socle.stop();
      socle = await startSocle(parseServeConfig(args, env, { compiled: false }), { ...startOpts, log });
      t.socle = socle;
    },
    async stop(opts = {}) {
      await socle.stop();
      if (!opts.keep && !dirIn) await rm(dir, { recursive: true, force: true });
    },
  };
  return t;
}

/**
 * The cipher of a data directory's Secure param values, from its settings.json: for a boot core a
 * test builds beside the server (it opens sealed values as the server's own does).
 */
export async function secureParamCipher(dir: string): Promise<ParamCipher> {
  const settings = JSON.parse(await readFile(join(dir, SETTINGS_FILE), "utf8")) as { secrets: Record<string, string> };
  return new ParamCipher(settings.secrets.secureParamKey!);
}
