// Butane (YAML, snake_case) -> an Ignition fragment, for the `butane-config` param: variants fcos
// (1.4.0 -> Ignition 3.3.0, 1.5.0 -> 3.4.0) and flatcar (1.0.0 -> 3.3.0, 1.1.0 -> 3.4.0).
//
// The subset that maps one to one onto Ignition (storage, systemd, passwd, kernel_arguments,
// ignition's timeouts/proxy/TLS), plus the sugar that matters here: `inline` contents become
// percent-encoded data URLs. What needs Butane's --files-dir (`local`, `contents_local`,
// `ssh_authorized_keys_local`, `storage.trees`) is refused: Socle renders from params, it has no
// files directory. So are the sugars that generate other sections (`boot_device`, `grub`,
// `with_mount_unit`). Unknown keys are refused, as Butane refuses them; YAML's legacy octal
// (`mode: 0644`) reads as octal, as Butane reads it.
//
// The fragment is merged over the profile's config (ignition.ts mergeIgnition): for the same file
// path, unit or user, Butane's fields win; the operator's explicit Butane is the last word.

import { isRecord } from "../model/object.ts";
import YAML from "yaml";
import { checkIgnition, dataUrl, type IgnitionConfig, type IgnitionVariant } from "./ignition.ts";
import type { IgnitionVersion } from "./ignition-schema.ts";
import { ProfileError } from "./read.ts";

const PARAM = "butane-config";

/** Variant -> Butane version -> the Ignition spec it generates. */
export const BUTANE_VERSIONS: Record<IgnitionVariant, Record<string, IgnitionVersion>> = {
  fcos: { "1.4.0": "3.3.0", "1.5.0": "3.4.0" },
  flatcar: { "1.0.0": "3.3.0", "1.1.0": "3.4.0" },
};

export interface ButaneFragment {
  variant: IgnitionVariant;
  /** The Ignition spec this Butane version generates (the fragment's ignition.version). */
  spec: IgnitionVersion;
  config: IgnitionConfig;
}

// The accepted keys, as a tree: "v" a value, [node] a list of node, { key: node } an object.
// REFUSED keys exist in Butane but not here, each with the reason.
type Node = "v" | Node[] | { [key: string]: Node };
const headers: Node = [{ name: "v", value: "v" }];
const resource: Node = { source: "v", inline: "v", compression: "v", http_headers: headers, verification: { hash: "v" } };
const owner: Node = { id: "v", name: "v" };
const TREE: { [key: string]: Node } = {
  variant: "v",
  version: "v",
  ignition: {
    config: { merge: [resource], replace: resource },
    timeouts: { http_response_headers: "v", http_total: "v" },
    security: { tls: { certificate_authorities: [resource] } },
    proxy: { http_proxy: "v", https_proxy: "v", no_proxy: "v" },
  },
  storage: {
    disks: [{ device: "v", wipe_table: "v", partitions: [{ label: "v", number: "v", size_mib: "v", start_mib: "v", type_guid: "v", guid: "v", wipe_partition_entry: "v", should_exist: "v", resize: "v" }] }],
    raid: [{ name: "v", level: "v", devices: "v", spares: "v", options: "v" }],
    filesystems: [{ device: "v", format: "v", path: "v", wipe_filesystem: "v", label: "v", uuid: "v", options: "v", mount_options: "v" }],
    files: [{ path: "v", overwrite: "v", contents: resource, append: [resource], mode: "v", user: owner, group: owner }],
    directories: [{ path: "v", overwrite: "v", mode: "v", user: owner, group: owner }],
    links: [{ path: "v", overwrite: "v", user: owner, group: owner, target: "v", hard: "v" }],
    luks: [
      {
        name: "v",
        device: "v",
        key_file: resource,
        label: "v",
        uuid: "v",
        options: "v",
        wipe_volume: "v",
        discard: "v",
        open_options: "v",
        clevis: { tang: [{ url: "v", thumbprint: "v", advertisement: "v" }], tpm2: "v", threshold: "v", custom: { pin: "v", config: "v", needs_network: "v" } },
      },
    ],
  },
  systemd: { units: [{ name: "v", enabled: "v", mask: "v", contents: "v", dropins: [{ name: "v", contents: "v" }] }] },
  passwd: {
    users: [
      {
        name: "v",
        password_hash: "v",
        ssh_authorized_keys: "v",
        uid: "v",
        gecos: "v",
        home_dir: "v",
        no_create_home: "v",
        primary_group: "v",
        groups: "v",
        no_user_group: "v",
        no_log_init: "v",
        shell: "v",
        should_exist: "v",
        system: "v",
      },
    ],
    groups: [{ name: "v", gid: "v", password_hash: "v", should_exist: "v", system: "v" }],
  },
  kernel_arguments: { should_exist: "v", should_not_exist: "v" },
};

const NO_FILES_DIR = "Socle renders from params and has no --files-dir; put the contents inline";
const REFUSED: Record<string, string> = {
  local: NO_FILES_DIR,
  contents_local: NO_FILES_DIR,
  ssh_authorized_keys_local: NO_FILES_DIR,
  trees: "storage.trees embeds a local directory, and Socle has no --files-dir; list the files under storage.files",
  boot_device: "boot_device (disk layout sugar) is not translated here; describe the disks under storage",
  grub: "grub is not translated here",
  with_mount_unit: "with_mount_unit is not translated here; add the mount unit under systemd.units",
};

/** Ignition spells a few words differently from a plain snake -> camel change. */
const SPELLING: Record<string, string> = { size_mib: "sizeMiB", start_mib: "startMiB" };
const camel = (k: string) => SPELLING[k] ?? k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

const isObj = isRecord;
const fail = (where: string, detail: string): never => {
  throw new ProfileError(PARAM, where ? `${where}: ${detail}` : detail);
};

/** YAML 1.1's octal ("0644"), which Butane (go-yaml) reads as octal and YAML 1.2 as decimal. */
const LEGACY_OCTAL = { tag: "tag:yaml.org,2002:int", test: /^0[0-7]+$/, resolve: (s: string) => parseInt(s, 8), default: true, format: "OCT" };

function translate(v: unknown, node: Node, where: string): unknown {
  if (node === "v") {
    if (isObj(v)) fail(where, `expected a value, got an object`);
    return v;
  }
  if (Array.isArray(node)) {
    if (v === null) return [];
    if (!Array.isArray(v)) fail(where, `expected a list, got ${JSON.stringify(v)}`);
    return (v as unknown[]).map((x, i) => translate(x, node[0]!, `${where}[${i}]`));
  }
  if (v === null) return {};
  if (!isObj(v)) fail(where, `expected an object, got ${JSON.stringify(v)}`);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const at = where ? `${where}.${k}` : k;
    if (Object.hasOwn(REFUSED, k)) fail(at, `not supported: ${REFUSED[k]}`);
    const child = node[k];
    if (child === undefined) fail(at, `unknown key ${JSON.stringify(k)}; known here: ${Object.keys(node).join(", ")}`);
    if (k === "inline") {
      if (typeof x !== "string") fail(at, `expected text, got ${JSON.stringify(x)}`);
      if ((v as Record<string, unknown>).source !== undefined) fail(where, "source and inline are mutually exclusive");
      if ((v as Record<string, unknown>).compression !== undefined) fail(where, "compression applies to a fetched source, not to inline contents");
      out.source = dataUrl(x as string);
      continue;
    }
    out[camel(k)] = translate(x, child!, at);
  }
  return out;
}

/** Parse and translate a Butane config for `variant`; errors name the param and the YAML path. */
export function translateButane(text: string, variant: IgnitionVariant): ButaneFragment {
  if (typeof text !== "string") fail("", `expected Butane YAML text, got ${JSON.stringify(text)}`);
  const doc = YAML.parseDocument(text, { customTags: (tags) => [LEGACY_OCTAL, ...tags], uniqueKeys: true });
  if (doc.errors.length) fail("", `not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}`);
  const raw: unknown = doc.toJS();
  if (!isObj(raw)) fail("", `expected a YAML mapping with variant and version, got ${JSON.stringify(raw)}`);
  const r = raw as Record<string, unknown>;
  const versions = BUTANE_VERSIONS[variant];
  if (r.variant !== variant) fail("variant", `${JSON.stringify(r.variant)} does not match this boot environment's Ignition variant ${JSON.stringify(variant)}`);
  const spec = typeof r.version === "string" ? versions[r.version] : undefined;
  if (!spec) fail("version", `${JSON.stringify(r.version)} is not a ${variant} Butane version Socle translates (${Object.keys(versions).join(", ")})`);
  const body = translate(raw, TREE, "") as Record<string, unknown>;
  delete body.variant;
  delete body.version;
  const config: IgnitionConfig = { ignition: { ...(isObj(body.ignition) ? body.ignition : {}), version: spec } };
  for (const k of ["passwd", "storage", "systemd", "kernelArguments"]) if (body[k] !== undefined) config[k] = body[k];
  // Checked as its own Ignition version: a key this Butane version does not have fails here.
  const problems = checkIgnition(config, spec!);
  if (problems.length) fail("", `translates to an invalid Ignition ${spec} config: ${problems.join("; ")}`);
  return { variant, spec: spec!, config };
}
