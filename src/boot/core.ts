// What machines and operators get from the boot decision (decide.ts), delivered:
//
//   DHCP asks dhcpBoot(): the loader decide() chose, addressed as a TFTP path or an HTTP URL.
//   TFTP and HTTP ask get() (FileSource): a loader's dispatcher (default.ipxe, grub/grub.cfg), the
//     per-MAC script it chains to (the decision for that MAC, rendered), or an env's file at its
//     rendered Path (path-upkeep.ts). Rendered on request for the address the client reached;
//     nothing is written to disk.
//   The API asks preview() (POST /api/v3/render): any template, Contents or Path, rendered for a
//     machine (or none) and any env, with where each parameter came from.
//
// Renders run in render workers under a deadline (boot-renderer.ts), so a template that never
// ends costs its own request an error and never holds up the server's thread. A file rendered
// for a known machine goes only to that machine's addresses (file-binding.ts, the
// bindMachineFiles pref); a preview (an operator's call) is not bound. The template registry
// follows the store on its own (template-sync.ts).

import type { Logger } from "../log/logger.ts";
import { rateLimited } from "../log/logger.ts";
import type { ModelObject } from "../model/object.ts";
import { invalid } from "../model/errors.ts";
import type { ParamReveal } from "../model/params.ts";
import type { ParamCipher, ParamOwner } from "../model/secure-params.ts";
import { RenderPool, baseUrl, type AgentFacts } from "../render/index.ts";
import type { BootAnswer, Booter, ClientFacts } from "./booter.ts";
import type { BootData } from "./boot-data.ts";
import { BootRenderer, type RenderCall, type RenderStats } from "./boot-renderer.ts";
import { decide, machineLogFields, type BootPlan } from "./decide.ts";
import type { BootFile, FileFacts, FileSource } from "../files/file-source.ts";
import { DISPATCH_PATH, dispatchMac, dispatchScript, exitScript } from "./ipxe-dispatch.ts";
import { GRUB_DISPATCH_PATH, grubDispatchMac, grubDispatchScript, grubExitScript } from "./grub-dispatch.ts";
import { templatesOf } from "./env-templates.ts";
import type { IndexEntry } from "./path-index.ts";
import { PathUpkeep } from "./path-upkeep.ts";
import { describeTarget, type TokenIssuer, type UsedParam } from "./render-context.ts";
import { syncTemplates } from "./template-sync.ts";
import { textFile } from "../files/text-file.ts";
import { normaliseRequestPath } from "../files/paths.ts";
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
  /** The agent files installers fetch, for it.Agent (src/assets/agent-files.ts agentFacts). */
  agent?: AgentFacts;
  /** Deepest include nesting (default 16). */
  maxIncludeDepth?: number;
  /** The longest one render may run, in milliseconds (default 2000). */
  renderDeadlineMs?: number;
  /** Render worker threads (default 2). */
  renderWorkers?: number;
  /** Opens sealed Secure param values for renders; without it a render that needs one fails naming it. */
  cipher?: ParamCipher;
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

export class BootCore implements Booter, FileSource {
  readonly engine: RenderPool;
  private readonly data: BootData;
  private readonly log: Logger;
  private readonly warn: ReturnType<typeof rateLimited>;
  /** One line per refused source a minute: a scanner must not flood the log. */
  private readonly refusal: ReturnType<typeof rateLimited>;
  private readonly renderer: BootRenderer;
  private readonly index: PathUpkeep;
  private readonly stopSync: () => void;

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
    this.renderer = new BootRenderer(this.engine, opts);
    this.stopSync = syncTemplates(this.engine, this.data, opts.log);
    this.index = new PathUpkeep(this.data, this.renderer, opts.log);
  }

  close(): void {
    this.stopSync();
    this.index.close();
    this.engine.close();
  }

  /** Renders of boot files and previews so far (the metrics read it). */
  renderStats(): RenderStats {
    return this.renderer.stats();
  }

  // ---- DHCP ----------------------------------------------------------------------------------

  dhcpBoot(facts: ClientFacts): BootAnswer | undefined {
    const plan = decide({ asks: "loader", ...facts }, this.data);
    const loader = plan.kind === "ignore" ? undefined : plan.loader;
    if (!loader) {
      if (plan.kind === "ignore" && plan.reason === "no-env") {
        this.warn(`nomenv:${plan.mac}`, "no boot answer: boot environment does not exist", { mac: plan.mac, ...machineLogFields(plan.machine), bootenv: plan.envName });
      }
      return undefined;
    }
    const server = facts.serverAddress;
    const bootFile = loader.fetch === "tftp" ? loader.file : `${baseUrl("http", server, this.opts.httpPort)}/${loader.file}`;
    return { nextServer: server, bootFile, httpClient: loader.fetch === "http", ipxe: loader.fetch === "ipxe" };
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
    const entry = await this.index.lookup(path);
    return entry && { kind: "entry", entry };
  }

  /** The known machine a located file is rendered for (see machineOf). */
  private machineAt(at: Located | undefined): ModelObject | undefined {
    if (at?.kind === "loader") return this.scriptPlan(at).machine;
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
      ...machineLogFields(machine),
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
        return this.loaderScript(at, serverAddress, used, tokens, open);
      case "entry":
        return this.renderEntry(at.entry, serverAddress, used, tokens, open);
    }
  }

  /** Every path served from templates (not default.ipxe and boot/), for listings and tests. */
  async paths(): Promise<Array<{ path: string } & IndexEntry>> {
    return this.index.entries();
  }

  private scriptPlan(at: Extract<Located, { kind: "loader" }>): BootPlan {
    return decide({ asks: "script", mac: at.mac, loader: at.loader.name }, this.data);
  }

  /** The per-MAC script a loader (iPXE or GRUB) chains to: the decision for this MAC, rendered. */
  private async loaderScript(at: Extract<Located, { kind: "loader" }>, serverAddress: string, used: Map<string, UsedParam> | undefined, tokens: TokenIssuer, open?: ParamReveal): Promise<string> {
    const kind = at.loader;
    const plan = this.scriptPlan(at);
    const fields = { mac: plan.mac, ...machineLogFields(plan.machine), bootenv: plan.envName };
    if (plan.kind !== "boot") {
      if (plan.reason === "ignored") this.log.info(`${kind.name}: unknown machine ignored, exit to local boot`, fields);
      else if (plan.reason === "no-script") this.warn(`no${kind.name}:${plan.envName}`, `${kind.name}: boot environment has no ${kind.name} template, exit to local boot`, fields);
      else this.warn(`noenv:${plan.mac}`, `${kind.name}: boot environment does not exist, exit to local boot`, fields);
      return kind.exit(`${plan.why}; leaving network boot`);
    }
    this.log.info(`${kind.name}: boot script`, fields);
    // decide() gives every "boot" plan for a script its script.
    return this.renderer.envFile(plan.script!, { machine: plan.machine, env: plan.env, serverAddress, tokens, used, openParam: open });
  }

  private async renderEntry(entry: IndexEntry, serverAddress: string, used: Map<string, UsedParam> | undefined, tokens: TokenIssuer, open?: ParamReveal): Promise<string | undefined> {
    const machine = entry.machine !== undefined ? this.data.machine(entry.machine) : undefined;
    if (entry.machine !== undefined && !machine) return undefined;
    const env = this.data.bootEnv(entry.env);
    const tmpl = env ? templatesOf(env).find((t) => t.Name === entry.template) : undefined;
    if (!env || !tmpl) return undefined;
    return this.renderer.envFile(tmpl, { machine, env, serverAddress, tokens, used, openParam: open });
  }

  // ---- preview (POST /api/v3/render) ----------------------------------------------------------

  async preview(req: PreviewRequest): Promise<PreviewResult> {
    const given = (["template", "contents", "path"] as const).filter((k) => req[k] !== undefined);
    if (given.length !== 1) {
      throw invalid("render", "", `exactly one of Template, Contents and Path must be given, got ${given.length === 0 ? "none" : given.join(" and ")}`);
    }
    const used = new Map<string, UsedParam>();
    const open = req.reveal ? this.renderer.previewParams(req.reveal) : undefined;
    const result = (Output: string) => ({ Output, Params: [...used.values()].sort((a, b) => a.Name.localeCompare(b.Name)) });
    const path = req.path === undefined ? undefined : previewPath(req.path);
    const at = path !== undefined ? loaderAt(path) : undefined;
    if (at) return result((await this.renderAt(at, req.serverAddress, used, req.tokens, open))!);
    const machine = req.machine;
    const plan = decide({ asks: "env", machine, env: req.env }, this.data);
    const envName = plan.envName;
    if (plan.kind !== "boot") throw invalid("render", envName, `BootEnv: bootenv ${JSON.stringify(envName)} does not exist`);
    const env = plan.env;
    const c: RenderCall = { machine, env, serverAddress: req.serverAddress, tokens: req.tokens, used, openParam: open };

    if (req.contents !== undefined) return result(await this.renderer.render({ label: "Contents", source: req.contents }, c));
    if (req.template !== undefined) {
      const name = req.template;
      const entry = templatesOf(env).find((t) => t.Name === name);
      if (this.data.template(name) || (!entry && this.engine.has(name))) return result(await this.renderer.render({ name }, c));
      if (entry) return result(await this.renderer.envFile(entry, c));
      throw invalid("render", name, `Template: template ${JSON.stringify(name)} not found (neither a Template ID nor a template of bootenv ${JSON.stringify(envName)})`);
    }
    const want = path!; // neither Template nor Contents: Path was given
    const paths = (await this.index.render([{ machine, env }]))[0]!;
    const hit = paths.get(want);
    if (!hit) {
      const known = [...paths.keys()].sort();
      throw invalid("render", want, `Path: no file ${JSON.stringify(want)} for ${describeTarget(machine, env)} in bootenv ${JSON.stringify(envName)}; its paths: ${known.length ? known.join(", ") : "(none)"}`);
    }
    const tmpl = templatesOf(env).find((t) => t.Name === hit.template)!;
    return result(await this.renderer.envFile(tmpl, c));
  }
}

/** A preview's Path as a request for it is normalised (files/paths.ts), or 400 saying why not. */
function previewPath(raw: string): string {
  const norm = normaliseRequestPath(raw);
  if (!norm.ok) throw invalid("render", raw, `Path: ${JSON.stringify(raw)} is no path a client could ask for: ${norm.reason}`);
  return norm.path;
}

/** The two loaders that chain to a per-MAC script: their entry point, and how each leaves. */
interface LoaderKind {
  name: "iPXE" | "GRUB";
  /** The dispatcher script, for a client that reached us at `provisionerURL`. */
  dispatch: (provisionerURL: string) => string;
  exit: (reason: string) => string;
}
const IPXE: LoaderKind = { name: "iPXE", dispatch: dispatchScript, exit: exitScript };
const GRUB: LoaderKind = { name: "GRUB", dispatch: grubDispatchScript, exit: grubExitScript };

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
