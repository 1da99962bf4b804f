// Replace a file whole, the one way assets/ and cli/ do it: `fill` writes a temporary file beside
// the target, which is synced and renamed over it, then the directory is synced. On any failure
// the temporary file is removed, the target is as it was, and the error is thrown unchanged.
// (src/pki/write-atomic.ts does the same for strings, but neither folder may import pki/; this
// one also takes a copied file, an executable or a loader, that is never held as a string.)

import { chmod, open, rename, rm } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";

/** `mode`, when given, is set on the new file whatever `fill` created it with. */
export async function replaceFile(target: string, fill: (tmp: string) => Promise<void>, mode?: number): Promise<void> {
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await fill(tmp);
    if (mode !== undefined) await chmod(tmp, mode);
    await syncPath(tmp);
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  await syncPath(dirname(target));
}

async function syncPath(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
