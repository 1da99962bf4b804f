// Keeps the path index (path-index.ts) in step with the stored objects. Each owner (a machine, or
// "unknown") renders the Paths of the env decide() gives it; a change marks the owners it may move,
// and the next request re-indexes those, rendering in the render workers.
//
// Paths that do not render are logged (for unknown machines, paths that need a Machine are simply
// not theirs); so are paths that are no usable relative path, and two owners of one path.
// The dispatchers' paths (default.ipxe, boot/, grub/grub.cfg, grub/boot/) are never indexed.

import { rateLimited, type Logger } from "../log/logger.ts";
import type { ModelObject } from "../model/object.ts";
import { RenderError } from "../render/index.ts";
import type { BootData, BootDataChange } from "./boot-data.ts";
import type { BootRenderer } from "./boot-renderer.ts";
import { decide, machineLogFields } from "./decide.ts";
import { templatesOf } from "./env-templates.ts";
import { isGrubReservedPath } from "./grub-dispatch.ts";
import { isReservedPath } from "./ipxe-dispatch.ts";
import { PathIndex, UNKNOWN_OWNER, type IndexEntry } from "./path-index.ts";
import { normalisedOrUndefined } from "../files/paths.ts";

export class PathUpkeep {
  private readonly index = new PathIndex();
  private readonly warn: ReturnType<typeof rateLimited>;
  private dirtyAll = true;
  private readonly dirty = new Set<string>();
  /** Changes that may move paths, counted; the index reflects those up to indexedSeq. */
  private changeSeq = 1;
  private indexedSeq = 0;
  private reindexing: Promise<void> | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly data: BootData,
    private readonly renderer: BootRenderer,
    log: Logger,
  ) {
    this.warn = rateLimited(log, 60_000, 3);
    this.unsubscribe = data.subscribe((c) => this.onChange(c));
  }

  close(): void {
    this.unsubscribe();
  }

  /** The entry served at `path`, once every change seen before this call is indexed. */
  async lookup(path: string): Promise<IndexEntry | undefined> {
    await this.refresh();
    return this.index.lookup(path);
  }

  /** Every path served from templates, sorted. */
  async entries(): Promise<Array<{ path: string } & IndexEntry>> {
    await this.refresh();
    return this.index.entries();
  }

  private onChange(c: BootDataChange): void {
    switch (c.type) {
      case "templates":
        return; // a template's contents move no path
      case "bootenvs":
        // Paths of the machines booting this env, and of unknown machines, may have changed.
        for (const m of this.data.machines()) if (decide({ asks: "env", machine: m }, this.data).envName === c.key) this.dirty.add(String(m.Uuid));
        this.dirty.add(UNKNOWN_OWNER);
        break;
      case "machines":
        this.dirty.add(c.key);
        break;
      default:
        // Profiles, params and prefs can change any path (paths may use it.param, the
        // defaultBootEnv and unknownBootEnv prefs choose envs): rebuild on next use.
        this.dirtyAll = true;
    }
    this.changeSeq++;
  }

  /**
   * Bring the index up to date with every change seen before this call. Paths render in the
   * render workers, so this waits; one re-index runs at a time, and a caller waits for at most the
   * one running and the one after it, however fast changes keep coming.
   */
  private async refresh(): Promise<void> {
    const want = this.changeSeq;
    while (this.indexedSeq < want) {
      this.reindexing ??= this.reindex().finally(() => (this.reindexing = undefined));
      await this.reindexing;
    }
  }

  private async reindex(): Promise<void> {
    const seq = this.changeSeq;
    const all = this.dirtyAll;
    const owners = all ? [...this.data.machines()].map((m) => String(m.Uuid)).concat(UNKNOWN_OWNER) : [...this.dirty];
    this.dirtyAll = false;
    this.dirty.clear();
    const todo: Array<{ owner: string; machine: ModelObject | undefined; env: ModelObject | undefined }> = [];
    const gone: string[] = [];
    for (const owner of owners) {
      const machine = owner === UNKNOWN_OWNER ? undefined : this.data.machine(owner);
      if (owner !== UNKNOWN_OWNER && !machine) {
        gone.push(owner);
        continue;
      }
      const plan = decide({ asks: "env", machine }, this.data);
      todo.push({ owner, machine, env: plan.kind === "boot" ? plan.env : undefined });
    }
    let rendered: Array<Map<string, IndexEntry>>;
    try {
      rendered = await this.render(todo.filter((x): x is (typeof todo)[number] & { env: ModelObject } => x.env !== undefined));
    } catch (err) {
      this.dirtyAll = true; // nothing was indexed: the next request tries again
      throw err;
    }
    if (all) this.index.clear();
    for (const owner of gone) this.index.remove(owner);
    let i = 0;
    for (const x of todo) this.own(x.owner, x.env ? rendered[i++]! : new Map());
    this.indexedSeq = Math.max(this.indexedSeq, seq);
  }

  private own(owner: string, entries: Map<string, IndexEntry>): void {
    for (const path of this.index.replace(owner, entries)) {
      this.warn(`conflict:${path}`, "two owners render the same path; the first by Uuid is served", { path, owner });
    }
  }

  /**
   * The rendered paths of each env's templates for its machine (or none), all in one run of the
   * render pool: for the index, and for a preview by Path.
   */
  async render(list: Array<{ machine: ModelObject | undefined; env: ModelObject }>): Promise<Array<Map<string, IndexEntry>>> {
    const outcomes = await this.renderer.engine.renderAll(
      list.map(({ machine, env }) => {
        const req = this.renderer.pathRequest(machine, env);
        return { input: req.input, host: req.host, targets: templatesOf(env).map((t) => ({ label: `${String(env.Name)}/${t.Name}/Path`, source: t.Path })) };
      }),
    );
    return list.map(({ machine, env }, i) => {
      const out = new Map<string, IndexEntry>();
      const envName = String(env.Name);
      templatesOf(env).forEach((t, k) => {
        const r = outcomes[i]![k]!;
        if (r instanceof RenderError) {
          if (machine) this.warn(`path:${envName}/${t.Name}`, "template path does not render", { bootenv: envName, template: t.Name, ...machineLogFields(machine), error: r.message });
          return;
        }
        const raw = r.output;
        // As a request for it is normalised, so that the index key is what a client's path becomes.
        const path = normalisedOrUndefined(raw.trim());
        if (path === undefined) {
          this.warn(`badpath:${envName}/${t.Name}`, "template path is not a usable relative path", { bootenv: envName, template: t.Name, path: raw });
          return;
        }
        if (isReservedPath(path) || isGrubReservedPath(path)) return;
        out.set(path, { machine: machine ? String(machine.Uuid) : undefined, env: envName, template: t.Name });
      });
      return out;
    });
  }
}
