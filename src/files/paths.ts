// The path rules every file server and file area shares: what a client may ask for, and which names
// are ours alone. TFTP, HTTP, the API's file areas, the path index of rendered files and the ISO
// import all ask here, so a path one of them refuses, every one of them refuses.
//
// Windows loaders (WDS, pxeboot.n12) send backslashes, and many firmwares send a leading "/" that
// means "the root of what you serve", not the filesystem root: both are taken as meant. The real-
// path jail (symlinks) is jail.ts; percent-decoding is the HTTP caller's (TFTP has none).

import { randomBytes } from "node:crypto";

export type PathResult = { ok: true; path: string } | { ok: false; reason: string };

/**
 * A request path made relative and "/"-separated: backslashes become "/", "//" and "." segments
 * collapse, the leading "/" goes. Refused, with the reason: a control character (NUL, newline:
 * no boot file has one, and a log line must not carry one), a ".." segment, a drive letter
 * ("C:\x", absolute on Windows), and a path that names nothing ("", "/", "./.").
 * Hidden names (".treeinfo") are ordinary names; temporary names are hasTempSegment's question.
 */
export function normaliseRequestPath(raw: string): PathResult {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return { ok: false, reason: `control character 0x${c.toString(16).padStart(2, "0")}` };
  }
  const segments: string[] = [];
  for (const seg of raw.replace(/\\/g, "/").split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") return { ok: false, reason: '".." is not allowed' };
    segments.push(seg);
  }
  if (segments.length === 0) return { ok: false, reason: "no file named" };
  if (/^[A-Za-z]:/.test(segments[0]!)) return { ok: false, reason: "drive letters are absolute" };
  return { ok: true, path: segments.join("/") };
}

/** The normalised path, or undefined when it is refused (for callers that answer "not found"). */
export function normalisedOrUndefined(raw: string): string | undefined {
  const r = normaliseRequestPath(raw);
  return r.ok ? r.path : undefined;
}

/**
 * What a temporary name is for: an upload in progress (api), an install tree being exploded from
 * an ISO (explode.ts), an ISO being fetched from OS.IsoUrl (fetch.ts), a file being replaced whole
 * (atomic-write.ts).
 */
export type TempKind = "upload" | "explode" | "fetch" | "write";

/**
 * Temporary names: ".socle-<kind>-<hex>.part", and beside one what belongs to it (".old": the tree
 * an explode replaces; ".validator": what guards a fetch's resume). Never served, never listed, and
 * never accepted as an upload's name, so a half-written file is never handed out.
 */
const TEMP_NAME = /^\.socle-(?:upload|explode|fetch|write)-[0-9a-f]+\.part(?:\.old|\.validator)?$/;

/** A fresh temporary name of `kind`; `id` (lower-case hex) when the name must be found again. */
export function tempName(kind: TempKind, id: string = randomBytes(8).toString("hex")): string {
  if (!/^[0-9a-f]+$/.test(id)) throw new Error(`temporary name id ${JSON.stringify(id)} is not lower-case hex`);
  return `.socle-${kind}-${id}.part`;
}

/** Is `name` (one path segment) a temporary name? */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** Does any segment of the normalised `path` name a temporary file or directory? */
export function hasTempSegment(path: string): boolean {
  return path.split("/").some(isTempName);
}
