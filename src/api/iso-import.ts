// What an ISO upload does for the boot environments that name it in OS.IsoFile: each gets its
// install tree, <data-dir>/files/<OS.Name>/install, exploded from the image in-process
// (src/files/explode.ts: no bsdtar, no loop mount), and is Available as soon as its kernel and
// initrds are there. A boot environment whose OS.IsoSha256 is set gets its tree only from an image
// of that SHA-256. An image the reader refuses (hostile or malformed) explodes nowhere, and any
// tree it would have replaced stays as it was. Several environments with one OS.Name share one
// tree, exploded once.
//
// A boot environment created, or changed to name another ISO (OS.Name, OS.IsoFile, OS.IsoSha256),
// after its ISO was uploaded gets its tree the same way, in the background (watchBootEnvIsos):
// the outcome is in the log, and Available says when the tree is there.

import { lstat, mkdir, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import type { ModelObject } from "../model/object.ts";
import { fieldString } from "../model/object.ts";
import type { Logger } from "../log/logger.ts";
import { isInside } from "../files/jail.ts";
import { hasTempSegment, normalisedOrUndefined } from "../files/paths.ts";
import { IsoError } from "../iso/reader.ts";
import { fileByteSource, sourceSha256 } from "../files/byte-source.ts";
import { explodeIso, type ExplodeProgress } from "../files/explode.ts";
import type { Notice } from "./events.ts";
import type { Store } from "../store/store.ts";

/** One boot environment's part of an ISO upload. */
export interface ExplodeOutcome {
  BootEnv: string;
  /** The install tree, relative to <data-dir>/files. */
  Path: string;
  Files?: number;
  Bytes?: number;
  /** Why it got no tree (the rest of the answer still holds). */
  Error?: string;
}

export interface IsoImportDeps {
  bootenvs: () => ModelObject[];
  /** <data-dir>/files. */
  filesRoot: string;
  log: Logger;
  /** Progress of each environment's explode (EventHub.notify: "isos" "progress" events). */
  notify?: (n: Notice) => void;
  /**
   * Whether the caller may write the install tree files/<rel>: an API caller's own rights on
   * `files`, so storing an ISO is no way around them. Absent: yes (the server's own background
   * explode of a bootenv's ISO).
   */
  mayWrite?: (rel: string) => string | undefined;
}

/** The notice of an explode's progress: State exploding (Files and Bytes so far), done or refused. */
function progressNotice(iso: string, o: ExplodeOutcome, state: "exploding" | "done" | "refused", p?: ExplodeProgress): Notice {
  return {
    Type: "isos",
    Action: "progress",
    Key: iso,
    Object: {
      Iso: iso,
      BootEnv: o.BootEnv,
      Path: o.Path,
      State: state,
      ...(p ? { Files: p.files, Bytes: p.bytes, TotalFiles: p.totalFiles, TotalBytes: p.totalBytes } : {}),
      ...(o.Error ? { Error: o.Error } : {}),
    },
  };
}

/** What the API routes that store ISOs (upload, fetch-iso) give explodeForBootEnvs. */
export function isoImportDeps(
  deps: { store: Store; dataDir?: string; log: Logger; events: { notify(n: Notice): void } },
  mayWrite: (rel: string) => string | undefined,
): IsoImportDeps {
  return { bootenvs: () => deps.store.list("bootenvs"), filesRoot: join(deps.dataDir!, "files"), log: deps.log, notify: (n) => deps.events.notify(n), mayWrite };
}

/**
 * Explode the stored ISO `name` (at `isoPath`) for every env naming it. The file is opened once:
 * an env's OS.IsoSha256 is checked against the SHA-256 of the very bytes that are exploded, read
 * through the same handle, so an upload that replaces the file meanwhile cannot slip other
 * bytes past the pin (it explodes them itself, checked in its turn).
 */
export async function explodeForBootEnvs(deps: IsoImportDeps, name: string, isoPath: string): Promise<ExplodeOutcome[]> {
  const envs = deps.bootenvs().filter((b) => fieldString((b.OS as ModelObject | undefined)?.IsoFile) === name);
  if (envs.length === 0) return [];
  const out: ExplodeOutcome[] = [];
  const done = new Map<string, ExplodeOutcome>();
  const src = await fileByteSource(isoPath);
  let digest: Promise<string> | undefined;
  try {
    for (const env of envs) {
      const os = (env.OS ?? {}) as ModelObject;
      const envName = fieldString(env.Name);
      const rel = normalisedOrUndefined(`${fieldString(os.Name)}/install`);
      const outcome: ExplodeOutcome = { BootEnv: envName, Path: rel ?? "" };
      out.push(outcome);
      if (rel === undefined || fieldString(os.Name) === "" || hasTempSegment(rel)) {
        outcome.Error = `bootenv ${JSON.stringify(envName)}: OS.Name ${JSON.stringify(fieldString(os.Name))} cannot name an install tree under files/`;
        continue;
      }
      const forbidden = deps.mayWrite?.(rel);
      if (forbidden !== undefined) {
        outcome.Error = `${forbidden}: not exploded`;
        continue;
      }
      const want = fieldString(os.IsoSha256).toLowerCase();
      const sha256 = want === "" ? "" : await (digest ??= sourceSha256(src));
      if (want !== "" && want !== sha256) {
        outcome.Error = `${name} has SHA-256 ${sha256}; bootenv ${JSON.stringify(envName)} wants ${want} (OS.IsoSha256): not exploded`;
        continue;
      }
      const earlier = done.get(rel);
      if (earlier) {
        Object.assign(outcome, { ...earlier, BootEnv: envName });
        continue;
      }
      try {
        const target = await targetIn(deps.filesRoot, rel);
        let last: ExplodeProgress | undefined;
        const r = await explodeIso(src, target, {
          onProgress: (p) => {
            last = p;
            deps.notify?.(progressNotice(name, outcome, "exploding", p));
          },
        });
        Object.assign(outcome, { Files: r.files, Bytes: r.bytes });
        deps.notify?.(progressNotice(name, outcome, "done", last));
        deps.log.info("ISO exploded", { iso: name, bootenv: envName, path: rel, files: r.files, bytes: r.bytes });
      } catch (err) {
        // The ISO is stored whatever happens here: each environment gets its own outcome.
        const refused = err instanceof IsoError || err instanceof TargetError;
        const why = err instanceof Error ? err.message : String(err);
        outcome.Error = refused ? `${name} refused: ${why}` : `${name} not exploded: ${why}`;
        deps.notify?.(progressNotice(name, outcome, "refused"));
        if (refused) deps.log.warn("ISO not exploded", { iso: name, bootenv: envName, error: why });
        else deps.log.error("ISO not exploded", { iso: name, bootenv: envName, error: why });
      }
      done.set(rel, outcome);
    }
  } finally {
    await src.close();
  }
  return out;
}

class TargetError extends Error {}

/** The absolute install tree for `rel` under `root`: its parent made, every existing part inside root by real path. */
async function targetIn(root: string, rel: string): Promise<string> {
  await mkdir(root, { recursive: true, mode: 0o755 });
  const realRoot = await realpath(root);
  const parts = rel.split("/");
  let dir = realRoot;
  for (const seg of parts.slice(0, -1)) {
    const next = join(dir, seg);
    const st = await lstat(next).catch(() => undefined);
    if (!st) {
      await mkdir(next, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "EEXIST") throw err; // made meanwhile by another explode
      });
    }
    const real = await realpath(next);
    if (!isInside(realRoot, real) || !(await lstat(real)).isDirectory()) throw new TargetError(`files/${rel}: its directory leads outside files/ or is not a directory`);
    dir = real;
  }
  const target = join(dir, parts.at(-1)!);
  const st = await lstat(target).catch(() => undefined);
  if (st && (st.isSymbolicLink() || !st.isDirectory())) throw new TargetError(`files/${rel} exists and is not a directory`);
  return target;
}

export interface IsoWatchDeps extends Omit<IsoImportDeps, "bootenvs"> {
  store: Store;
  /** <data-dir>/isos. */
  isosRoot: string;
}

/**
 * Explode a boot environment's ISO when the environment comes to name one that is uploaded
 * already. Returns `stop` (no new explodes start; `idle` settles when the running ones have).
 */
export function watchBootEnvIsos(deps: IsoWatchDeps): { stop: () => void; idle: () => Promise<void> } {
  const signature = (b: ModelObject | undefined) => {
    const os = (b?.OS ?? {}) as ModelObject;
    return fieldString(os.IsoFile) === "" ? "" : [os.Name, os.IsoFile, os.IsoSha256].map(fieldString).join("\0");
  };
  const known = new Map(deps.store.list("bootenvs").map((b) => [fieldString(b.Name), signature(b)]));
  let chain = Promise.resolve();
  const unsubscribe = deps.store.subscribe((c) => {
    if (c.Type !== "bootenvs") return;
    const sig = c.Action === "delete" ? "" : signature(c.Object);
    const before = known.get(c.Key) ?? "";
    known.set(c.Key, sig);
    if (sig === "" || sig === before) return;
    const name = fieldString((c.Object.OS as ModelObject).IsoFile);
    const isoPath = join(deps.isosRoot, name);
    // One explode at a time: an ISO is read once per environment, never twice at once.
    chain = chain
      .then(async () => {
        const st = await stat(isoPath).catch(() => undefined);
        if (!st?.isFile()) return; // not uploaded yet: the upload will explode it
        const env = deps.store.get("bootenvs", c.Key);
        if (!env || signature(env) !== sig) return; // changed again meanwhile
        const [outcome] = await explodeForBootEnvs({ ...deps, bootenvs: () => [env] }, name, isoPath);
        if (outcome?.Error) deps.log.warn("bootenv's ISO not exploded", { bootenv: c.Key, iso: name, error: outcome.Error });
      })
      .catch((err) => deps.log.error("exploding a bootenv's ISO failed", { bootenv: c.Key, iso: name, error: String(err) }));
  });
  return { stop: unsubscribe, idle: () => chain };
}
