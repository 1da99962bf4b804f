// The CLI's HTTP client for /api/v3. It turns every failure into a CliError with one clear line:
// the API's own error body ("Error: NotFound 404: ..."), or what went wrong on the way (refused,
// TLS trust, timeout). Trust is what the config says: a pinned CA, the system roots, or -k.

import type { ClientAuth } from "../config/client-config.ts";
import { CliError } from "./cli-error.ts";

export interface ApiClientOptions {
  endpoint: string;
  auth: ClientAuth;
  /** PEM text of the CA to trust (undefined = system roots). */
  ca: string | undefined;
  /** Where the CA came from, for the hint when it does not verify the server. */
  caLabel: string;
  insecure: boolean;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface RequestOptions {
  query?: URLSearchParams;
  body?: unknown;
  contentType?: string;
}

/** The API's error body, DRP style. */
export interface ApiErrorBody {
  Model?: string;
  Key?: string;
  Type?: string;
  Messages?: string[];
  Code?: number;
}

export class ApiError extends CliError {
  readonly status: number;
  readonly body: ApiErrorBody | undefined;
  constructor(message: string, status: number, body: ApiErrorBody | undefined) {
    super(message, 1);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

const UNTRUSTED = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
]);

export class ApiClient {
  private readonly opts: ApiClientOptions;
  private readonly doFetch: typeof fetch;

  constructor(opts: ApiClientOptions) {
    this.opts = opts;
    this.doFetch = opts.fetch ?? fetch;
  }

  /** URL of an API path ("machines", "machines/<encoded key>"). */
  url(path: string, query?: URLSearchParams): string {
    const q = query && [...query.keys()].length > 0 ? `?${query}` : "";
    return `${this.opts.endpoint}/api/v3/${path}${q}`;
  }

  async request(method: string, path: string, ro: RequestOptions = {}): Promise<unknown> {
    const url = this.url(path, ro.query);
    const headers: Record<string, string> = { Accept: "application/json" };
    const auth = this.opts.auth;
    if (auth.kind === "basic") headers.Authorization = `Basic ${btoa(`${auth.username}:${auth.password}`)}`;
    if (auth.kind === "token") headers.Authorization = `Bearer ${auth.token}`;
    let body: string | undefined;
    if (ro.body !== undefined) {
      body = JSON.stringify(ro.body);
      headers["Content-Type"] = ro.contentType ?? "application/json";
    }
    const tls = this.opts.insecure ? { rejectUnauthorized: false } : this.opts.ca ? { ca: this.opts.ca } : undefined;

    let res: Response;
    let text: string;
    try {
      res = await this.doFetch(url, {
        method,
        headers,
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS),
        ...(tls ? { tls } : {}),
      } as RequestInit);
      text = await res.text();
    } catch (e) {
      throw new CliError(this.describeNetworkError(e));
    }

    if (res.ok) {
      if (text === "") return undefined;
      try {
        return JSON.parse(text);
      } catch {
        throw new CliError(`${method} ${url}: server sent ${res.status} with a body that is not JSON: ${snippet(text)}`);
      }
    }
    throw this.apiError(res, text);
  }

  private apiError(res: Response, text: string): ApiError {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (parsed !== null && typeof parsed === "object" && ("Type" in parsed || "Messages" in parsed)) {
      const b = parsed as ApiErrorBody;
      const msgs = Array.isArray(b.Messages) ? b.Messages.join("; ") : "";
      let line = `${b.Type ?? "Error"} ${b.Code ?? res.status}: ${msgs}`;
      if (res.status === 401 && this.opts.auth.kind === "none") {
        line += "\nhint: no credentials were given: pass -U/-P or -T (or set SOCLE_USERNAME/SOCLE_PASSWORD or SOCLE_TOKEN)";
      }
      return new ApiError(line, res.status, b);
    }
    const where = res.status >= 300 && res.status < 400 ? ` (redirect to ${res.headers.get("location") ?? "?"})` : "";
    return new ApiError(`HTTP ${res.status}${where}: ${snippet(text) || res.statusText}`, res.status, undefined);
  }

  private describeNetworkError(e: unknown): string {
    const ep = this.opts.endpoint;
    const err = e as { name?: string; code?: string; message?: string };
    const code = err?.code ?? "";
    if (err?.name === "TimeoutError" || code === "ETIMEDOUT") {
      return `cannot reach ${ep}: no answer within ${(this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000}s`;
    }
    if (UNTRUSTED.has(code)) {
      const by = this.opts.ca ? ` by the CA in ${this.opts.caLabel}` : "";
      return `TLS: certificate of ${ep} not trusted${by} (${code}): pass --ca-file (socle pki ca > ca.pem) or -k`;
    }
    if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
      return `TLS: certificate of ${ep} is not valid for host "${new URL(ep).hostname}": use a name or address the certificate lists`;
    }
    if (code === "CERT_HAS_EXPIRED") return `TLS: certificate of ${ep} has expired`;
    if (code === "CERT_NOT_YET_VALID") return `TLS: certificate of ${ep} is not yet valid (check the clocks)`;
    if (code === "EPROTO") return `TLS: handshake with ${ep} failed: does the server speak TLS there? (try http://)`;
    if (code === "ECONNREFUSED") return `cannot reach ${ep}: connection refused`;
    if (code === "ECONNRESET") {
      const hint = ep.startsWith("http:") ? " (if it serves TLS there, use https://)" : "";
      return `cannot reach ${ep}: connection closed by the server${hint}`;
    }
    if (code === "ENOTFOUND") return `cannot reach ${ep}: host "${new URL(ep).hostname}" not found`;
    return `cannot reach ${ep}: ${code || err?.message || String(e)}`;
  }
}

function snippet(text: string): string {
  const s = text.replace(/\s+/g, " ").trim();
  return s.length > 200 ? s.slice(0, 199) + "…" : s;
}

/** Path segment for an object key; `Name:n1` index keys pass through encoded. */
export function keyPath(type: string, key: string, ...rest: string[]): string {
  return [type, key, ...rest].map(encodeURIComponent).join("/");
}
