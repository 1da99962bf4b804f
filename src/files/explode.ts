// An ISO image exploded into a directory tree (a boot environment's install tree): every
// directory, file and symlink of the image, read by src/iso and written under a temporary
// directory beside the target, which replaces the target only once everything is written. A
// refused image (IsoError), a write error or an abort leaves the target as it was and removes
// the temporary directory: nothing half-written is ever served. The temporary name is an
// explode's (paths.ts tempName), which the file servers never serve. Every file is fsync'd and
// every directory of the new tree, then the parent after the swap: once an explode returns, a
// power loss leaves the new tree whole, not one with files the kernel had not yet written.

import { mkdir, open, rename, rm, symlink, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { IsoError, fileChunks, readIso, type ByteSource, type ReadLimits } from "../iso/reader.ts";
import { syncDir, writeAll } from "./atomic-write.ts";
import { tempName } from "./paths.ts";

export interface ExplodeProgress {
  files: number;
  bytes: number;
  totalFiles: number;
  totalBytes: number;
}

export interface ExplodeResult {
  label: string;
  dirs: number;
  files: number;
  links: number;
  bytes: number;
}

export interface ExplodeOptions {
  /** Called as files are written (at most every `progressEvery` bytes, and at the end). */
  onProgress?: (p: ExplodeProgress) => void;
  progressEvery?: number;
  signal?: AbortSignal;
  limits?: ReadLimits;
}

/** One explode per target at a time (uploads, fetches and the watcher may all aim at one tree). */
const busy = new Map<string, Promise<unknown>>();

/** Explode the image `src` into `target` (created or replaced whole). */
export async function explodeIso(src: ByteSource, target: string, opts: ExplodeOptions = {}): Promise<ExplodeResult> {
  while (busy.has(target)) await busy.get(target)!.catch(() => {});
  const run = explodeOnce(src, target, opts);
  busy.set(target, run);
  try {
    return await run;
  } finally {
    if (busy.get(target) === run) busy.delete(target);
  }
}

/** Files may share extents (hard links), but not so many that a small image fills the disk. */
const MAX_EXPANSION = 4;

async function explodeOnce(src: ByteSource, target: string, opts: ExplodeOptions): Promise<ExplodeResult> {
  const image = await readIso(src, opts.limits);
  const files = image.entries.filter((e) => e.kind === "file");
  const totals = { totalFiles: files.length, totalBytes: files.reduce((n, e) => n + e.size, 0) };
  if (totals.totalBytes > MAX_EXPANSION * src.size + 64 * 1024 * 1024) {
    throw new IsoError(`its files would take ${totals.totalBytes} bytes from an image of ${src.size} (files sharing data many times over)`);
  }
  const parent = dirname(target);
  await mkdir(parent, { recursive: true, mode: 0o755 });
  const tmp = join(parent, tempName("explode"));
  await mkdir(tmp, { mode: 0o755 });
  const done = { files: 0, bytes: 0 };
  let reported = 0;
  const every = opts.progressEvery ?? 8 * 1024 * 1024;
  const report = (force = false) => {
    if (!opts.onProgress || (!force && done.bytes - reported < every)) return;
    reported = done.bytes;
    opts.onProgress({ ...done, ...totals });
  };
  const result: ExplodeResult = { label: image.label, dirs: 0, files: 0, links: 0, bytes: 0 };
  const dirs = [tmp];
  try {
    for (const e of image.entries) {
      opts.signal?.throwIfAborted();
      // The reader refused "", ".", ".." and "/" in names: every path stays inside tmp.
      const at = join(tmp, e.path);
      if (e.kind === "dir") {
        await mkdir(at, { mode: 0o755 });
        dirs.push(at);
        result.dirs++;
      } else if (e.kind === "symlink") {
        await symlink(e.target!, at);
        result.links++;
      } else {
        const fh: FileHandle = await open(at, "wx", 0o644);
        try {
          // Runs of zeros are left as holes (a disk image in an ISO is mostly zeros): the file
          // reads the same and costs only its data.
          let pos = 0;
          for await (const chunk of fileChunks(src, e)) {
            opts.signal?.throwIfAborted();
            if (!allZero(chunk)) await writeAll(fh, chunk, pos);
            pos += chunk.length;
            done.bytes += chunk.length;
            report();
          }
          await fh.truncate(pos);
          await fh.datasync();
        } finally {
          await fh.close();
        }
        done.files++;
        result.files++;
      }
    }
    result.bytes = done.bytes;
    report(true);
    // Every file's data is on disk (datasync above); the directories' entries too before the swap.
    for (const d of dirs.reverse()) await syncDir(d);
    // The swap: the old tree aside, the new one in place, the old one gone.
    const old = `${tmp}.old`;
    const hadOld = await rename(target, old).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return false;
        throw err;
      },
    );
    try {
      await rename(tmp, target);
    } catch (err) {
      if (hadOld) await rename(old, target).catch(() => {});
      throw err;
    }
    await syncDir(parent);
    if (hadOld) await rm(old, { recursive: true, force: true });
    return result;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

const ZEROS = new Uint8Array(1024 * 1024);

/** Whether every byte of `chunk` is zero (compared natively against a zero buffer). */
function allZero(chunk: Uint8Array): boolean {
  for (let off = 0; off < chunk.length; off += ZEROS.length) {
    const part = chunk.subarray(off, Math.min(chunk.length, off + ZEROS.length));
    if (Buffer.compare(part, ZEROS.subarray(0, part.length)) !== 0) return false;
  }
  return true;
}
