// POST /api/v3/bootenvs/<name>/fetch-iso: the server fetches the boot environment's OS.IsoUrl to
// <data-dir>/isos/<OS.IsoFile> (resumable: an interrupted fetch goes on where it stopped, and a
// file that changed meanwhile starts over; src/files/fetch.ts), checks OS.IsoSha256 when set, and
// explodes it for every boot environment naming it, as an upload would (iso-import.ts). An ISO
// that is there already, with the SHA-256 asked for, is not fetched again. Progress comes on the
// event stream ("isos" "progress": State fetching, then exploding, done). It needs the claims to
// update the boot environment and to create the ISO.

import type { Hono } from "hono";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, claimRefusal, requireClaim, visibleObject } from "./access.ts";
import { json } from "./http-util.ts";
import { SocleError, invalid } from "../model/errors.ts";
import { fieldString, type ModelObject } from "../model/object.ts";
import { normalisedOrUndefined } from "../files/paths.ts";
import { FetchError, fetchToFile, sha256Of } from "../files/fetch.ts";
import { explodeForBootEnvs, isoImportDeps } from "./iso-import.ts";

export function isoFetchRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  if (deps.dataDir === undefined) return;
  const isosRoot = join(deps.dataDir, "isos");
  /** One fetch per ISO at a time: a second ask waits for the first and finds the file there. */
  const running = new Map<string, Promise<unknown>>();

  app.post("/api/v3/bootenvs/:key/fetch-iso", async (c) => {
    const env = visibleObject(c, deps.objects, "bootenvs", c.req.param("key"));
    const name = fieldString(env.Name);
    requireClaim(c, "bootenvs", "update", name);
    const os = (env.OS ?? {}) as ModelObject;
    const url = fieldString(os.IsoUrl);
    const file = fieldString(os.IsoFile);
    const problems: string[] = [];
    if (url === "") problems.push("OS.IsoUrl is empty: nothing to fetch");
    if (file === "" || normalisedOrUndefined(file) !== file || file.includes("/")) problems.push(`OS.IsoFile ${JSON.stringify(file)} is not a file name for isos/`);
    if (problems.length > 0) throw invalid("bootenvs", name, problems);
    requireClaim(c, "isos", "create", file);
    const want = fieldString(os.IsoSha256).toLowerCase();
    const target = join(isosRoot, file);
    const notify = (o: Record<string, unknown>) => deps.events.notify({ Type: "isos", Action: "progress", Key: file, Object: { Iso: file, BootEnv: name, ...o } });

    while (running.has(file)) await running.get(file)!.catch(() => {});
    let done!: () => void;
    running.set(file, new Promise<void>((r) => (done = r)));
    try {
      let fetched = false;
      let resumedFrom = 0;
      let sha = "";
      let size = 0;
      const there = await stat(target).catch(() => undefined);
      if (there?.isFile()) {
        sha = await sha256Of(target);
        size = there.size;
      }
      if (!there?.isFile() || (want !== "" && sha !== want)) {
        try {
          const r = await fetchToFile(url, target, {
            ...(want ? { sha256: want } : {}),
            onProgress: (p) => notify({ State: "fetching", Bytes: p.bytes, TotalBytes: p.total, ResumedFrom: p.resumedFrom }),
          });
          ({ sha256: sha, size, resumedFrom } = r);
          fetched = true;
        } catch (err) {
          if (!(err instanceof FetchError)) throw err;
          notify({ State: "refused", Error: err.message });
          throw new SocleError("Unavailable", "bootenvs", name, `fetching OS.IsoUrl: ${err.message} (what arrived is kept: asking again resumes)`);
        }
      }
      const exploded = await explodeForBootEnvs(isoImportDeps(deps, (rel) => claimRefusal(c, "files", "create", rel)), file, target);
      return json({ Iso: file, Size: size, Sha256: sha, Fetched: fetched, ResumedFrom: resumedFrom, Exploded: exploded });
    } finally {
      running.delete(file);
      done();
    }
  });
}
