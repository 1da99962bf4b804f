// Whether a BootEnv's kernel and initrds are on the boot file server. An operator uploads or
// deletes them at any time (PUT /api/v3/files/...), and shipped BootEnvs are read-only, so this is
// a status computed when a BootEnv is read, never stored: the stored Errors hold what a write
// found (dangling references), and each read adds one error per missing file.
//
// Only the static part of the boot file chain counts (<data-dir>/files and the embedded assets),
// never the rendered files: a kernel is not rendered per machine. Paths go through the boot file
// server's own normaliser, so a path it would refuse (".." and the like) is reported invalid and
// never looked up; the directory source's real-path jail keeps symlinks inside the root.

import type { FilePresence } from "../files/file-source.ts";
import { normalisedOrUndefined } from "../files/paths.ts";
import type { ModelObject } from "../model/object.ts";
import { quote } from "../model/validate.ts";
import type { ReadView } from "./objects.ts";

/** Types whose objects carry a read-time file status. */
const CHECKED_TYPES = new Set(["bootenvs"]);

/**
 * The view for one request on objects of type `prefix`, or undefined when the type has no
 * read-time status or no boot file server is known (API-only setups: behaviour as before). Each
 * path is looked up at most once per view, so a view is made per request and then dropped: a
 * later request sees a file uploaded in between.
 */
export function bootFileStatusView(prefix: string, files: FilePresence | undefined): ReadView | undefined {
  if (files === undefined || !CHECKED_TYPES.has(prefix)) return undefined;
  const lookups = new Map<string, Promise<boolean>>();
  const exists = (path: string) => {
    let p = lookups.get(path);
    if (p === undefined) lookups.set(path, (p = files.exists(path)));
    return p;
  };
  return {
    fields: ["Available", "Errors"],
    apply: (objs) =>
      Promise.all(
        objs.map(async (obj) => {
          const missing = await missingBootFiles(obj, exists);
          if (missing.length === 0) return obj;
          const errors = [...(Array.isArray(obj.Errors) ? (obj.Errors as string[]) : []), ...missing];
          return { ...obj, Available: false, Errors: errors };
        }),
      ),
  };
}

/** One error per Kernel or Initrds path that is invalid, absent, or could not be looked up. */
export async function missingBootFiles(env: ModelObject, exists: (path: string) => Promise<boolean>): Promise<string[]> {
  const paths: Array<[string, unknown]> = [["Kernel", env.Kernel]];
  if (Array.isArray(env.Initrds)) env.Initrds.forEach((p, i) => paths.push([`Initrds[${i}]`, p]));
  const problems = await Promise.all(paths.map(([field, path]) => problemOf(field, path, exists)));
  return problems.filter((p): p is string => p !== undefined);
}

async function problemOf(field: string, path: unknown, exists: (path: string) => Promise<boolean>): Promise<string | undefined> {
  // No kernel (local, ignore, ESXi's own loader): nothing to check.
  if (typeof path !== "string" || path === "") return undefined;
  // A path written as a template names a different file per machine: it cannot be checked without
  // one, so it is left to the render preview and to the boot itself.
  if (path.includes("<%")) return undefined;
  const rel = normalisedOrUndefined(path);
  if (rel === undefined) return `${field}: invalid boot file path ${quote(path)}: empty, "..", NUL or a drive letter`;
  let found: boolean;
  try {
    found = await exists(rel);
  } catch (err) {
    return `${field}: cannot look up ${quote(path)} on the boot file server: ${(err as Error).message}`;
  }
  if (found) return undefined;
  return `${field}: ${quote(path)} is not on the boot file server (upload it: socle files upload FILE ${shellWord(rel)})`;
}

/** A path as one shell word: quoted only when it needs to be. */
function shellWord(s: string): string {
  return /^[\w./+@:-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
