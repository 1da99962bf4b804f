// The request -> response logic of the boot file server, separate from the socket so it can be
// tested with plain Request objects. GET and HEAD only; one FileSource answers every path.

import type { BootFile, FileFacts, FileSource } from "../files/file-source.ts";
import { contentTypeFor } from "../files/content-type.ts";
import { normaliseRequestPath } from "../files/paths.ts";
import { SocleError } from "../model/errors.ts";
import type { Logger } from "../log/logger.ts";
import { httpDate, ifRangeAllows, isNotModified } from "./conditional.ts";
import { parseRange } from "./range.ts";
import { HttpMethod, HttpOutcome, Kind } from "../timeline/kinds.ts";
import { MAX_TEXT, detach, type Timeline } from "../timeline/recorder.ts";
import { macToString } from "../timeline/mac.ts";

/** The client's MAC for a log line, when the timeline knows whose address it is. */
function macField(timeline: Timeline, address: string): Record<string, string> {
  const mac = timeline.macOf(address);
  return mac === undefined ? {} : { mac: macToString(mac) };
}

export interface FileHandlerOptions {
  source: FileSource;
  log: Logger;
  /** The boot timeline: each GET/HEAD and its status, for the MAC the client's address belongs to. */
  timeline?: Timeline;
}

/** Who asked and how they reached us, worked out by the socket layer. */
export interface RequestOrigin {
  remoteAddress: string;
  serverAddress: string;
}

const ALLOW = "GET, HEAD";

/**
 * The path of the request as the client sent it, percent-decoded. Bun has already resolved "."
 * and ".." segments (also "%2e%2e") against "/", so what is left to catch here are encoded
 * slashes and backslashes that decode into a traversal ("..%2f", "..%5c"): normaliseRequestPath
 * refuses those. Undefined: malformed percent-encoding.
 */
export function decodedPath(url: string): string | undefined {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0) return "";
  let end = url.length;
  for (const stop of ["?", "#"]) {
    const i = url.indexOf(stop, start);
    if (i >= 0 && i < end) end = i;
  }
  try {
    return decodeURIComponent(url.slice(start, end));
  } catch {
    return undefined;
  }
}

export function createFileHandler(opts: FileHandlerOptions): (req: Request, origin: RequestOrigin) => Promise<Response> {
  const { source, log, timeline } = opts;
  const note = (req: Request, origin: RequestOrigin, outcome: number, status: number, path: string, error = "") =>
    // A path cut from a long URL (a query string of any length) would keep the whole URL alive.
    timeline?.recordFrom(origin.remoteAddress, Kind.Http, req.method === "HEAD" ? HttpMethod.Head : HttpMethod.Get, outcome, status, req.url.length > MAX_TEXT ? detach(path, true) : path, error);
  // The debug lines about a request carry the client's MAC when the timeline knows it; looked up
  // only when debug lines are written.
  const debugLog = (origin: RequestOrigin): Logger => {
    if (!timeline || !log.enabled("debug")) return log;
    const who = macField(timeline, origin.remoteAddress);
    if (!who.mac) return log;
    return { ...log, debug: (msg, fields) => log.debug(msg, { ...fields, ...who }) };
  };
  return async (req, origin) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return text(405, `method ${req.method} not allowed\n`, { Allow: ALLOW });
    }
    const raw = decodedPath(req.url);
    if (raw === undefined) return text(400, "malformed percent-encoding in the request path\n");
    const norm = normaliseRequestPath(raw);
    // Whatever the reason (traversal, NUL, drive letter, a directory, nothing there): 404, so the
    // answer never tells what exists outside the served tree. The log says why.
    if (!norm.ok) {
      note(req, origin, HttpOutcome.NotFound, 404, raw, norm.reason);
      return notFound(req, origin, raw, debugLog(origin), norm.reason);
    }
    const path = norm.path;
    const facts: FileFacts = { protocol: "http", remoteAddress: origin.remoteAddress, serverAddress: origin.serverAddress };
    let file: BootFile | undefined;
    try {
      file = await source.get(path, facts);
    } catch (err) {
      const res = failure(err, path, origin, log, timeline ? macField(timeline, origin.remoteAddress) : {});
      note(req, origin, HttpOutcome.Failed, res.status, path, err instanceof SocleError ? err.messages.join("; ") : "internal error");
      return res;
    }
    if (file === undefined) {
      note(req, origin, HttpOutcome.NotFound, 404, path);
      return notFound(req, origin, path, debugLog(origin));
    }
    const res = answer(req, path, file, origin, debugLog(origin));
    note(req, origin, HttpOutcome.Served, res.status, path);
    return res;
  };
}

function answer(req: Request, path: string, file: BootFile, origin: RequestOrigin, log: Logger): Response {
  const headers = new Headers({
    "Content-Type": file.contentType ?? contentTypeFor(path),
    "Cache-Control": file.mtime === undefined && file.etag === undefined ? "no-store" : "no-cache",
  });
  if (file.etag !== undefined) headers.set("ETag", file.etag);
  if (file.mtime !== undefined) headers.set("Last-Modified", httpDate(file.mtime));
  const validators = { etag: file.etag, mtime: file.mtime };
  if (isNotModified(req.headers, validators)) {
    headers.delete("Content-Type");
    return new Response(null, { status: 304, headers });
  }
  const size = file.size;
  if (size === undefined) {
    // Unknown length (streamed content): no ranges, chunked body.
    log.debug("GET", { path, remote: origin.remoteAddress, status: 200 });
    return new Response(req.method === "HEAD" ? null : file.read(), { status: 200, headers });
  }
  headers.set("Accept-Ranges", "bytes");
  let start = 0;
  let end = size;
  let status = 200;
  const range = ifRangeAllows(req.headers, validators) ? parseRange(req.headers.get("range"), size) : { kind: "full" as const };
  if (range.kind === "unsatisfiable") {
    headers.set("Content-Range", `bytes */${size}`);
    headers.delete("Content-Type");
    return new Response(null, { status: 416, headers });
  }
  if (range.kind === "partial") {
    start = range.start;
    end = range.end;
    status = 206;
    headers.set("Content-Range", `bytes ${start}-${end - 1}/${size}`);
  }
  headers.set("Content-Length", String(end - start));
  log.debug(req.method, { path, remote: origin.remoteAddress, status, bytes: end - start });
  if (req.method === "HEAD") return new Response(null, { status, headers });
  // A plain file on disk goes out through Bun.file, which the server sends with sendfile(2).
  const body = file.diskPath !== undefined ? Bun.file(file.diskPath).slice(start, end) : file.read(start, end);
  return new Response(body, { status, headers });
}

function notFound(req: Request, origin: RequestOrigin, path: string, log: Logger, refused?: string): Response {
  log.debug("not found", { method: req.method, path, remote: origin.remoteAddress, ...(refused === undefined ? {} : { refused }) });
  return text(404, "not found\n");
}

function failure(err: unknown, path: string, origin: RequestOrigin, log: Logger, who: Record<string, string>): Response {
  if (err instanceof SocleError) {
    // A file that exists but cannot be produced (a template missing a parameter): the operator
    // needs the reason, and the machine's installer log is often where they will look first.
    log.warn("cannot produce file", { path, remote: origin.remoteAddress, ...who, error: err.message });
    const status = err.type === "NotFound" ? 404 : err.code >= 500 ? err.code : 500;
    return text(status, `cannot produce "${path}": ${err.messages.join("; ")}\n`);
  }
  log.error("internal error", { path, remote: origin.remoteAddress, ...who, error: (err as Error)?.stack ?? String(err) });
  return text(500, "internal error; see the server log\n");
}

function text(status: number, body: string, extra: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "Content-Type": "text/plain; charset=utf-8", ...extra } });
}
