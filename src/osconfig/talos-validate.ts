// Structural checks of a Talos v1alpha1 machine configuration (talos.ts renders it, an
// operator's patch may change it): known keys, the fields each machine type needs, and the types
// of what Socle writes. Not talosctl's validation: the shapes a config must have to boot.

import { isRecord } from "../model/object.ts";

// The known keys are those of Talos's v1alpha1 Config, MachineConfig and ClusterConfig
// (pkg/machinery/config/types/v1alpha1, checked 2026-12-07).
type Obj = Record<string, unknown>;
const isObj = isRecord;

const TOP_KEYS = new Set(["version", "debug", "persist", "machine", "cluster"]);
const MACHINE_KEYS = new Set([
  "type", "token", "ca", "acceptedCAs", "certSANs", "controlPlane", "kubelet", "pods", "network", "disks", "install", "files", "env", "time",
  "sysctls", "sysfs", "registries", "systemDiskEncryption", "features", "udev", "logging", "kernel", "seccompProfiles", "baseRuntimeSpecOverrides",
  "nodeLabels", "nodeAnnotations", "nodeTaints",
]);
const CLUSTER_KEYS = new Set([
  "id", "secret", "controlPlane", "clusterName", "network", "token", "aescbcEncryptionSecret", "secretboxEncryptionSecret", "ca", "acceptedCAs",
  "aggregatorCA", "serviceAccount", "apiServer", "controllerManager", "proxy", "scheduler", "discovery", "etcd", "coreDNS", "externalCloudProvider",
  "extraManifests", "extraManifestHeaders", "inlineManifests", "adminKubeconfig", "allowSchedulingOnControlPlanes",
  // The deprecated spelling, which Talos still reads.
  "allowSchedulingOnMasters",
]);

/**
 * Structural checks of a v1alpha1 machine configuration (after any patch): known top-level,
 * machine and cluster keys, the fields every machine type needs and those a control plane needs,
 * and the types of the fields Socle writes. Returns errors naming the path; empty when valid.
 */
export function validateTalos(cfg: unknown): string[] {
  const errs: string[] = [];
  if (!isObj(cfg)) return ["the configuration must be a map"];
  const unknownKeys = (path: string, o: Obj, known: Set<string>) => {
    for (const k of Object.keys(o)) if (!known.has(k)) errs.push(`${path}${k}: unknown key`);
  };
  unknownKeys("", cfg, TOP_KEYS);
  if (cfg.version !== "v1alpha1") errs.push(`version: must be "v1alpha1", got ${JSON.stringify(cfg.version)}`);
  for (const k of ["debug", "persist"]) if (cfg[k] !== undefined && typeof cfg[k] !== "boolean") errs.push(`${k}: must be a boolean`);

  const str = (path: string, v: unknown, required = true) => {
    if (v === undefined) {
      if (required) errs.push(`${path}: required`);
    } else if (typeof v !== "string" || (required && v === "")) errs.push(`${path}: must be a ${required ? "non-empty " : ""}string, got ${JSON.stringify(v)}`);
  };
  const map = (path: string, v: unknown, required = true): Obj | undefined => {
    if (v === undefined) {
      if (required) errs.push(`${path}: required`);
      return undefined;
    }
    if (!isObj(v)) {
      errs.push(`${path}: must be a map`);
      return undefined;
    }
    return v;
  };
  const strList = (path: string, v: unknown) => {
    if (v !== undefined && (!Array.isArray(v) || !v.every((s) => typeof s === "string"))) errs.push(`${path}: must be a list of strings`);
  };

  const m = map("machine", cfg.machine);
  let cp = false;
  if (m) {
    unknownKeys("machine.", m, MACHINE_KEYS);
    if (m.type !== "controlplane" && m.type !== "worker" && m.type !== "init") errs.push(`machine.type: must be "controlplane", "worker" or "init", got ${JSON.stringify(m.type)}`);
    cp = m.type === "controlplane" || m.type === "init";
    str("machine.token", m.token);
    const ca = map("machine.ca", m.ca);
    if (ca) {
      str("machine.ca.crt", ca.crt);
      if (cp && (ca.key === undefined || ca.key === "")) errs.push("machine.ca.key: required on a control plane");
      else str("machine.ca.key", ca.key, false);
    }
    strList("machine.certSANs", m.certSANs);
    const inst = map("machine.install", m.install, false);
    if (inst) {
      str("machine.install.disk", inst.disk, inst.diskSelector === undefined);
      str("machine.install.image", inst.image, false);
      strList("machine.install.extraKernelArgs", inst.extraKernelArgs);
      if (inst.wipe !== undefined && typeof inst.wipe !== "boolean") errs.push("machine.install.wipe: must be a boolean");
    }
    const net = map("machine.network", m.network, false);
    if (net) validateNetwork(net, errs, str, strList);
    if (m.files !== undefined) {
      if (!Array.isArray(m.files)) errs.push("machine.files: must be a list");
      else {
        m.files.forEach((f: unknown, i: number) => {
          const p = `machine.files[${i}]`;
          if (!isObj(f)) return errs.push(`${p}: must be a map`);
          str(`${p}.path`, f.path);
          str(`${p}.content`, f.content);
          if (typeof f.permissions !== "number" || !Number.isInteger(f.permissions) || f.permissions < 0 || f.permissions > 0o7777) errs.push(`${p}.permissions: must be an integer mode (0o644 is 420)`);
          if (f.op !== "create" && f.op !== "append" && f.op !== "overwrite") errs.push(`${p}.op: must be "create", "append" or "overwrite", got ${JSON.stringify(f.op)}`);
          if (f.op === "create" && typeof f.path === "string" && !f.path.startsWith("/var/")) errs.push(`${p}.path: "create" is allowed only under /var, got ${JSON.stringify(f.path)}`);
        });
      }
    }
  }

  const c = map("cluster", cfg.cluster);
  if (c) {
    unknownKeys("cluster.", c, CLUSTER_KEYS);
    const cpl = map("cluster.controlPlane", c.controlPlane);
    if (cpl) {
      str("cluster.controlPlane.endpoint", cpl.endpoint);
      if (typeof cpl.endpoint === "string" && !/^https:\/\/[^/\s]+/.test(cpl.endpoint)) errs.push(`cluster.controlPlane.endpoint: must be an https URL, got ${JSON.stringify(cpl.endpoint)}`);
    }
    str("cluster.token", c.token);
    str("cluster.id", c.id, false);
    str("cluster.secret", c.secret, false);
    str("cluster.clusterName", c.clusterName, cp);
    const ca = map("cluster.ca", c.ca);
    if (ca) {
      str("cluster.ca.crt", ca.crt);
      if (cp) str("cluster.ca.key", ca.key);
    }
    const network = map("cluster.network", c.network, false);
    if (network) {
      str("cluster.network.dnsDomain", network.dnsDomain, false);
      strList("cluster.network.podSubnets", network.podSubnets);
      strList("cluster.network.serviceSubnets", network.serviceSubnets);
    }
    if (cp) {
      if (c.secretboxEncryptionSecret === undefined && c.aescbcEncryptionSecret === undefined) errs.push("cluster.secretboxEncryptionSecret: required on a control plane");
      const agg = map("cluster.aggregatorCA", c.aggregatorCA);
      if (agg) {
        str("cluster.aggregatorCA.crt", agg.crt);
        str("cluster.aggregatorCA.key", agg.key);
      }
      const sa = map("cluster.serviceAccount", c.serviceAccount);
      if (sa) str("cluster.serviceAccount.key", sa.key);
      const etcd = map("cluster.etcd", c.etcd);
      if (etcd) {
        const eca = map("cluster.etcd.ca", etcd.ca);
        if (eca) {
          str("cluster.etcd.ca.crt", eca.crt);
          str("cluster.etcd.ca.key", eca.key);
        }
      }
    }
  }
  return errs;
}

function validateNetwork(
  net: Obj,
  errs: string[],
  str: (p: string, v: unknown, required?: boolean) => void,
  strList: (p: string, v: unknown) => void,
): void {
  str("machine.network.hostname", net.hostname, false);
  strList("machine.network.nameservers", net.nameservers);
  strList("machine.network.searchDomains", net.searchDomains);
  if (net.interfaces === undefined) return;
  if (!Array.isArray(net.interfaces)) {
    errs.push("machine.network.interfaces: must be a list");
    return;
  }
  const device = (p: string, d: unknown, vlan: boolean) => {
    if (!isObj(d)) return errs.push(`${p}: must be a map`);
    if (!vlan && d.interface === undefined && d.deviceSelector === undefined) errs.push(`${p}: needs interface or deviceSelector`);
    if (vlan && (typeof d.vlanId !== "number" || !Number.isInteger(d.vlanId) || d.vlanId < 1 || d.vlanId > 4094)) errs.push(`${p}.vlanId: must be an integer from 1 to 4094`);
    strList(`${p}.addresses`, d.addresses);
    if (d.dhcp !== undefined && typeof d.dhcp !== "boolean") errs.push(`${p}.dhcp: must be a boolean`);
    if (d.mtu !== undefined && (typeof d.mtu !== "number" || !Number.isInteger(d.mtu))) errs.push(`${p}.mtu: must be an integer`);
    if (d.routes !== undefined) {
      if (!Array.isArray(d.routes)) errs.push(`${p}.routes: must be a list`);
      else d.routes.forEach((r: unknown, i: number) => {
        if (!isObj(r)) return errs.push(`${p}.routes[${i}]: must be a map`);
        str(`${p}.routes[${i}].network`, r.network, false);
        str(`${p}.routes[${i}].gateway`, r.gateway, false);
      });
    }
    if (d.bond !== undefined) {
      if (!isObj(d.bond)) errs.push(`${p}.bond: must be a map`);
      else {
        if (d.bond.interfaces === undefined && d.bond.deviceSelectors === undefined) errs.push(`${p}.bond: needs interfaces or deviceSelectors`);
        strList(`${p}.bond.interfaces`, d.bond.interfaces);
        str(`${p}.bond.mode`, d.bond.mode, false);
      }
    }
    if (d.vlans !== undefined) {
      if (!Array.isArray(d.vlans)) errs.push(`${p}.vlans: must be a list`);
      else d.vlans.forEach((v: unknown, i: number) => device(`${p}.vlans[${i}]`, v, true));
    }
  };
  net.interfaces.forEach((d: unknown, i: number) => device(`machine.network.interfaces[${i}]`, d, false));
}
