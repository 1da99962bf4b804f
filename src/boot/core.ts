// THE boot decision, and the files it renders. One question in one place:
//
//   client facts (MAC, arch, user class, address we were reached on)
//     -> machine: the one with this MAC among its HardwareAddrs, else unknown
//     -> BootEnv: the machine's (its BootEnv, else the defaultBootEnv pref);
//                 for unknown machines the unknownBootEnv pref ("discovery", "ignore", any env)
//     -> loader:  by arch and user class (loaders.ts), BootEnv.Loaders overriding per arch
//     -> files:   the env's Templates, each at its rendered Path (path-index.ts), plus the
//                 iPXE entry point default.ipxe and its per-MAC dispatch (ipxe-dispatch.ts),
//                 and GRUB's (arm64) grub/grub.cfg and its per-MAC dispatch (grub-dispatch.ts).
//
// DHCP asks dhcpBoot(); TFTP and HTTP ask get() (FileSource), which renders on request with
// ProvisionerURL built from the address the client reached; nothing is written to disk.
// Every render (files, paths, previews) runs in a render worker under a deadline (RenderPool,
// src/render/render-pool.ts), so a template that never ends costs its own request an error
// after the deadline, and the server's thread (DHCP, TFTP, HTTP, the API) never waits on it.
// A file rendered for a known machine is served only to a request from that machine's addresses
// (file-binding.ts, the bindMachineFiles pref); the render preview (an operator's call) is not bound.
// Secure params are stored sealed (model/secure-params.ts) and opened here, on the server's
// thread, for the render of a file, which goes to its machine only; a preview shows them in clear
// only where its caller holds getSecure, and renders the marker "[secure]" in their place elsewhere;
// paths always get the marker (a path is no secret).
//
// Unknown machines with unknownBootEnv "ignore" still get a loader: the shipped `ignore` env
// (or, without it, a built-in script) sends them back to their local disk, as issue 4 asks.

import type { Logger } from "../log/logger.ts";
import { rateLimited } from "../log/logger.ts";
import type { ModelObject } from "../model/object.ts";
import { SocleError, invalid } from "../model/errors.ts";
import type { ParamReveal } from "../model/params.ts";
import { SECURE_MARKER, isEnvelope, isSecureParamDef, openedValue, type ParamCipher, type ParamOwner } from "../model/secure-params.ts";
import { RenderPool, RenderError, baseUrl, type RenderTarget } from "../render/index.ts";
import type { BootAnswer, Booter, ClientFacts } from "./booter.ts";
import type { BootData, BootDataChange } from "./boot-data.ts";
import type { BootFile, FileFacts, FileSource } from "./file-source.ts";
import { DISPATCH_PATH, dispatchMac, dispatchScript, exitScript, isReservedPath } from "./ipxe-dispatch.ts";
import { GRUB_DISPATCH_PATH, grubDispatchMac, grubDispatchScript, grubExitScript, isGrubReservedPath } from "./grub-dispatch.ts";
import { isNetbootClient, loaderFor } from "./loaders.ts";
import { grubTemplateOf, ipxeTemplateOf, loadersOf, registryName, templatesOf, type EnvTemplate } from "./env-templates.ts";
import { PathIndex, UNKNOWN_OWNER, type IndexEntry } from "./path-index.ts";
import { describeTarget, effectiveEnvName, missingRequired, renderRequest, type ContextInput, type TokenIssuer, type UsedParam } from "./render-context.ts";
import { textFile } from "./text-file.ts";
import { comparableAddress, isFromMachine } from "./file-binding.ts";

export type { TokenIssuer, UsedParam } from "./render-context.ts";

export interface BootCoreOptions {
  data: BootData;
  log: Logger;
  /** Port of the machine-facing HTTP file server (ProvisionerURL). */
  httpPort: number;
  /** Port of the HTTPS API (ApiURL); a function when it is known only once the API listens. */
  apiPort: number | (() => number);
  tokens: TokenIssuer;
  /** The API certificate's public key pin for it.ApiPin (sha256//...); "" or absent when unknown. */
  apiPin?: string;
  /** The PEM of the API certificate's CA for it.CaCert; "" or absent when unknown. */
  caCert?: string;
  /** Deepest include nesting (default 16). */
  maxIncludeDepth?: number;
  /** The longest one render may run, in milliseconds (default 2000). */
  renderDeadlineMs?: number;
  /** Render worker threads (default 2). */
  renderWorkers?: number;
  /** Opens sealed Secure param values for renders; without it a render that needs one fails naming it. */
  cipher?: ParamCipher;
}

export interface BootDecision {
  mac: string;
  machine: ModelObject | undefined;
  /** The env asked for (may not exist). */
  envName: string;
  env: ModelObject | undefined;
}

export interface PreviewRequest {
  machine?: ModelObject;
  /** Default: the machine's env, or for no machine the unknownBootEnv pref. */
  env?: string;
  /** Exactly one of template, contents and path. */
  template?: string;
  contents?: string;
  path?: string;
  /** The address ProvisionerURL and ApiURL are built from. */
  serverAddress: string;
  /** Token issuing for GenerateToken (the API decides what the caller may see). */
  tokens: TokenIssuer;
  /**
   * Whether the caller may see the Secure param values held by `owner` in clear (getSecure); the
   * others render as "[secure]", in the output and in Params. Absent: all in clear.
   */
  reveal?: (owner: ParamOwner) => boolean;
}

export interface PreviewResult {
  Output: string;
  Params: UsedParam[];
}

/** Rendered paths are not client-specific: they render against this address and no tokens. */
const PATH_ADDRESS = "0.0.0.0";

export class BootCore implements Booter, FileSource {
  readonly engine: RenderPool;
  private readonly data: BootData;
  private readonly log: Logger;
  private readonly warn: ReturnType<typeof rateLimited>;
  /** One line per refused source a minute: a scanner must not flood the log. */
  private readonly refusal: ReturnType<typeof rateLimited>;
  private readonly index = new PathIndex();
  private dirtyAll = true;
  private readonly dirty = new Set<string>();
  /** Changes that may move paths, counted; the index reflects those up to indexedSeq. */
  private changeSeq = 1;
  private indexedSeq = 0;
  private reindexing: Promise<void> | undefined;
  /** env -> the registry names of its inline templates. */
  private readonly inline = new Map<string, string[]>();
  private readonly unsubscribe: () => void;

  constructor(private readonly opts: BootCoreOptions) {
    this.data = opts.data;
    this.log = opts.log;
    this.warn = rateLimited(opts.log, 60_000, 3);
    this.refusal = rateLimited(opts.log, 60_000, 1);
    this.engine = new RenderPool({
      maxDepth: opts.maxIncludeDepth ?? 16,
      deadlineMs: opts.renderDeadlineMs,
      workers: opts.renderWorkers,
      onStop: (message, fields) => this.warn(`render-stop:${String(fields.template ?? fields.error)}`, message, fields),
    });
    for (const t of this.data.templates()) this.loadTemplate(String(t.ID), t);
    for (const e of this.data.bootEnvs()) this.loadInline(String(e.Name), e);
    this.unsubscribe = this.data.subscribe((c) => this.onChange(c));
  }

  close(): void {
    this.unsubscribe();
    this.engine.close();
  }

  // ---- the decision --------------------------------------------------------------------------

  decide(mac: string): BootDecision {
    const m = mac.toLowerCase();
    const machine = this.data.machineByMac(m);
    const envName = machine ? effectiveEnvName(this.data, machine) : this.data.prefs().unknownBootEnv;
    return { mac: m, machine, envName, env: envName ? this.data.bootEnv(envName) : undefined };
  }

  dhcpBoot(facts: ClientFacts): BootAnswer | undefined {
    // A plain OS DHCP client gets an address only, no loader (see isNetbootClient).
    if (!isNetbootClient(facts)) return undefined;
    const d = this.decide(facts.mac);
    const ignored = !d.machine && d.envName === "ignore";
    if (!d.env && !ignored) {
      this.warn(`nomenv:${d.mac}`, "no boot answer: boot environment does not exist", { mac: d.mac, machine: nameOf(d.machine), bootenv: d.envName });
      return undefined;
    }
    const server = facts.serverAddress;
    const base = baseUrl("http", server, this.opts.httpPort);
    if (facts.userClass === "iPXE") return { nextServer: server, bootFile: `${base}/${DISPATCH_PATH}`, httpClient: false, ipxe: true };
    const loader = loaderFor(facts.arch, loadersOf(d.env));
    if (!loader) return undefined; // an architecture we have no loader for
    if (loader.http) return { nextServer: server, bootFile: `${base}/${loader.file}`, httpClient: true, ipxe: false };
    return { nextServer: server, bootFile: loader.file, httpClient: false, ipxe: false };
  }

  // ---- files ---------------------------------------------------------------------------------

  async get(path: string, facts: FileFacts): Promise<BootFile | undefined> {
    const at = await this.locate(path); // once per request: the binding check and the render share it
    if (!at || !this.servesTo(at, path, facts)) return undefined;
    const text = await this.renderAt(at, facts.serverAddress, undefined, this.opts.tokens);
    return text === undefined ? undefined : textFile(text, path);
  }

  /** What renders `path`: a dispatcher or per-MAC loader script (no index needed), else its index entry. */
  private async locate(path: string): Promise<Located | undefined> {
    const at = loaderAt(path);
    if (at) return at;
    await this.refresh();
    const entry = this.index.lookup(path);
    return entry && { kind: "entry", entry };
  }

  /** The known machine a located file is rendered for (see machineOf). */
  private machineAt(at: Located | undefined): ModelObject | undefined {
    if (at?.kind === "loader") return this.data.machineByMac(at.mac);
    const uuid = at?.kind === "entry" ? at.entry.machine : undefined;
    return uuid === undefined ? undefined : this.data.machine(uuid);
  }

  /**
   * The known machine the file at `path` is rendered for: the owner of its index entry, or the
   * machine with the MAC of a per-MAC loader script (boot/<mac>.ipxe, grub/boot/<mac>.cfg).
   * Undefined for files of unknown machines, the dispatchers, and paths that are not rendered.
   */
  async machineOf(path: string): Promise<ModelObject | undefined> {
    return this.machineAt(await this.locate(path));
  }

  /**
   * Whether the request may have the file at `path` (file-binding.ts). Decided before anything is
   * rendered, so a refused request issues no token and sees no template error: it gets exactly
   * what a path with no rendered file gets (the next source in the chain, then "not found").
   */
  private servesTo(at: Located, path: string, facts: FileFacts): boolean {
    if (!this.data.prefs().bindMachineFiles) return true;
    const machine = this.machineAt(at);
    if (!machine) return true;
    const addresses = this.data.addressesOf(machine);
    if (isFromMachine(facts.remoteAddress, addresses)) return true;
    this.refusal(`refused:${comparableAddress(facts.remoteAddress)}`, `${facts.protocol.toUpperCase()}: file of a known machine refused to another address (answered as not found)`, {
      path,
      remote: facts.remoteAddress,
      machine: nameOf(machine),
      expected: addresses.length > 0 ? addresses.join(",") : "none (no Address, no active lease)",
      fix: "set the machine's Address if it is not leased by Socle; pref bindMachineFiles=false if machines reach Socle through NAT",
    });
    return false;
  }

  /** The rendered file at `path` for a client that reached us at `serverAddress`. */
  async renderFile(path: string, serverAddress: string, used?: Map<string, UsedParam>, tokens: TokenIssuer = this.opts.tokens, open?: ParamReveal): Promise<string | undefined> {
    const at = await this.locate(path);
    return at && this.renderAt(at, serverAddress, used, tokens, open);
  }

  private async renderAt(at: Located, serverAddress: string, used: Map<string, UsedParam> | undefined, tokens: TokenIssuer, open?: ParamReveal): Promise<string | undefined> {
    switch (at.kind) {
      case "dispatch":
        return at.loader.dispatch(baseUrl("http", serverAddress, this.opts.httpPort));
      case "loader":
        return this.loaderScript(at.loader, at.mac, serverAddress, used, tokens, open);
      case "entry":
        return this.renderEntry(at.entry, serverAddress, used, tokens, open);
    }
  }

  /** Every path served from templates (not default.ipxe and boot/), for listings and tests. */
  async paths(): Promise<Array<{ path: string } & IndexEntry>> {
    await this.refresh();
    return this.index.entries();
  }

  /** The per-MAC script a loader (iPXE or GRUB) chains to: the decision for this MAC, rendered. */
  private async loaderScript(kind: LoaderKind, mac: string, serverAddress: string, used: Map<string, UsedParam> | undefined, tokens: TokenIssuer, open?: ParamReveal): Promise<string> {
    const d = this.decide(mac);
    const fields = { mac, machine: nameOf(d.machine), bootenv: d.envName };
    if (!d.env) {
      if (!d.machine && d.envName === "ignore") {
        this.log.info(`${kind.name}: unknown machine ignored, exit to local boot`, fields);
        return kind.exit(`unknown machine ${mac} is ignored (unknownBootEnv "ignore"); leaving network boot`);
      }
      this.warn(`noenv:${mac}`, `${kind.name}: boot environment does not exist, exit to local boot`, fields);
      return kind.exit(`boot environment "${d.envName}" of ${d.machine ? `machine "${nameOf(d.machine)}"` : "unknown machines"} does not exist; leaving network boot`);
    }
    const tmpl = kind.template(d.env);
    if (!tmpl) {
      this.warn(`no${kind.name}:${d.envName}`, `${kind.name}: boot environment has no ${kind.name} template, exit to local boot`, fields);
      return kind.exit(`boot environment "${d.envName}" has no ${kind.name} template; leaving network boot`);
    }
    this.log.info(`${kind.name}: boot script`, fields);
    return this.renderEnvTemplate(d.machine, d.env, tmpl, serverAddress, used, tokens, open);
  }

  private async renderEntry(entry: IndexEntry, serverAddress: string, used: Map<string, UsedParam> | undefined, tokens: TokenIssuer, open?: ParamReveal): Promise<string | undefined> {
    const machine = entry.machine !== undefined ? this.data.machine(entry.machine) : undefined;
    if (entry.machine !== undefined && !machine) return undefined;
    const env = this.data.bootEnv(entry.env);
    const tmpl = env ? templatesOf(env).find((t) => t.Name === entry.template) : undefined;
    if (!env || !tmpl) return undefined;
    return this.renderEnvTemplate(machine, env, tmpl, serverAddress, used, tokens, open);
  }

  /** One of an env's files for a machine (or none): the env's RequiredParams must all be set. */
  private async renderEnvTemplate(
    machine: ModelObject | undefined,
    env: ModelObject,
    tmpl: EnvTemplate,
    serverAddress: string,
    used: Map<string, UsedParam> | undefined,
    tokens: TokenIssuer,
    open?: ParamReveal,
  ): Promise<string> {
    const missing = missingRequired({ data: this.data, machine, env });
    if (missing.length > 0) throw invalid("bootenvs", String(env.Name), missing);
    return this.renderTarget({ name: registryName(env, tmpl) }, { machine, env, serverAddress, tokens, used, openParam: open });
  }

  private ctxBase() {
    const api = this.opts.apiPort;
    return { data: this.data, httpPort: this.opts.httpPort, apiPort: typeof api === "function" ? api() : api, apiPin: this.opts.apiPin ?? "", caCert: this.opts.caCert ?? "" };
  }

  /** Sealed Secure param values opened: what a file rendered for its machine holds. */
  private readonly openStored: ParamReveal = (value, name, owner) => openedValue(this.opts.cipher, owner, name, value);

  /** For a preview: values the caller may see opened, other secure ones (sealed, or of a Secure Param) the marker. */
  private previewParams(reveal: (owner: ParamOwner) => boolean): ParamReveal {
    return (value, name, owner) => {
      if (reveal(owner)) return this.openStored(value, name, owner);
      return isEnvelope(value) || isSecureParamDef(this.data.param(name)) ? SECURE_MARKER : value;
    };
  }

  /**
   * Paths see the marker, never a secure value: a path is no secret (it is listed in a preview's
   * errors, logged with every refused request, and asked for in clear over TFTP and HTTP).
   */
  private readonly pathParams: ParamReveal = this.previewParams(() => false);

  /** Render in a worker, turning its RenderError into the 422 the API and file servers report. */
  private async renderTarget(target: RenderTarget, c: Pick<ContextInput, "machine" | "env" | "serverAddress" | "tokens" | "used" | "openParam">): Promise<string> {
    const req = renderRequest({ ...this.ctxBase(), ...c, openParam: c.openParam ?? this.openStored, eagerParams: true });
    try {
      const r = await this.engine.render(target, req.input, req.host);
      req.record(r.used);
      return r.output;
    } catch (err) {
      throw toSocleError(err);
    }
  }

  // ---- preview (POST /api/v3/render) ----------------------------------------------------------

  async preview(req: PreviewRequest): Promise<PreviewResult> {
    const given = (["template", "contents", "path"] as const).filter((k) => req[k] !== undefined);
    if (given.length !== 1) {
      throw invalid("render", "", `exactly one of Template, Contents and Path must be given, got ${given.length === 0 ? "none" : given.join(" and ")}`);
    }
    const used = new Map<string, UsedParam>();
    const open = req.reveal ? this.previewParams(req.reveal) : undefined;
    const result = (Output: string) => ({ Output, Params: [...used.values()].sort((a, b) => a.Name.localeCompare(b.Name)) });
    const at = req.path !== undefined ? loaderAt(req.path.replace(/^\/+/, "")) : undefined;
    if (at) return result((await this.renderAt(at, req.serverAddress, used, req.tokens, open))!);
    const machine = req.machine;
    const envName = req.env ?? (machine ? effectiveEnvName(this.data, machine) : this.data.prefs().unknownBootEnv);
    const env = this.data.bootEnv(envName);
    if (!env) throw invalid("render", envName, `BootEnv: bootenv ${JSON.stringify(envName)} does not exist`);
    const c = { machine, env, serverAddress: req.serverAddress, tokens: req.tokens, used, openParam: open };

    if (req.contents !== undefined) return result(await this.renderTarget({ label: "Contents", source: req.contents }, c));
    if (req.template !== undefined) {
      const name = req.template;
      const entry = templatesOf(env).find((t) => t.Name === name);
      if (this.data.template(name) || (!entry && this.engine.has(name))) return result(await this.renderTarget({ name }, c));
      if (entry) return result(await this.renderEnvTemplate(machine, env, entry, req.serverAddress, used, req.tokens, open));
      throw invalid("render", name, `Template: template ${JSON.stringify(name)} not found (neither a Template ID nor a template of bootenv ${JSON.stringify(envName)})`);
    }
    const path = req.path!.replace(/^\/+/, "");
    const paths = (await this.renderPaths([{ machine, env }]))[0]!;
    const hit = paths.get(path);
    if (!hit) {
      const known = [...paths.keys()].sort();
      throw invalid("render", path, `Path: no file ${JSON.stringify(path)} for ${describeTarget(machine, env)} in bootenv ${JSON.stringify(envName)}; its paths: ${known.length ? known.join(", ") : "(none)"}`);
    }
    const tmpl = templatesOf(env).find((t) => t.Name === hit.template)!;
    return result(await this.renderEnvTemplate(machine, env, tmpl, req.serverAddress, used, req.tokens, open));
  }

  // ---- the template registry and the path index ------------------------------------------------

  private loadTemplate(id: string, obj: ModelObject | undefined): void {
    if (!obj) {
      this.engine.delete(id);
      return;
    }
    this.register(id, typeof obj.Contents === "string" ? obj.Contents : "");
  }

  /** Register a template; one that does not compile is registered all the same (an include of it says why) and logged. */
  private register(name: string, source: string): void {
    try {
      this.engine.set(name, source);
    } catch (err) {
      if (!(err instanceof RenderError)) throw err;
      this.log.warn("template does not compile", { template: name, error: err.message });
    }
  }

  private loadInline(envName: string, env: ModelObject | undefined): void {
    for (const name of this.inline.get(envName) ?? []) this.engine.delete(name);
    this.inline.delete(envName);
    if (!env) return;
    const names: string[] = [];
    for (const t of templatesOf(env)) {
      if (t.Contents === undefined) continue;
      const name = `${envName}/${t.Name}`;
      names.push(name);
      this.register(name, t.Contents);
    }
    this.inline.set(envName, names);
  }

  private onChange(c: BootDataChange): void {
    if (c.type !== "templates") this.changeSeq++; // every other change marks paths dirty below
    switch (c.type) {
      case "templates":
        this.loadTemplate(c.key, c.object);
        return;
      case "bootenvs":
        this.loadInline(c.key, c.object);
        // Paths of the machines booting this env, and of unknown machines, may have changed.
        for (const m of this.data.machines()) if (effectiveEnvName(this.data, m) === c.key) this.dirty.add(String(m.Uuid));
        this.dirty.add(UNKNOWN_OWNER);
        return;
      case "machines":
        this.dirty.add(c.key);
        return;
      default:
        // Profiles, params and prefs can change any path (paths may use it.param, the
        // defaultBootEnv and unknownBootEnv prefs choose envs): rebuild on next use.
        this.dirtyAll = true;
    }
  }

  /**
   * Bring the path index up to date with every change seen before this call. Paths render in the
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
      if (owner === UNKNOWN_OWNER) {
        todo.push({ owner, machine: undefined, env: this.data.bootEnv(this.data.prefs().unknownBootEnv) });
        continue;
      }
      const m = this.data.machine(owner);
      if (m) todo.push({ owner, machine: m, env: this.data.bootEnv(effectiveEnvName(this.data, m)) });
      else gone.push(owner);
    }
    let rendered: Array<Map<string, IndexEntry>>;
    try {
      rendered = await this.renderPaths(todo.filter((x): x is (typeof todo)[number] & { env: ModelObject } => x.env !== undefined));
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
   * render pool. Paths that fail are logged.
   */
  private async renderPaths(list: Array<{ machine: ModelObject | undefined; env: ModelObject }>): Promise<Array<Map<string, IndexEntry>>> {
    const outcomes = await this.engine.renderAll(
      list.map(({ machine, env }) => {
        const req = renderRequest({ ...this.ctxBase(), machine, env, serverAddress: PATH_ADDRESS, tokens: undefined, openParam: this.pathParams });
        return { input: req.input, host: req.host, targets: templatesOf(env).map((t) => ({ label: `${String(env.Name)}/${t.Name}/Path`, source: t.Path })) };
      }),
    );
    return list.map(({ machine, env }, i) => {
      const out = new Map<string, IndexEntry>();
      const envName = String(env.Name);
      templatesOf(env).forEach((t, k) => {
        const r = outcomes[i]![k]!;
        if (r instanceof RenderError) {
          // For unknown machines, paths that need a Machine are simply not theirs.
          if (machine) this.warn(`path:${envName}/${t.Name}`, "template path does not render", { bootenv: envName, template: t.Name, machine: nameOf(machine), error: r.message });
          return;
        }
        const raw = r.output;
        const path = normalisePath(raw);
        if (path === undefined) {
          this.warn(`badpath:${envName}/${t.Name}`, "template path is not a usable relative path", { bootenv: envName, template: t.Name, path: raw });
          return;
        }
        if (isReservedPath(path) || isGrubReservedPath(path)) return; // the dispatchers' (ipxe-dispatch.ts, grub-dispatch.ts)
        out.set(path, { machine: machine ? String(machine.Uuid) : undefined, env: envName, template: t.Name });
      });
      return out;
    });
  }
}

/** The two loaders that chain to a per-MAC script: their entry point, how each finds its template and leaves. */
interface LoaderKind {
  name: "iPXE" | "GRUB";
  /** The dispatcher script, for a client that reached us at `provisionerURL`. */
  dispatch: (provisionerURL: string) => string;
  template: (env: ModelObject) => EnvTemplate | undefined;
  exit: (reason: string) => string;
}
const IPXE: LoaderKind = { name: "iPXE", dispatch: dispatchScript, template: ipxeTemplateOf, exit: exitScript };
const GRUB: LoaderKind = { name: "GRUB", dispatch: grubDispatchScript, template: grubTemplateOf, exit: grubExitScript };

/** Where a served file comes from: a loader's dispatcher, its per-MAC script, or the path index. */
type Located = { kind: "dispatch"; loader: LoaderKind } | { kind: "loader"; loader: LoaderKind; mac: string } | { kind: "entry"; entry: IndexEntry };

/** The dispatcher or per-MAC script of a loader at `path` (ipxe-dispatch.ts, grub-dispatch.ts), or undefined. */
function loaderAt(path: string): Located | undefined {
  if (path === DISPATCH_PATH) return { kind: "dispatch", loader: IPXE };
  if (path === GRUB_DISPATCH_PATH) return { kind: "dispatch", loader: GRUB };
  const mac = dispatchMac(path);
  if (mac) return { kind: "loader", loader: IPXE, mac };
  const grubMac = grubDispatchMac(path);
  return grubMac ? { kind: "loader", loader: GRUB, mac: grubMac } : undefined;
}

function nameOf(m: ModelObject | undefined): string {
  return m ? String(m.Name ?? m.Uuid) : "";
}

/** "/a//b" -> "a/b"; undefined for "", "..", NUL or a backslash. */
function normalisePath(raw: string): string | undefined {
  const p = raw.trim().replace(/\/{2,}/g, "/").replace(/^\/+/, "");
  if (p === "" || p.endsWith("/") || /[\0\\]/.test(p) || p.split("/").some((s) => s === ".." || s === ".")) return undefined;
  return p;
}

export function toSocleError(err: unknown): unknown {
  if (err instanceof RenderError) return new SocleError("ValidationError", "templates", err.where?.template ?? "", [err.message]);
  return err;
}
