// The jail of a served directory: a path is resolved by real path, following symlinks, and must
// land inside the root. A symlink may point anywhere inside the root, never outside it, whether
// it is the file itself or a directory on the way.

import { realpath } from "node:fs/promises";
import { join, sep } from "node:path";

/** Codes that mean "not there" for a lookup under a root; anything else is a real failure. */
const ABSENT = new Set(["ENOENT", "ENOTDIR", "ELOOP", "ENAMETOOLONG", "EACCES", "EPERM", "EINVAL"]);

/** Is `err` a failure that only says the path is not there (or not reachable)? */
export function isAbsent(err: unknown): boolean {
  return ABSENT.has((err as NodeJS.ErrnoException)?.code ?? "");
}

/**
 * Resolve `rel` (already normalised: paths.ts) under `realRoot` (already a real path) to a real
 * path inside it, following symlinks; undefined when it does not exist or resolves outside.
 */
export async function resolveInRoot(realRoot: string, rel: string): Promise<string | undefined> {
  let real: string;
  try {
    real = await realpath(join(realRoot, rel));
  } catch (err) {
    if (isAbsent(err)) return undefined;
    throw err;
  }
  return isInside(realRoot, real) ? real : undefined;
}

/** Is `path` the root itself or below it? Both must be real, absolute paths. */
export function isInside(realRoot: string, path: string): boolean {
  if (path === realRoot) return true;
  const prefix = realRoot.endsWith(sep) ? realRoot : realRoot + sep;
  return path.startsWith(prefix);
}
