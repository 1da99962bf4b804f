// Every format an OsProfile renders to, in one table: the render preview (POST /api/v3/render with
// Formats) and it.OsConfig read it, so a format added here is previewable and reachable from
// templates with no other change. A row renders the whole text or throws (ProfileError naming the
// param, IgnitionError naming the JSON path): never half a file.

import { translateButane } from "./butane.ts";
import { DEFAULT_IGNITION_VERSION, IGNITION_VARIANTS, IGNITION_VERSIONS, ignitionText, mergeIgnition, profileIgnition, type IgnitionConfig, type IgnitionVariant, type IgnitionVersion } from "./ignition.ts";
import { autoinstallUserData, metaData, networkConfig, userData, vendorData } from "./nocloud.ts";
import type { OsProfile } from "./profile.ts";
import { ProfileError } from "./read.ts";
import { metaldataAnswers } from "./metaldata.ts";
import { talosConfig } from "./talos.ts";

export interface FormatOptions {
  /** The boot environment's OS family (it.Env.OS.Family: "flatcar", "fedora-coreos", ...), for formats with variants. */
  family: string;
  /** A format-specific param (ignition-version, butane-config, ...): its value, or undefined when unset. */
  param(name: string): unknown;
  /** The machine's Uuid (meta-data's instance-id). */
  instanceId?: string;
  /** The machine's Address and Arch (the metaldata answers). */
  machine?: { Address: string; Arch: string };
  /** What a template passes for this format (Ignition: version, variant, extra, profile). */
  [option: string]: unknown;
}

export interface Format {
  /** Content-Type the file is served with. */
  contentType: string;
  /** What the format is, for the API's list of formats. */
  description: string;
  render(profile: OsProfile, opts: FormatOptions): string;
}

/** Options of the Ignition format (it.OsConfig.Ignition). */
export interface IgnitionFormatOptions {
  /** Default: the ignition-version param, else what the variant reads (DEFAULT_IGNITION_VERSION). */
  version?: IgnitionVersion;
  /** Default: "flatcar" for the flatcar OS family, else "fcos". */
  variant?: IgnitionVariant;
  /** Ignition fragments a template adds (the agent, an installer unit), merged over the profile's config, under the Butane param. */
  extra?: IgnitionConfig | IgnitionConfig[];
  /** false: no profile and no Butane, only `extra` (a live system's own config). Default true. */
  profile?: boolean;
}

const bad = (what: string, v: unknown, known: readonly string[]) => new Error(`it.OsConfig.Ignition: ${what} ${JSON.stringify(v)} is not one of ${known.join(", ")}`);

function renderIgnition(profile: OsProfile, opts: FormatOptions): string {
  const o = opts as FormatOptions & IgnitionFormatOptions;
  const variant = o.variant ?? (opts.family === "flatcar" ? "flatcar" : "fcos");
  if (!IGNITION_VARIANTS.includes(variant)) throw bad("variant", variant, IGNITION_VARIANTS);
  let version = o.version;
  if (version === undefined) {
    const p = opts.param("ignition-version");
    if (p !== undefined && !(IGNITION_VERSIONS as readonly unknown[]).includes(p)) throw new ProfileError("ignition-version", `${JSON.stringify(p)} is not one of ${IGNITION_VERSIONS.join(", ")}`);
    version = (p as IgnitionVersion | undefined) ?? DEFAULT_IGNITION_VERSION[variant];
  }
  if (!IGNITION_VERSIONS.includes(version)) throw bad("version", version, IGNITION_VERSIONS);
  const withProfile = o.profile !== false;
  let config: IgnitionConfig = withProfile ? profileIgnition(profile, { version, variant }) : { ignition: { version } };
  const extra = o.extra === undefined ? [] : Array.isArray(o.extra) ? o.extra : [o.extra];
  for (const x of extra) config = mergeIgnition(config, x);
  const butane = withProfile ? opts.param("butane-config") : undefined;
  if (butane !== undefined && butane !== "") {
    const frag = translateButane(butane as string, variant);
    if (frag.spec > version) throw new ProfileError("butane-config", `version ${JSON.stringify(frag.spec)} of Ignition (from Butane) is newer than the ${version} this config is written in; set ignition-version to ${frag.spec} or use an older Butane version`);
    config = mergeIgnition(config, frag.config);
  }
  return ignitionText(config);
}

/** The Talos params, read here so that a missing one is named (talos.ts has the rest). */
function renderTalos(profile: OsProfile, opts: FormatOptions): string {
  const need = (name: string) => {
    const v = opts.param(name);
    if (v === undefined) throw new ProfileError(name, "is not set (a Talos machine configuration needs it; see bootenvs/talos/params)");
    return v;
  };
  const patch = opts.param("talos-config-patch");
  return talosConfig(profile, { cluster: need("talos-cluster"), secrets: need("talos-secrets"), ...(patch !== undefined && patch !== "" ? { patch } : {}) });
}

function renderMetaData(profile: OsProfile, opts: FormatOptions): string {
  const id = opts.instanceId;
  if (typeof id !== "string") throw new Error(`meta-data needs the machine's Uuid as instanceId, got ${JSON.stringify(id)}`);
  return metaData(profile, { instanceId: id });
}

function renderMetaldata(profile: OsProfile, opts: FormatOptions): string {
  const id = opts.instanceId;
  if (typeof id !== "string" || !opts.machine) throw new Error("metaldata needs the machine's Uuid, Address and Arch");
  const answers = metaldataAnswers(profile, { uuid: id, address: opts.machine.Address, arch: opts.machine.Arch, param: opts.param });
  return `${JSON.stringify(answers, null, 2)}\n`;
}

export const FORMATS: Readonly<Record<string, Format>> = {
  ignition: { contentType: "application/vnd.coreos.ignition+json", description: "Ignition config (spec 3.3.0/3.4.0) for Fedora CoreOS and Flatcar", render: renderIgnition },
  "cloud-config": { contentType: "text/cloud-config", description: "cloud-init NoCloud user-data (#cloud-config); { autoinstall: true }: the YAML for Ubuntu autoinstall's user-data key", render: (p, o) => (o.autoinstall === true ? autoinstallUserData(p) : userData(p)) },
  "network-config": { contentType: "application/yaml", description: "cloud-init NoCloud network-config, version 2", render: (p) => networkConfig(p) },
  "meta-data": { contentType: "application/yaml", description: "cloud-init NoCloud meta-data: instance-id (the machine's Uuid) and local-hostname", render: renderMetaData },
  "vendor-data": { contentType: "text/cloud-config", description: "cloud-init NoCloud vendor-data (an empty cloud-config)", render: (p) => vendorData(p) },
  metaldata: {
    contentType: "application/json",
    description: "What LinuxKit's metaldata provider is answered (http://metaldata/get/meta/<key>, /get/user), as one JSON document; keys without an answer are left out (the service's 404)",
    render: renderMetaldata,
  },
  talos: { contentType: "application/yaml", description: "Talos v1alpha1 machine configuration from the profile, talos-cluster, talos-secrets and talos-config-patch", render: renderTalos },
};

export function formatNames(): string[] {
  return Object.keys(FORMATS).sort();
}

/** The format's row, or an error naming the format and the known ones. */
export function formatOf(name: string): Format {
  const f = Object.hasOwn(FORMATS, name) ? FORMATS[name] : undefined;
  if (!f) throw new Error(`unknown OS config format ${JSON.stringify(name)}; known: ${formatNames().join(", ")}`);
  return f;
}
