// Building the input of a render from stored objects: the machine (or none, for an unknown one),
// its boot environment, parameters resolved in DRP's order (machine -> profiles -> global ->
// default) with a record of which layer each used parameter came from, and tokens. The render
// itself runs in a render worker (src/render/render-pool.ts), which builds `it` from this input
// and asks for parameters and tokens through RenderHost.

import { fieldString, fieldStrings, type ModelObject } from "../model/object.ts";
import { resolveParams, type ParamReveal, type Resolved } from "../model/params.ts";
import { NO_AGENT, RenderError, type AgentFacts, type RenderHost, type RenderInput } from "../render/index.ts";
import type { MachineCertView } from "../render/context.ts";
import type { BootData } from "./boot-data.ts";
import { bootEnvOf } from "../model/prefs.ts";

export interface TokenIssuer {
  /** A machine-scoped API token for the machine `uuid`. */
  machine(uuid: string, ttlSeconds: number): string;
  /** A registration token (may only create a machine), for unknown machines. */
  registration(ttlSeconds: number): string;
  /**
   * A new key and client certificate for the machine (it.MachineCert(), pki/machine-ca.ts), issued
   * and recorded; absent where none may be issued (metadata answers, an operator's --tls-cert).
   */
  machineCert?(machine: { Uuid: string; Name: string }): Promise<MachineCertView>;
}

export interface UsedParam {
  Name: string;
  Value: unknown;
  Source: string;
}

export interface ContextInput {
  data: BootData;
  machine: ModelObject | undefined;
  env: ModelObject;
  /** The address the client reached us on. */
  serverAddress: string;
  httpPort: number;
  apiPort: number;
  /** it.ApiPin: the API certificate's public key pin ("" when unknown). */
  apiPin: string;
  /** it.CaCert: the PEM of the CA that signed the API certificate ("" when unknown). */
  caCert: string;
  /** it.Agent: the agent files an installer fetches (absent: none known). */
  agent?: AgentFacts;
  /** undefined: GenerateToken is an error (paths are rendered without a client). */
  tokens: TokenIssuer | undefined;
  /** Filled with each parameter it.param() returned, by name. */
  used?: Map<string, UsedParam>;
  /**
   * What a stored value becomes for the render (boot-renderer.ts: sealed Secure values opened, on the
   * server's thread, or the marker in a preview the caller may not see them in). Absent: as stored.
   */
  openParam?: ParamReveal;
  /**
   * Resolve the parameters now and send them with the render (files and previews, which nearly
   * always read some), rather than have the render ask for them (paths, which nearly never do).
   */
  eagerParams?: boolean;
}

/** A render's input (plain data for the render worker), what it may ask, and the bookkeeping after. */
export interface RenderRequest {
  input: RenderInput;
  host: RenderHost;
  /** Record in `used` where each parameter the render read came from. */
  record(used: readonly string[]): void;
}

const str = fieldString;
const strs = fieldStrings;

/** How the machine (or its absence) is named in error messages. */
export function describeTarget(machine: ModelObject | undefined, env: ModelObject): string {
  return machine ? `machine ${JSON.stringify(str(machine.Name) || str(machine.Uuid))}` : `unknown machines (bootenv ${JSON.stringify(str(env.Name))})`;
}

export function renderRequest(c: ContextInput): RenderRequest {
  const { data, machine, env } = c;
  let resolved: Map<string, Resolved> | undefined;
  const resolve = () =>
    (resolved ??= resolveFor(data, machine, c.openParam));
  const values = (): Array<[string, unknown]> => [...resolve()].map(([name, r]) => [name, r.value]);
  const os = (typeof env.OS === "object" && env.OS !== null ? env.OS : {}) as Record<string, unknown>;
  const input: RenderInput = {
    machine: machine
      ? {
          Uuid: str(machine.Uuid),
          Name: str(machine.Name),
          Address: str(machine.Address),
          HardwareAddrs: strs(machine.HardwareAddrs),
          Arch: str(machine.Arch),
          BootEnv: bootEnvOf(machine, data.prefs()),
        }
      : undefined,
    env: {
      Name: str(env.Name),
      OS: { Name: str(os.Name), Family: str(os.Family), Version: str(os.Version), IsoFile: str(os.IsoFile), IsoUrl: str(os.IsoUrl) },
      Kernel: str(env.Kernel),
      Initrds: strs(env.Initrds),
      BootParams: str(env.BootParams),
    },
    serverAddress: c.serverAddress,
    httpPort: c.httpPort,
    apiPort: c.apiPort,
    apiPin: c.apiPin,
    caCert: c.caCert,
    agent: c.agent ?? NO_AGENT,
    target: describeTarget(machine, env),
    tokens: c.tokens !== undefined,
    machineCerts: machine !== undefined && c.tokens?.machineCert !== undefined,
    params: c.eagerParams ? values() : undefined,
  };
  const host: RenderHost = {
    params: values,
    token() {
      if (!c.tokens) throw new RenderError("runtime", "GenerateToken() is not available here (file paths are rendered without a client)");
      const prefs = data.prefs();
      return machine ? c.tokens.machine(str(machine.Uuid), prefs.knownTokenTimeout) : c.tokens.registration(prefs.unknownTokenTimeout);
    },
    machineCert() {
      if (!c.tokens) throw new RenderError("runtime", "MachineCert() is not available here (file paths are rendered without a client)");
      if (!machine) throw new RenderError("runtime", `MachineCert() is for known machines; this render is for ${describeTarget(machine, env)}`);
      if (!c.tokens.machineCert) throw new RenderError("runtime", "MachineCert() is not available here (machine certificates come from the built-in CA, and this render may not issue one)");
      return c.tokens.machineCert({ Uuid: str(machine.Uuid), Name: str(machine.Name) });
    },
  };
  const record = (used: readonly string[]) => {
    if (!c.used) return;
    for (const name of used) {
      const r = resolve().get(name);
      if (r) c.used.set(name, { Name: name, Value: r.value, Source: r.source });
    }
  };
  return { input, host, record };
}

/**
 * The params in effect for `machine` (undefined: unknown machines), as BootData holds them:
 * machine, its profiles, its stage, global, the Param's default. `reveal` opens the sealed values
 * the caller needs.
 */
export function resolveFor(data: BootData, machine: ModelObject | undefined, reveal?: ParamReveal): Map<string, Resolved> {
  return resolveParams({
    machine,
    getProfile: (n) => data.profile(n),
    getStage: (n) => data.stage(n),
    getParam: (n) => data.param(n),
    global: data.globalProfile(),
    params: data.params(),
    ...(reveal ? { reveal } : {}),
  });
}

/** RequiredParams of the env that no layer sets, as messages; empty when all are there. */
export function missingRequired(input: Pick<ContextInput, "data" | "machine" | "env">): string[] {
  const { data, machine, env } = input;
  const required = strs(env.RequiredParams);
  if (required.length === 0) return [];
  const resolved = resolveFor(data, machine);
  return required
    .filter((p) => !resolved.has(p))
    .map((p) => `bootenv ${JSON.stringify(str(env.Name))} requires parameter ${JSON.stringify(p)}, which is not set for ${describeTarget(machine, env)}`);
}
