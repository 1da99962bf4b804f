// Operator file areas: /api/v3/files/<path> (the tree the boot file server serves from
// <data-dir>/files) and /api/v3/isos/<name> (<data-dir>/isos, flat). Uploads stream the raw body
// into files/atomic-write.ts's replaceFile (a temporary file beside the target, fsync'd, renamed
// over it, the directory fsync'd): a crash leaves the old file or the new one, never a torn one.
// The jail is the boot file server's (files/paths.ts, files/jail.ts): normalised paths, no "..",
// and every directory resolved by real path inside the root (a symlink may not lead an upload, a
// listing or a delete outside it).
// An ISO upload also explodes the image into the install tree of every boot environment that
// names it in OS.IsoFile (iso-import.ts); the answer says, per environment, what was written or
// why not.

import type { Context, Hono } from "hono";
import { lstat, mkdir, open, readdir, realpath, rmdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, claimRefusal, requireClaim } from "./access.ts";
import { json } from "./http-util.ts";
import { SocleError, badRequest, conflict, notFound } from "../model/errors.ts";
import { directorySource } from "../files/sources.ts";
import { isInside, resolveInRoot } from "../files/jail.ts";
import { hasTempSegment, isTempName, normaliseRequestPath } from "../files/paths.ts";
import { replaceFile, syncDir, writeAll } from "../files/atomic-write.ts";
import { explodeForBootEnvs, isoImportDeps } from "./iso-import.ts";

/** Default upload limit: large enough for a DVD ISO. */
export const DEFAULT_UPLOAD_LIMIT = 8 * 1024 * 1024 * 1024;

/** Writes are batched to this size: fewer syscalls than one write per network chunk. */
const WRITE_BATCH = 1024 * 1024;

export interface FileArea {
  /** API path segment, claim scope and error Model: "files" or "isos". */
  scope: "files" | "isos";
  root: string;
  /** ISOs are one level: a name, never a path. */
  flat: boolean;
}

export interface UploadResult {
  Path: string;
  Size: number;
  Sha256: string;
}

export function fileRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  if (deps.dataDir === undefined) return;
  const limit = deps.uploadLimit ?? DEFAULT_UPLOAD_LIMIT;
  const areas: FileArea[] = [
    { scope: "files", root: join(deps.dataDir, "files"), flat: false },
    { scope: "isos", root: join(deps.dataDir, "isos"), flat: true },
  ];
  for (const area of areas) {
    const prefix = `/api/v3/${area.scope}`;
    const served = directorySource(area.root);

    app.get(prefix, async (c) => {
      requireClaim(c, area.scope, "list");
      const raw = area.flat ? "" : (c.req.query("path") ?? "");
      const rel = raw.replace(/^[/\\]+|[/\\]+$/g, "") === "" ? "" : checkedPath(area, raw);
      return json(await listDir(area, rel));
    });

    app.get(`${prefix}/*`, async (c) => {
      const rel = pathOf(c, area, prefix);
      requireClaim(c, area.scope, "get", rel);
      const file = await served.get(rel, { protocol: "http", remoteAddress: "", serverAddress: "" });
      if (file?.diskPath === undefined || file.size === undefined) throw notFound(area.scope, rel);
      const headers: Record<string, string> = {
        "Content-Type": "application/octet-stream",
        "Content-Length": String(file.size),
      };
      if (file.etag) headers.ETag = file.etag;
      if (c.req.method === "HEAD") return new Response(null, { headers });
      return new Response(Bun.file(file.diskPath), { headers });
    });

    const upload = async (c: Context<ApiEnv>) => {
      const rel = pathOf(c, area, prefix);
      requireClaim(c, area.scope, "create", rel);
      const declared = Number(c.req.header("content-length") ?? "NaN");
      const { result, created } = await uploadFile(area, rel, c.req.raw.body, { limit, declared });
      if (area.scope !== "isos") return json(result, created ? 201 : 200);
      const exploded = await explodeForBootEnvs(isoImportDeps(deps, (rel) => claimRefusal(c, "files", "create", rel)), rel, join(area.root, rel));
      return json({ ...result, Exploded: exploded }, created ? 201 : 200);
    };
    app.put(`${prefix}/*`, upload);
    app.post(`${prefix}/*`, upload);

    app.delete(`${prefix}/*`, async (c) => {
      const rel = pathOf(c, area, prefix);
      requireClaim(c, area.scope, "delete", rel);
      await removePath(area, rel);
      return new Response(null, { status: 204 });
    });
  }
}

/** The path after the route prefix, percent-decoded and normalised, or 400 naming it. */
function pathOf(c: Context<ApiEnv>, area: FileArea, prefix: string): string {
  const pathname = new URL(c.req.url).pathname;
  const encoded = pathname.slice(prefix.length + 1);
  let raw: string;
  try {
    raw = decodeURIComponent(encoded);
  } catch {
    throw badRequest(area.scope, encoded, `invalid path "${encoded}": malformed percent-encoding`);
  }
  return checkedPath(area, raw);
}

function checkedPath(area: FileArea, raw: string): string {
  const norm = normaliseRequestPath(raw);
  if (!norm.ok) {
    throw badRequest(area.scope, raw, `invalid path "${raw}": empty, "..", NUL or a drive letter`);
  }
  const rel = norm.path;
  if (area.flat && rel.includes("/")) throw badRequest(area.scope, raw, `invalid ${area.scope} name "${raw}": no directories allowed`);
  if (hasTempSegment(rel)) {
    throw badRequest(area.scope, raw, `invalid path "${raw}": the name is reserved for uploads in progress`);
  }
  return rel;
}

async function realRootOf(area: FileArea, create: boolean): Promise<string | undefined> {
  if (create) await mkdir(area.root, { recursive: true, mode: 0o755 });
  try {
    return await realpath(area.root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * The real directory that will hold `rel`, creating missing directories one at a time below the
 * root. Existing components are followed by real path and must stay inside the root; a file in
 * the way is a conflict.
 */
async function parentFor(area: FileArea, realRoot: string, rel: string): Promise<string> {
  const segments = rel.split("/");
  segments.pop();
  let dir = realRoot;
  for (const [i, seg] of segments.entries()) {
    const next = join(dir, seg);
    const shown = segments.slice(0, i + 1).join("/");
    const st = await lstat(next).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (st === undefined) {
      await mkdir(next, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "EEXIST") throw err;
      });
    } else if (!st.isDirectory() && !st.isSymbolicLink()) {
      throw conflict(area.scope, rel, `cannot write "${rel}": "${shown}" is a file, not a directory`);
    }
    const real = await realpath(next);
    if (!isInside(realRoot, real) || !(await stat(real)).isDirectory()) {
      throw badRequest(area.scope, rel, `cannot write "${rel}": "${shown}" leads outside the ${area.scope} directory or is not a directory`);
    }
    dir = real;
  }
  return dir;
}

/**
 * Stream `body` into `<root>/<rel>`; SHA-256 computed on the way. Over `limit` bytes (declared or
 * counted) is 413 and leaves nothing behind.
 */
export async function uploadFile(
  area: FileArea,
  rel: string,
  body: ReadableStream<Uint8Array> | null,
  opts: { limit: number; declared?: number },
): Promise<{ result: UploadResult; created: boolean }> {
  const tooLarge = () =>
    new SocleError("PayloadTooLarge", area.scope, rel, `cannot upload "${rel}": larger than the limit of ${opts.limit} bytes`);
  if (opts.declared !== undefined && Number.isFinite(opts.declared) && opts.declared > opts.limit) {
    await body?.cancel().catch(() => {});
    throw tooLarge();
  }
  const realRoot = (await realRootOf(area, true))!;
  const dir = await parentFor(area, realRoot, rel);
  const name = rel.slice(rel.lastIndexOf("/") + 1);
  const target = join(dir, name);
  const existing = await lstat(target).catch(() => undefined);
  if (existing?.isDirectory()) throw conflict(area.scope, rel, `cannot upload "${rel}": it is a directory`);

  const hasher = new Bun.CryptoHasher("sha256");
  let size = 0;
  // The temporary file is an upload's (files/paths.ts): never served or listed while it fills.
  const fill = async (tmp: string) => {
    const fh = await open(tmp, "wx", 0o644);
    try {
      const pending: Uint8Array[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        if (pendingBytes === 0) return;
        await writeAll(fh, pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes));
        pending.length = 0;
        pendingBytes = 0;
      };
      if (body) {
        const reader = body.getReader();
        for (;;) {
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (err) {
            throw badRequest(area.scope, rel, `cannot upload "${rel}": the request body was cut off after ${size} bytes (${(err as Error).message})`);
          }
          if (chunk.done) break;
          size += chunk.value.byteLength;
          if (size > opts.limit) {
            await reader.cancel().catch(() => {});
            throw tooLarge();
          }
          hasher.update(chunk.value);
          pending.push(chunk.value);
          pendingBytes += chunk.value.byteLength;
          if (pendingBytes >= WRITE_BATCH) await flush();
        }
      }
      await flush();
    } finally {
      await fh.close();
    }
  };
  await replaceFile(target, fill, undefined, "upload");
  return { result: { Path: rel, Size: size, Sha256: hasher.digest("hex") }, created: existing === undefined };
}

/** DRP's listing: names sorted, directories with a trailing "/". Symlinks leading outside are left out. */
async function listDir(area: FileArea, rel: string): Promise<string[]> {
  const realRoot = await realRootOf(area, false);
  if (realRoot === undefined) {
    if (rel === "") return [];
    throw notFound(area.scope, rel);
  }
  const dir = rel === "" ? realRoot : await resolveInRoot(realRoot, rel);
  const st = dir === undefined ? undefined : await stat(dir).catch(() => undefined);
  if (dir === undefined || !st?.isDirectory()) throw notFound(area.scope, rel);
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (isTempName(entry.name)) continue;
    let isDir = entry.isDirectory();
    if (entry.isSymbolicLink()) {
      const real = await resolveInRoot(realRoot, rel === "" ? entry.name : `${rel}/${entry.name}`);
      if (real === undefined) continue;
      isDir = (await stat(real).catch(() => undefined))?.isDirectory() ?? false;
    }
    if (area.flat && isDir) continue;
    out.push(isDir ? `${entry.name}/` : entry.name);
  }
  return out.sort();
}

/** Remove a file (or a symlink, not what it points to) or an empty directory. */
async function removePath(area: FileArea, rel: string): Promise<void> {
  const realRoot = await realRootOf(area, false);
  if (realRoot === undefined) throw notFound(area.scope, rel);
  const slash = rel.lastIndexOf("/");
  const parent = slash < 0 ? realRoot : await resolveInRoot(realRoot, rel.slice(0, slash));
  if (parent === undefined) throw notFound(area.scope, rel);
  const target = join(parent, rel.slice(slash + 1));
  const st = await lstat(target).catch(() => undefined);
  if (st === undefined) throw notFound(area.scope, rel);
  if (st.isDirectory()) {
    await rmdir(target).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOTEMPTY" || err.code === "EEXIST") {
        throw conflict(area.scope, rel, `cannot delete "${rel}": the directory is not empty`);
      }
      throw err;
    });
  } else {
    await unlink(target);
  }
  await syncDir(parent);
}
