// Building the `it` of a render from stored objects: the machine (or none, for an unknown one),
// its boot environment, parameters resolved in DRP's order (machine -> profiles -> global ->
// default) with a record of which layer each used parameter came from, and tokens.

import type { ModelObject } from "../model/object.ts";
import { resolveParams, type Resolved } from "../model/params.ts";
import { baseUrl, envView, machineView, missingParam, renderContext, RenderError, type RenderContext, type TemplateEngine } from "../render/index.ts";
import type { BootData } from "./boot-data.ts";

export interface TokenIssuer {
  /** A machine-scoped API token for the machine `uuid`. */
  machine(uuid: string, ttlSeconds: number): string;
  /** A registration token (may only create a machine), for unknown machines. */
  registration(ttlSeconds: number): string;
}

export interface UsedParam {
  Name: string;
  Value: unknown;
  Source: string;
}

export interface ContextInput {
  data: BootData;
  engine: TemplateEngine;
  machine: ModelObject | undefined;
  env: ModelObject;
  /** The address the client reached us on. */
  serverAddress: string;
  httpPort: number;
  apiPort: number;
  /** undefined: GenerateToken is an error (paths are rendered without a client). */
  tokens: TokenIssuer | undefined;
  /** Filled with each parameter it.param() returned, by name. */
  used?: Map<string, UsedParam>;
}

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

/** The boot environment a machine boots: its own, else the defaultBootEnv pref. */
export function effectiveEnvName(data: BootData, machine: ModelObject): string {
  return str(machine.BootEnv) || data.prefs().defaultBootEnv;
}

/** How the machine (or its absence) is named in error messages. */
export function describeTarget(machine: ModelObject | undefined, env: ModelObject): string {
  return machine ? `machine ${JSON.stringify(str(machine.Name) || str(machine.Uuid))}` : `unknown machines (bootenv ${JSON.stringify(str(env.Name))})`;
}

export function buildContext(input: ContextInput): RenderContext {
  const { data, machine, env } = input;
  const provisionerURL = baseUrl("http", input.serverAddress, input.httpPort);
  const target = describeTarget(machine, env);
  let resolved: Map<string, Resolved> | undefined;
  const resolve = () =>
    (resolved ??= resolveParams({
      machine,
      getProfile: (n) => data.profile(n),
      getParam: (n) => data.param(n),
      global: data.globalProfile(),
      params: data.params(),
    }));
  const envName = str(env.Name);
  const os = (typeof env.OS === "object" && env.OS !== null ? env.OS : {}) as Record<string, unknown>;
  let ctx: RenderContext;
  const bootParams = () => input.engine.renderSource(`${envName}/BootParams`, str(env.BootParams), ctx);
  const envV = envView(
    {
      Name: envName,
      OS: { Name: str(os.Name), Family: str(os.Family), Version: str(os.Version), IsoFile: str(os.IsoFile), IsoUrl: str(os.IsoUrl) },
      Kernel: str(env.Kernel),
      Initrds: strs(env.Initrds),
    },
    provisionerURL,
    bootParams,
  );
  const machineV = machine
    ? machineView(
        {
          Uuid: str(machine.Uuid),
          Name: str(machine.Name),
          Address: str(machine.Address),
          HardwareAddrs: strs(machine.HardwareAddrs),
          Arch: str(machine.Arch),
          BootEnv: effectiveEnvName(data, machine),
        },
        provisionerURL,
      )
    : undefined;
  ctx = renderContext({
    machine: machineV,
    env: envV,
    provisionerAddress: input.serverAddress,
    provisionerURL,
    apiURL: baseUrl("https", input.serverAddress, input.apiPort),
    param(name: string) {
      if (typeof name !== "string") throw new RenderError("runtime", `it.param needs a parameter name, got ${typeof name}`);
      const r = resolve().get(name);
      if (r === undefined) {
        throw missingParam(
          name,
          `parameter ${JSON.stringify(name)} is not set for ${target} (looked in ${machine ? "the machine, its profiles, " : ""}the global profile and the Param's default)`,
        );
      }
      input.used?.set(name, { Name: name, Value: r.value, Source: r.source });
      return r.value;
    },
    paramExists: (name: string) => resolve().has(name),
    generateToken() {
      if (!input.tokens) throw new RenderError("runtime", "GenerateToken() is not available here (file paths are rendered without a client)");
      const prefs = data.prefs();
      return machine ? input.tokens.machine(str(machine.Uuid), prefs.knownTokenTimeout) : input.tokens.registration(prefs.unknownTokenTimeout);
    },
  });
  return ctx;
}

/** RequiredParams of the env that no layer sets, as messages; empty when all are there. */
export function missingRequired(input: Pick<ContextInput, "data" | "machine" | "env">): string[] {
  const { data, machine, env } = input;
  const required = strs(env.RequiredParams);
  if (required.length === 0) return [];
  const resolved = resolveParams({
    machine,
    getProfile: (n) => data.profile(n),
    getParam: (n) => data.param(n),
    global: data.globalProfile(),
    params: data.params(),
  });
  return required
    .filter((p) => !resolved.has(p))
    .map((p) => `bootenv ${JSON.stringify(str(env.Name))} requires parameter ${JSON.stringify(p)}, which is not set for ${describeTarget(machine, env)}`);
}
