// A Talos v1alpha1 machine configuration from an OsProfile, the cluster's parameters and its
// secrets bundle, with an operator's patch merged over it, then checked structurally.
//
// The document is the single-document v1alpha1 form that `talosctl gen config` writes
// (controlplane.yaml or worker.yaml), which every Talos 1.x release reads. The secrets bundle is
// the YAML that `talosctl gen secrets` writes (lower-case keys): cluster {id, secret}, secrets
// {bootstraptoken, secretboxencryptionsecret | aescbcencryptionsecret}, trustdinfo {token}, certs
// {etcd, k8s, k8saggregator, k8sserviceaccount, os} with base64 PEM in crt/key. As talosctl
// does, a worker gets the CA certificates without their keys, and no etcd, aggregator or
// service-account material.
//
// Profile fields Talos has no place for, and what happens to them:
// - users, admin keys and password hashes: Talos has no users, no SSH and no shell (it is driven
//   by its API with certificates from the secrets bundle): ignored.
// - systemd units: Talos has no systemd; refused when the profile has any, rather than dropped
//   silently (a unit is something the operator expects to run).
// - files: Talos creates files only under /var (machine.files `op: create` elsewhere fails at
//   boot with "create operation not allowed outside of /var"): any other path is refused here.
// - timezone: Talos runs in UTC and has no setting: ignored. caPem: Talos has no system trust
//   store to add to; the CA goes to /var/socle/ca.pem with the identity.
// - identity (the machine's certificate): files under /var/socle/.

import { isRecord } from "../model/object.ts";
import type { IpConfig, NetBond, NetInterface, NetVlan, OsNetwork, OsProfile } from "./profile.ts";
import { ProfileError } from "./read.ts";
import { validateTalos } from "./talos-validate.ts";
import { parseYamlParam, yamlText } from "./yaml-text.ts";

export { validateTalos };

export const TALOS_IDENTITY_DIR = "/var/socle";

export type TalosRole = "controlplane" | "worker";

/** The talos-cluster param. */
export interface TalosCluster {
  name: string;
  /** The Kubernetes API endpoint, "https://<vip or lb>:6443". */
  endpoint: string;
  role: TalosRole;
  /** The installer image, e.g. "ghcr.io/siderolabs/installer:v1.8.3" (or an Image Factory one). */
  installImage: string;
  /** "1.31.2": pins the kubelet (and on control planes the control-plane images); absent: Talos's default. */
  kubernetesVersion?: string;
  dnsDomain?: string;
  podSubnets?: string[];
  serviceSubnets?: string[];
}

interface CertAndKey {
  crt: string;
  key: string;
}

/** The talos-secrets param, parsed. */
export interface TalosSecrets {
  cluster: { id: string; secret: string };
  secrets: { bootstraptoken: string; secretboxencryptionsecret?: string; aescbcencryptionsecret?: string };
  trustdinfo: { token: string };
  certs: { etcd: CertAndKey; k8s: CertAndKey; k8saggregator: CertAndKey; k8sserviceaccount: { key: string }; os: CertAndKey };
}

export interface TalosOptions {
  /** The talos-cluster param value. */
  cluster: unknown;
  /** The talos-secrets param value (YAML text, or the same as an object). */
  secrets: unknown;
  /** The talos-config-patch param value (YAML/JSON text, or an object); absent: none. */
  patch?: unknown;
}

type Obj = Record<string, unknown>;
const isObj = isRecord;

// ---------------------------------------------------------------------------------------------
// Params

export function parseTalosCluster(v: unknown): TalosCluster {
  const P = "talos-cluster";
  if (!isObj(v)) throw new ProfileError(P, `expected an object, got ${JSON.stringify(v)}`);
  const str = (k: string, required: boolean): string | undefined => {
    const x = v[k];
    if (x === undefined && !required) return undefined;
    if (typeof x !== "string" || x === "") throw new ProfileError(P, `${k} must be a non-empty string, got ${JSON.stringify(x)}`);
    return x;
  };
  const list = (k: string): string[] | undefined => {
    const x = v[k];
    if (x === undefined) return undefined;
    if (!Array.isArray(x) || !x.every((s) => typeof s === "string")) throw new ProfileError(P, `${k} must be a list of CIDR strings, got ${JSON.stringify(x)}`);
    return x as string[];
  };
  const endpoint = str("endpoint", true)!;
  if (!/^https:\/\/[^/\s]+(:\d+)?\/?$/.test(endpoint)) throw new ProfileError(P, `endpoint must be an https URL such as "https://198.51.100.10:6443", got ${JSON.stringify(endpoint)}`);
  const role = v.role ?? "worker";
  if (role !== "controlplane" && role !== "worker") throw new ProfileError(P, `role must be "controlplane" or "worker", got ${JSON.stringify(role)}`);
  const kubernetesVersion = str("kubernetesVersion", false);
  if (kubernetesVersion !== undefined && !/^\d+\.\d+\.\d+$/.test(kubernetesVersion)) throw new ProfileError(P, `kubernetesVersion must look like "1.31.2", got ${JSON.stringify(kubernetesVersion)}`);
  const c: TalosCluster = { name: str("name", true)!, endpoint, role, installImage: str("installImage", true)! };
  if (kubernetesVersion !== undefined) c.kubernetesVersion = kubernetesVersion;
  const dnsDomain = str("dnsDomain", false);
  if (dnsDomain !== undefined) c.dnsDomain = dnsDomain;
  const pods = list("podSubnets");
  if (pods !== undefined) c.podSubnets = pods;
  const services = list("serviceSubnets");
  if (services !== undefined) c.serviceSubnets = services;
  return c;
}

export function parseTalosSecrets(v: unknown): TalosSecrets {
  const P = "talos-secrets";
  const doc = typeof v === "string" ? parseYamlParam(P, v) : v;
  const at = (path: string[]): unknown => path.reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), doc);
  const need = (...path: string[]): string => {
    const x = at(path);
    if (typeof x !== "string" || x === "") throw new ProfileError(P, `${path.join(".")} is missing or not a string (expected the YAML that \`talosctl gen secrets\` writes)`);
    return x;
  };
  const pem = (...path: string[]): string => {
    const x = need(...path);
    if (!/^[A-Za-z0-9+/=\s]+$/.test(x) || !Buffer.from(x, "base64").toString("latin1").startsWith("-----BEGIN ")) {
      throw new ProfileError(P, `${path.join(".")} is not a base64-encoded PEM block`);
    }
    return x;
  };
  const pair = (name: string): CertAndKey => ({ crt: pem("certs", name, "crt"), key: pem("certs", name, "key") });
  const secretbox = at(["secrets", "secretboxencryptionsecret"]);
  const aescbc = at(["secrets", "aescbcencryptionsecret"]);
  if (typeof secretbox !== "string" && typeof aescbc !== "string") throw new ProfileError(P, `secrets.secretboxencryptionsecret is missing`);
  const token = need("secrets", "bootstraptoken");
  if (!/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(token)) throw new ProfileError(P, `secrets.bootstraptoken must be a Kubernetes bootstrap token ("abcdef.0123456789abcdef")`);
  const s: TalosSecrets = {
    cluster: { id: need("cluster", "id"), secret: need("cluster", "secret") },
    secrets: { bootstraptoken: token },
    trustdinfo: { token: need("trustdinfo", "token") },
    certs: { etcd: pair("etcd"), k8s: pair("k8s"), k8saggregator: pair("k8saggregator"), k8sserviceaccount: { key: pem("certs", "k8sserviceaccount", "key") }, os: pair("os") },
  };
  if (typeof secretbox === "string") s.secrets.secretboxencryptionsecret = secretbox;
  else s.secrets.aescbcencryptionsecret = aescbc as string;
  return s;
}

export function parseTalosPatch(v: unknown): Obj {
  const P = "talos-config-patch";
  const doc = typeof v === "string" ? parseYamlParam(P, v) : v;
  if (doc === null || doc === undefined) return {};
  if (!isObj(doc)) throw new ProfileError(P, `expected a YAML/JSON map to merge over the machine configuration, got ${JSON.stringify(doc)}`);
  return doc;
}

// ---------------------------------------------------------------------------------------------
// Merge

/**
 * The patch merged over `base`: maps merge key by key, recursively; any other value (lists
 * included) replaces what was there; a null removes the key. Neither input is modified.
 */
export function mergePatch(base: Obj, patch: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isObj(v) && isObj(out[k])) out[k] = mergePatch(out[k] as Obj, v);
    else out[k] = structuredClone(v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Generation

/** The machine configuration as an object, before the patch. */
export function talosConfigObject(profile: OsProfile, cluster: TalosCluster, secrets: TalosSecrets): Obj {
  if (profile.units.length > 0) {
    throw new ProfileError("os-units", `Talos has no systemd: must be empty for a Talos machine (it names ${profile.units.map((u) => JSON.stringify(u.name)).join(", ")})`);
  }
  const cp = cluster.role === "controlplane";
  const k8s = cluster.kubernetesVersion;
  const machine: Obj = {
    type: cluster.role,
    token: secrets.trustdinfo.token,
    ca: cp ? { ...secrets.certs.os } : { crt: secrets.certs.os.crt, key: "" },
    certSANs: [],
  };
  if (k8s !== undefined) machine.kubelet = { image: `ghcr.io/siderolabs/kubelet:v${k8s}` };
  machine.network = talosNetwork(profile);
  const install: Obj = { disk: profile.installDisk, image: cluster.installImage, wipe: false };
  if (profile.kernelArgs.length > 0) install.extraKernelArgs = [...profile.kernelArgs];
  machine.install = install;
  const files = talosFiles(profile);
  if (files.length > 0) machine.files = files;

  const clusterCfg: Obj = {
    id: secrets.cluster.id,
    secret: secrets.cluster.secret,
    controlPlane: { endpoint: cluster.endpoint },
    clusterName: cluster.name,
    network: {
      dnsDomain: cluster.dnsDomain ?? "cluster.local",
      podSubnets: [...(cluster.podSubnets ?? ["10.244.0.0/16"])],
      serviceSubnets: [...(cluster.serviceSubnets ?? ["10.96.0.0/12"])],
    },
    token: secrets.secrets.bootstraptoken,
    ca: cp ? { ...secrets.certs.k8s } : { crt: secrets.certs.k8s.crt, key: "" },
  };
  if (cp) {
    if (secrets.secrets.secretboxencryptionsecret !== undefined) clusterCfg.secretboxEncryptionSecret = secrets.secrets.secretboxencryptionsecret;
    else clusterCfg.aescbcEncryptionSecret = secrets.secrets.aescbcencryptionsecret;
    clusterCfg.aggregatorCA = { ...secrets.certs.k8saggregator };
    clusterCfg.serviceAccount = { key: secrets.certs.k8sserviceaccount.key };
    clusterCfg.etcd = { ca: { ...secrets.certs.etcd } };
    if (k8s !== undefined) {
      clusterCfg.apiServer = { image: `registry.k8s.io/kube-apiserver:v${k8s}` };
      clusterCfg.controllerManager = { image: `registry.k8s.io/kube-controller-manager:v${k8s}` };
      clusterCfg.proxy = { image: `registry.k8s.io/kube-proxy:v${k8s}` };
      clusterCfg.scheduler = { image: `registry.k8s.io/kube-scheduler:v${k8s}` };
    }
  }
  return { version: "v1alpha1", debug: false, persist: true, machine, cluster: clusterCfg };
}

/** The YAML the Talos bootenv serves: generated, patched, validated. */
export function talosConfig(profile: OsProfile, opts: TalosOptions): string {
  const cluster = parseTalosCluster(opts.cluster);
  const secrets = parseTalosSecrets(opts.secrets);
  let cfg = talosConfigObject(profile, cluster, secrets);
  if (opts.patch !== undefined) cfg = mergePatch(cfg, parseTalosPatch(opts.patch));
  const errors = validateTalos(cfg);
  if (errors.length > 0) {
    const detail = `the Talos machine configuration is invalid: ${errors.join("; ")}`;
    throw opts.patch !== undefined ? new ProfileError("talos-config-patch", `after the merge, ${detail}`) : new Error(detail);
  }
  return yamlText(cfg);
}

function talosFiles(profile: OsProfile): Obj[] {
  const out: Obj[] = [];
  for (const f of profile.files) {
    if (!f.path.startsWith("/var/")) {
      throw new ProfileError("os-files", `${JSON.stringify(f.path)} is outside /var, and Talos creates files only under /var (it refuses "create" elsewhere)`);
    }
    out.push({ content: f.contents, permissions: f.mode, path: f.path, op: "create" });
  }
  const ca = profile.caPem ?? profile.identity?.caPem;
  if (ca !== undefined) out.push({ content: ca, permissions: 0o644, path: `${TALOS_IDENTITY_DIR}/ca.pem`, op: "create" });
  if (profile.identity !== undefined) {
    out.push({ content: profile.identity.certPem, permissions: 0o644, path: `${TALOS_IDENTITY_DIR}/machine.crt`, op: "create" });
    out.push({ content: profile.identity.keyPem, permissions: 0o600, path: `${TALOS_IDENTITY_DIR}/machine.key`, op: "create" });
  }
  return out;
}

function talosNetwork(profile: OsProfile): Obj {
  const n: Obj = { hostname: profile.hostname };
  const net = profile.network;
  if (net === undefined) return n; // Talos's default: DHCP on every link.
  const interfaces = talosInterfaces(net);
  if (interfaces.length > 0) n.interfaces = interfaces;
  if (net.nameservers.length > 0) n.nameservers = [...net.nameservers];
  if (net.searchDomains.length > 0) n.searchDomains = [...net.searchDomains];
  return n;
}

function talosIp(ip: IpConfig): Obj {
  const o: Obj = {};
  if (ip.addresses.length > 0) o.addresses = [...ip.addresses];
  if (ip.gateway4 !== undefined) o.routes = [{ network: "0.0.0.0/0", gateway: ip.gateway4 }];
  if (ip.mtu !== undefined) o.mtu = ip.mtu;
  o.dhcp = ip.dhcp4;
  return o;
}

const hasAddressing = (ip: IpConfig): boolean => ip.dhcp4 || ip.addresses.length > 0 || ip.gateway4 !== undefined;

/**
 * Talos's device list: a physical interface by name, or by `deviceSelector.hardwareAddr` when
 * its MAC is known; a bond as a device with `bond.interfaces` (or `bond.deviceSelectors` for
 * members known by MAC); VLANs nested in the device they ride on (Talos has no top-level VLANs).
 * Bond members are not devices of their own unless they carry addressing (an MTU alone stays
 * with the bond, whose MTU its members take).
 */
function talosInterfaces(net: OsNetwork): Obj[] {
  const byName = new Map<string, NetInterface>(net.interfaces.map((i) => [i.name, i]));
  const members = new Set(net.bonds.flatMap((b) => b.interfaces));
  const vlansOn = (link: string): Obj[] =>
    net.vlans.filter((v: NetVlan) => v.link === link).map((v) => ({ vlanId: v.id, ...talosIp(v) }));
  for (const v of net.vlans) {
    if (!byName.has(v.link) && !net.bonds.some((b) => b.name === v.link)) {
      throw new ProfileError("os-network", `VLAN ${JSON.stringify(v.name)} rides on ${JSON.stringify(v.link)}, which is neither an interface nor a bond`);
    }
  }
  const out: Obj[] = [];
  for (const i of net.interfaces) {
    const vlans = vlansOn(i.name);
    if (members.has(i.name) && !hasAddressing(i) && vlans.length === 0) continue;
    const d: Obj = i.mac !== undefined ? { deviceSelector: { hardwareAddr: i.mac } } : { interface: i.name };
    Object.assign(d, talosIp(i));
    if (vlans.length > 0) d.vlans = vlans;
    out.push(d);
  }
  for (const b of net.bonds) out.push(talosBond(b, byName, vlansOn(b.name)));
  return out;
}

function talosBond(b: NetBond, byName: Map<string, NetInterface>, vlans: Obj[]): Obj {
  const macs = b.interfaces.map((m) => byName.get(m)?.mac);
  const bond: Obj = macs.every((m) => m !== undefined)
    ? { deviceSelectors: macs.map((m) => ({ hardwareAddr: m })), mode: b.mode }
    : { interfaces: [...b.interfaces], mode: b.mode };
  const d: Obj = { interface: b.name, bond, ...talosIp(b) };
  if (vlans.length > 0) d.vlans = vlans;
  return d;
}
