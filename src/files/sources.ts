// FileSource implementations (contract: file-source.ts): an operator's directory jailed by real
// path (jail.ts), assets embedded in the binary, and a chain that tries sources in order. Paths
// are normalised by the rules of paths.ts, so every source refuses the same escapes.

import { lstat, readdir, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Stats } from "node:fs";
import type { BootFile, FileFacts, FilePresence, FileSource, StaticFileSource } from "./file-source.ts";
import { isAbsent, resolveInRoot } from "./jail.ts";
import { hasTempSegment, normalisedOrUndefined } from "./paths.ts";

/** A strong validator from inode, size and modification time (what nginx and Apache use). */
export function statEtag(st: Stats): string {
  return `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
}

/**
 * Files under `root` (`<data-dir>/files`). The jail is by real path: a symlink may point anywhere
 * inside the root, never outside it; directories are never files. A missing root is an empty
 * source (the directory appears with the first upload).
 */
export function directorySource(root: string): StaticFileSource {
  let realRoot: string | undefined;
  /** The real path and stat of the file at `path`, or undefined when the jail has no such file. */
  const locate = async (path: string): Promise<{ real: string; st: Stats } | undefined> => {
    const rel = normalisedOrUndefined(path);
    if (rel === undefined || hasTempSegment(rel)) return undefined;
    if (realRoot === undefined) {
      try {
        realRoot = await realpath(root);
      } catch {
        return undefined;
      }
    }
    const real = await resolveInRoot(realRoot, rel);
    if (real === undefined) return undefined;
    let st: Stats;
    try {
      st = await stat(real);
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw err;
    }
    return st.isFile() ? { real, st } : undefined;
  };
  return {
    async get(path: string): Promise<BootFile | undefined> {
      const found = await locate(path);
      return found === undefined ? undefined : diskFile(found.real, found.st);
    },
    async exists(path: string): Promise<boolean> {
      return (await locate(path)) !== undefined;
    },
  };
}

function diskFile(real: string, st: Stats): BootFile {
  return {
    size: st.size,
    mtime: st.mtime,
    etag: statEtag(st),
    diskPath: real,
    read: (start, end) => Bun.file(real).slice(start ?? 0, end ?? st.size).stream(),
  };
}

/** An embedded asset: a Blob inside the compiled binary, or a file on disk when run from source. */
export type EmbeddedEntry = Blob | { path: string };

/**
 * Assets shipped with Socle, by the path clients ask for. Blobs (Bun.embeddedFiles) have no
 * inode, so their ETag is a content hash computed once; on-disk entries behave like the directory
 * source but without a jail (the map is built by us, not by a client).
 */
export function embeddedSource(files: ReadonlyMap<string, EmbeddedEntry>): StaticFileSource {
  const etags = new Map<string, string>();
  /** The entry at `path`; an on-disk entry with its stat, a blob as it is. */
  const locate = async (path: string): Promise<{ rel: string; blob: Blob } | { path: string; st: Stats } | undefined> => {
    const rel = normalisedOrUndefined(path);
    const entry = rel === undefined ? undefined : files.get(rel);
    if (rel === undefined || entry === undefined) return undefined;
    if (entry instanceof Blob) return { rel, blob: entry };
    let st: Stats;
    try {
      st = await stat(entry.path);
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw err;
    }
    return st.isFile() ? { path: entry.path, st } : undefined;
  };
  return {
    async get(path: string): Promise<BootFile | undefined> {
      const found = await locate(path);
      if (found === undefined) return undefined;
      if (!("blob" in found)) return diskFile(found.path, found.st);
      const { rel, blob } = found;
      let etag = etags.get(rel);
      if (etag === undefined) {
        etag = `"${Bun.hash(await blob.arrayBuffer()).toString(16)}-${blob.size.toString(16)}"`;
        etags.set(rel, etag);
      }
      return {
        size: blob.size,
        etag,
        read: (start, end) => blob.slice(start ?? 0, end ?? blob.size).stream(),
      };
    },
    // Without get's content hash: asking whether a blob is there reads none of it.
    async exists(path: string): Promise<boolean> {
      return (await locate(path)) !== undefined;
    },
  };
}

export interface EmbeddedAssetOptions {
  /** The embedded files to look through; default Bun.embeddedFiles. */
  embedded?: readonly Blob[];
  /** The source tree's assets/ directory, read when nothing is embedded (running from source). */
  assetsDir?: string;
}

/**
 * The assets under `assets/<subdir>/`, keyed by their path below it ("ipxe" ->
 * "undionly.kpxe", "ipxe.efi"). In the compiled binary they come from Bun.embeddedFiles (the
 * build passes `--asset=assets`, which keeps relative names); from source, from the assets/
 * directory on disk. A missing directory is an empty map: the loaders are fetched by a build
 * script and may not be there in a bare checkout.
 */
export async function embeddedAssetFiles(subdir: string, opts: EmbeddedAssetOptions = {}): Promise<Map<string, EmbeddedEntry>> {
  const prefix = `assets/${subdir.replace(/^\/+|\/+$/g, "")}/`;
  const out = new Map<string, EmbeddedEntry>();
  const embedded = opts.embedded ?? (Bun.embeddedFiles as Blob[]);
  for (const blob of embedded) {
    const name = (blob as Blob & { name?: string }).name ?? "";
    const rel = name.startsWith(prefix) ? normalisedOrUndefined(name.slice(prefix.length)) : undefined;
    if (rel !== undefined) out.set(rel, blob);
  }
  if (out.size > 0 || embedded.length > 0) return out;
  const dir = join(opts.assetsDir ?? join(import.meta.dir, "../../assets"), prefix.slice("assets/".length));
  await walk(dir, "", out);
  return out;
}

async function walk(dir: string, rel: string, out: Map<string, EmbeddedEntry>): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch {
    return;
  }
  for (const name of names) {
    const full = join(dir, name);
    const st = await lstat(full).catch(() => undefined);
    if (st?.isDirectory()) await walk(full, `${rel}${name}/`, out);
    else if (st?.isFile()) out.set(`${rel}${name}`, { path: full });
  }
}

/**
 * Try sources in order; the first that has the file wins. An error (a template that fails to
 * render) stops the chain: a broken rendered file must not fall through to a stale static one.
 * A chain of static sources is static too: it has a file when any of its sources has it.
 */
export function chainSources(...sources: StaticFileSource[]): StaticFileSource;
export function chainSources(...sources: FileSource[]): FileSource;
export function chainSources(...sources: FileSource[]): FileSource | StaticFileSource {
  const chain: FileSource = {
    async get(path: string, facts: FileFacts): Promise<BootFile | undefined> {
      for (const source of sources) {
        const file = await source.get(path, facts);
        if (file !== undefined) return file;
      }
      return undefined;
    },
  };
  if (!sources.every(isStatic)) return chain;
  return {
    get: chain.get,
    async exists(path: string): Promise<boolean> {
      for (const source of sources) if (await source.exists(path)) return true;
      return false;
    },
  };
}

function isStatic(source: FileSource): source is StaticFileSource {
  return typeof (source as Partial<FilePresence>).exists === "function";
}
