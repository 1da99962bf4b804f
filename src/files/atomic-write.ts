// Replacing a file whole, the one way Socle does it: the new content goes to a temporary file
// beside the target (same directory, so the rename stays on one filesystem), is fsync'd, renamed
// over the target, and the directory is fsync'd so the rename survives power loss. A crash leaves
// the old file or the new one, never a torn one. On any failure the temporary file is removed,
// the target is as it was, and the error is thrown unchanged. The temporary name follows paths.ts,
// so a file being written under a served directory is never served or listed.

import { chmod, open, rename, rm, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { tempName, type TempKind } from "./paths.ts";

/**
 * Replace `target` with what `fill` writes to the temporary path it is given (a copy, a stream, a
 * string). `mode`, when given, is set on the new file whatever `fill` created it with; `kind`
 * names the temporary file (an API upload is "upload").
 */
export async function replaceFile(target: string, fill: (tmp: string) => Promise<void>, mode?: number, kind: TempKind = "write"): Promise<void> {
  const dir = dirname(target);
  const tmp = join(dir, tempName(kind));
  try {
    await fill(tmp);
    if (mode !== undefined) await chmod(tmp, mode); // a mode given to open() is filtered by the umask
    await syncPath(tmp);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  await syncDir(dir);
}

/**
 * Replace `path` with `data`. The mode is set when the temporary file is created, so a key is
 * never readable by others, not even briefly.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  await replaceFile(
    path,
    async (tmp) => {
      const fh = await open(tmp, "wx", mode);
      try {
        await fh.writeFile(data);
      } finally {
        await fh.close();
      }
    },
    mode,
  );
}

/** Write all of `data` at byte `position` of the file, or, without one, at the handle's position (append handles: at the end). */
export async function writeAll(fh: FileHandle, data: Uint8Array, position?: number): Promise<void> {
  let off = 0;
  // Bounded: every pass writes at least one byte or throws.
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, position === undefined ? null : position + off);
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten} with ${data.length - off} bytes left`);
    off += bytesWritten;
  }
}

/** fsync a directory, so that files created, renamed or removed in it survive power loss. */
export async function syncDir(dir: string): Promise<void> {
  await syncPath(dir);
}

async function syncPath(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
