// What a render needs, as plain data that crosses to a render worker (structured clone), and the
// `it` built from it on the rendering side. What cannot be data is asked of the host, the
// server's thread, when a template first needs it: the resolved parameters (unless sent along), a
// token (issued with the caller's rights, never inside the worker) and a machine certificate
// (it.MachineCert(): its key made and its serial recorded there).

import type { AgentFacts, MachineCertView, RenderContext } from "./context.ts";
import type { TemplateEngine } from "./engine.ts";
import { RenderError, missingParam } from "./render-error.ts";
import { baseUrl, envView, machineView, renderContext, type EnvFields, type MachineFields } from "./views.ts";

export interface RenderInput {
  /** undefined: rendering for unknown machines. */
  machine: MachineFields | undefined;
  env: EnvFields & { BootParams: string };
  /** The address the client reached us on (ProvisionerURL, ApiURL). */
  serverAddress: string;
  httpPort: number;
  apiPort: number;
  /** it.ApiPin (context.ts). */
  apiPin: string;
  /** it.CaCert (context.ts). */
  caCert: string;
  /** it.Agent (context.ts). */
  agent: AgentFacts;
  /** Who the render is for, in error messages: `machine "n1"`, `unknown machines (bootenv "x")`. */
  target: string;
  /** Whether GenerateToken() may ask for a token (false for file paths, rendered without a client). */
  tokens: boolean;
  /**
   * Whether this render may issue the machine a certificate (it.MachineCertAvailable): a known
   * machine, a client, and a server with the built-in CA's key. Absent: false.
   */
  machineCerts?: boolean;
  /** Resolved parameter values by name; absent: asked of the host on the first it.param(). */
  params?: Array<[string, unknown]>;
}

/** What only the server's thread can answer. */
export interface RenderHost {
  /** Resolved parameter values (machine -> profiles -> global -> default). */
  params(): Array<[string, unknown]>;
  /** A machine token, or for unknown machines a registration token. */
  token(): string;
  /**
   * A new key and client certificate for the machine (it.MachineCert()), issued and recorded by the
   * server's thread; asynchronous there (key generation), answered to the waiting worker.
   */
  machineCert?(): MachineCertView | Promise<MachineCertView>;
}

/** A template to render: a registered one by name, or text (a path, a preview's Contents) under a label. */
export type RenderTarget = { name: string } | { label: string; source: string };

export function targetName(t: RenderTarget): string {
  return "name" in t ? t.name : t.label;
}

/** The `it` of a render from its input; `used` collects the names it.param() returned. */
export function contextOf(engine: TemplateEngine, input: RenderInput, host: RenderHost, used?: Set<string>): RenderContext {
  const provisionerURL = baseUrl("http", input.serverAddress, input.httpPort);
  let params: Map<string, unknown> | undefined = input.params ? new Map(input.params) : undefined;
  const resolved = () => (params ??= new Map(host.params()));
  const env = input.env;
  let ctx: RenderContext;
  const envV = envView(env, provisionerURL, () => engine.renderSource(`${env.Name}/BootParams`, env.BootParams, ctx));
  ctx = renderContext({
    machine: input.machine ? machineView(input.machine, provisionerURL) : undefined,
    env: envV,
    provisionerAddress: input.serverAddress,
    provisionerURL,
    apiURL: baseUrl("https", input.serverAddress, input.apiPort),
    apiPin: input.apiPin,
    caCert: input.caCert,
    agent: input.agent,
    param(name: string) {
      if (typeof name !== "string") throw new RenderError("runtime", `it.param needs a parameter name, got ${typeof name}`);
      const p = resolved();
      if (!p.has(name)) {
        throw missingParam(
          name,
          `parameter ${JSON.stringify(name)} is not set for ${input.target} (looked in ${input.machine ? "the machine, its profiles, " : ""}the global profile and the Param's default)`,
        );
      }
      used?.add(name);
      return p.get(name);
    },
    paramExists: (name: string) => resolved().has(name),
    generateToken() {
      if (!input.tokens) throw new RenderError("runtime", "GenerateToken() is not available here (file paths are rendered without a client)");
      return host.token();
    },
    machineCertAvailable: input.machineCerts === true && input.tokens && input.machine !== undefined,
    machineCert() {
      if (!input.tokens) throw new RenderError("runtime", "MachineCert() is not available here (file paths are rendered without a client)");
      if (!input.machine) throw new RenderError("runtime", `MachineCert() is for known machines; this render is for ${input.target}`);
      if (!host.machineCert) throw new RenderError("runtime", "MachineCert() is not available here");
      const pems = host.machineCert();
      if (pems instanceof Promise) throw new RenderError("runtime", "MachineCert() needs the server's thread (a render worker)");
      return pems;
    },
  });
  return ctx;
}
