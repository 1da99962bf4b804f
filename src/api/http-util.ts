// Request and response helpers shared by the API routes: bounded JSON bodies, ETags, JSON errors.

import type { Context } from "hono";
import { SocleError, badRequest } from "../model/errors.ts";

export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;

export interface BodyOptions {
  model: string;
  key?: string;
  limit?: number;
  /** Accepted media types; application/json is always accepted. */
  types?: string[];
}

/** Read and parse a JSON body, enforcing content type and a size limit while streaming. */
export async function readJson(c: Context, opts: BodyOptions): Promise<unknown> {
  const key = opts.key ?? "";
  const limit = opts.limit ?? DEFAULT_BODY_LIMIT;
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const accepted = ["application/json", ...(opts.types ?? [])];
  if (!accepted.includes(type)) {
    throw new SocleError("UnsupportedMediaType", opts.model, key, [
      `Content-Type "${type || "(none)"}" is not supported; send ${accepted.join(" or ")}`,
    ]);
  }
  if (!c.req.raw.body) throw badRequest(opts.model, key, "request body is empty; expected JSON");
  const bytes = await readBytes(c, limit, () => tooLarge(opts.model, key, limit));
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  if (text.trim() === "") throw badRequest(opts.model, key, "request body is empty; expected JSON");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(opts.model, key, `invalid JSON body: ${(err as Error).message}`);
  }
}

/**
 * The raw request body, at most `limit` bytes: a Content-Length beyond it is refused before
 * anything is read, and a body that grows beyond it while streaming stops there. Empty: no bytes.
 */
export async function readBytes(c: Context, limit: number, tooLargeError: () => SocleError): Promise<Uint8Array> {
  const declared = Number(c.req.header("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > limit) throw tooLargeError();
  const body = c.req.raw.body;
  if (!body) return new Uint8Array(0);
  // A declared length within the limit: HTTP framing ends the body there, so it is read whole
  // (natively, without a stream reader per chunk: most API bodies are a few hundred bytes).
  if (Number.isFinite(declared)) return new Uint8Array(await c.req.raw.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLargeError();
    }
    chunks.push(value);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function tooLarge(model: string, key: string, limit: number): SocleError {
  return new SocleError("PayloadTooLarge", model, key, `request body exceeds ${limit} bytes`);
}

/** A weak ETag over the serialised body. */
export function etagOf(text: string): string {
  return `W/"${Bun.hash(text).toString(36)}"`;
}

/**
 * Answer JSON with an ETag; a matching If-None-Match gets 304 with no body.
 * Extra headers (list counts) ride along on both.
 */
export function jsonWithEtag(c: Context, value: unknown, headers: Record<string, string> = {}): Response {
  const text = JSON.stringify(value);
  const etag = etagOf(text);
  const h: Record<string, string> = { ETag: etag, "Cache-Control": "no-cache", ...headers };
  const inm = c.req.header("if-none-match");
  if (inm && inm.split(",").some((t) => t.trim() === etag || t.trim() === "*")) {
    return new Response(null, { status: 304, headers: h });
  }
  if (c.req.method === "HEAD") return new Response(null, { status: 200, headers: h });
  return new Response(text, { status: 200, headers: { "Content-Type": "application/json", ...h } });
}

export function json(value: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export function errorResponse(err: SocleError): Response {
  const headers: Record<string, string> = {};
  if (err.type === "Unauthorized") headers["WWW-Authenticate"] = 'Basic realm="socle", charset="UTF-8"';
  return json(err.toJSON(), err.code, headers);
}

/** Parse a non-negative integer query parameter, or throw 400 naming it. */
export function intParam(c: Context, name: string, model: string, fallback: number, max: number): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) > max) {
    throw badRequest(model, "", `${name}: invalid value "${raw}" (expected an integer 0-${max})`);
  }
  return Number(raw);
}

/** The client's address (the Bun server rides in c.env: server.ts); "" when unknown (tests). */
export function clientAddress(c: Context): string {
  const env = c.env as { server?: { requestIP(req: Request): { address: string } | null } } | undefined;
  return env?.server?.requestIP(c.req.raw)?.address ?? "";
}
