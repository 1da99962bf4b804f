// it.OsConfig: the machine's OS configuration (src/osconfig) as templates and the render preview
// read it. Profile() is the OsProfile from this machine's params; each format of
// osconfig/formats.ts is one method here (Ignition(opts) -> the config's text) and all of them
// are reachable as Format(name, opts). A new format is one row in formats.ts plus, for a
// PascalCase name in templates, one line in FORMAT_METHODS below.

import { formatOf, type FormatOptions, type IgnitionFormatOptions } from "../osconfig/formats.ts";
import type { OsIdentity, OsProfile } from "../osconfig/profile.ts";
import { readProfile } from "../osconfig/read.ts";
import { RenderError } from "./render-error.ts";
import { strictView } from "./strict.ts";

export interface ProfileOptions {
  /**
   * Put the machine's certificate and key (it.MachineCert()) in the profile. Only where the
   * caller asks: a file that carries the key goes to this machine alone. Without MachineCert in
   * the context (a renderer that has no CA), the profile has no identity.
   */
  identity?: boolean;
}

/** Options of a format method: the format's own (IgnitionFormatOptions...) plus `identity`. */
export type FormatCallOptions = ProfileOptions & Record<string, unknown>;

export interface OsConfigView {
  /** The OsProfile read from this machine's params (osconfig/read.ts); throws naming a bad param. */
  Profile(opts?: ProfileOptions): OsProfile;
  /** Any format of osconfig/formats.ts by name ("ignition", ...). */
  Format(name: string, opts?: FormatCallOptions): string;
  /** Ignition JSON, validated against its spec version: { version?, variant?, extra?, profile?, identity? }. */
  Ignition(opts?: IgnitionFormatOptions & ProfileOptions): string;
  /** cloud-init NoCloud user-data ("#cloud-config" + YAML): { identity?, autoinstall? } (autoinstall: YAML for autoinstall's user-data key). */
  CloudConfig(opts?: ProfileOptions & { autoinstall?: boolean }): string;
  /** cloud-init network-config version 2. */
  NetworkConfig(opts?: ProfileOptions): string;
  /** cloud-init meta-data; instance-id is the machine's Uuid. */
  MetaData(opts?: ProfileOptions): string;
  /** cloud-init vendor-data (empty). */
  VendorData(opts?: ProfileOptions): string;
  /** Talos machine configuration from the talos-* params: { identity? }. */
  Talos(opts?: ProfileOptions): string;
}

/** Template method -> format name. One line per format. */
const FORMAT_METHODS = {
  Ignition: "ignition",
  CloudConfig: "cloud-config",
  NetworkConfig: "network-config",
  MetaData: "meta-data",
  VendorData: "vendor-data",
  Talos: "talos",
} as const satisfies Record<string, string>;

export interface OsConfigParts {
  machine: { Name: string; HardwareAddrs: string[]; Uuid: string; Address: string; Arch: string } | undefined;
  /** it.Env.OS.Family, read when a format needs it. */
  family(): string;
  caCert: string;
  param(name: string): unknown;
  paramExists(name: string): boolean;
  /** The whole `it`, asked for MachineCert when a caller wants the identity. */
  context(): object;
}

/** it.MachineCert()'s answer (context.ts MachineCertView: Cert, Key, Ca) as an OsIdentity. */
function identityOf(ctx: object, caCert: string): OsIdentity | undefined {
  // A render that cannot issue one (no built-in CA key: --tls-cert) gives a profile without identity.
  if (!("MachineCert" in ctx) || (ctx as { MachineCertAvailable?: unknown }).MachineCertAvailable !== true) return undefined;
  const fn = (ctx as { MachineCert?: unknown }).MachineCert;
  if (typeof fn !== "function") return undefined;
  const got: unknown = fn.call(ctx);
  const pem = (k: string) => {
    const v = typeof got === "object" && got !== null && k in got ? (got as Record<string, unknown>)[k] : undefined;
    return typeof v === "string" && v ? v : undefined;
  };
  const certPem = pem("Cert");
  const keyPem = pem("Key");
  if (!certPem || !keyPem) throw new RenderError("runtime", "it.MachineCert() returned no certificate and key PEM (Cert, Key)");
  return { certPem, keyPem, caPem: pem("Ca") ?? caCert };
}

export function osConfigView(p: OsConfigParts): OsConfigView {
  const cache = new Map<boolean, OsProfile>();
  const profile = (opts: ProfileOptions = {}): OsProfile => {
    const m = p.machine;
    if (!m) throw new RenderError("runtime", "it.OsConfig needs a machine: this render is for unknown machines");
    const withId = opts.identity === true;
    let got = cache.get(withId);
    if (!got) {
      const identity = withId ? identityOf(p.context(), p.caCert) : undefined;
      got = readProfile({ machineName: m.Name, macs: m.HardwareAddrs, param: p.param, paramExists: p.paramExists, caPem: p.caCert || undefined, identity });
      cache.set(withId, got);
    }
    return got;
  };
  const format = (name: string, opts: FormatCallOptions = {}): string => {
    if (typeof opts !== "object" || opts === null) throw new RenderError("runtime", `it.OsConfig.${name}: expected an options object, got ${JSON.stringify(opts)}`);
    const row = formatOf(name);
    const { identity, ...rest } = opts;
    const m = p.machine;
    const fo: FormatOptions = { instanceId: m?.Uuid, ...(m ? { machine: { Address: m.Address, Arch: m.Arch } } : {}), ...rest, family: p.family(), param: (n: string) => (p.paramExists(n) ? p.param(n) : undefined) };
    return row.render(profile({ identity: identity === true }), fo);
  };
  // A copy: a template that edits the profile it got changes no format rendered after it.
  const view: Record<string, unknown> = { Profile: (opts?: ProfileOptions) => structuredClone(profile(opts)), Format: format };
  for (const [method, name] of Object.entries(FORMAT_METHODS)) view[method] = (opts?: FormatCallOptions) => format(name, opts);
  return strictView(view as unknown as OsConfigView, "it.OsConfig");
}
