// OsProfile -> Ignition config (spec 3.3.0 or 3.4.0) for Fedora CoreOS or Flatcar, and the checks
// every config passes before it is served: the spec's structure (ignition-schema.ts, unknown
// keys refused as Ignition refuses them) and the rules across entries (one node per path, one
// unit per name). A config that fails is an error, never a served file: Ignition would stop the
// boot in the initramfs, far from anyone reading a log.
//
// The two variants differ in how the network is written:
//   fcos     NetworkManager keyfiles, /etc/NetworkManager/system-connections/<name>.nmconnection,
//            mode 0600 (NetworkManager ignores a keyfile others can read).
//   flatcar  systemd-networkd, /etc/systemd/network/<nn>-<name>.{network,netdev}, mode 0644;
//            they sort before Flatcar's own catch-all DHCP file (zz-default.network) and win.
// An interface given by MAC is matched by it (NetworkManager's mac-address, networkd's
// [Match] MACAddress=), never renamed: a rename races the initramfs that already named the link.

import { isRecord } from "../model/object.ts";
import { checkJsonSchema } from "../model/json-schema.ts";
import { IGNITION_VERSIONS, ignitionSchema, type IgnitionVersion } from "./ignition-schema.ts";
import type { IpConfig, OsFile, OsNetwork, OsProfile } from "./profile.ts";
import { ProfileError } from "./read.ts";

export type IgnitionVariant = "fcos" | "flatcar";
export const IGNITION_VARIANTS: readonly IgnitionVariant[] = ["fcos", "flatcar"];
export type { IgnitionVersion };
export { IGNITION_VERSIONS };

/** The spec each OS reads by default: Fedora CoreOS stable reads 3.4 (and 3.5); Flatcar reads 3.4 only since its 2024 releases, 3.3 everywhere. */
export const DEFAULT_IGNITION_VERSION: Record<IgnitionVariant, IgnitionVersion> = { fcos: "3.4.0", flatcar: "3.3.0" };

/** The admin user Ignition configures on both variants. */
export const ADMIN_USER = "core";

export type IgnitionConfig = Record<string, unknown>;

export interface IgnitionOptions {
  version: IgnitionVersion;
  variant: IgnitionVariant;
}

/** A rendered config that breaks the spec; `problems` name JSON paths ("$.storage.files[2]: ..."). */
export class IgnitionError extends Error {
  constructor(readonly problems: string[]) {
    super(`the Ignition config is invalid: ${problems.join("; ")}`);
    this.name = "IgnitionError";
  }
}

/** RFC 2397 data URL of UTF-8 text, percent-encoded (readable in a preview, unlike base64). */
export const dataUrl = (text: string): string => `data:,${encodeURIComponent(text)}`;

const file = (path: string, contents: string, mode: number, owner?: string): IgnitionConfig => {
  const f: IgnitionConfig = { path, mode, overwrite: true, contents: { source: dataUrl(contents) } };
  if (owner) {
    const [user, group] = owner.split(":");
    f.user = { name: user };
    if (group) f.group = { name: group };
  }
  return f;
};

/** The profile as an Ignition config object (not yet checked: see ignitionText). */
export function profileIgnition(p: OsProfile, o: IgnitionOptions): IgnitionConfig {
  const admin: IgnitionConfig = { name: ADMIN_USER, sshAuthorizedKeys: [...p.adminKeys] };
  if (p.adminPasswordHash !== undefined) admin.passwordHash = p.adminPasswordHash;
  const users: IgnitionConfig[] = [admin];
  const files: IgnitionConfig[] = [file("/etc/hostname", p.hostname, 0o644)];
  if (p.caPem ?? p.identity?.caPem) files.push(file("/etc/socle/ca.pem", (p.caPem ?? p.identity!.caPem)!, 0o644));
  if (p.identity) {
    files.push(file("/etc/socle/machine.crt", p.identity.certPem, 0o644), file("/etc/socle/machine.key", p.identity.keyPem, 0o600));
  }
  if (p.network) files.push(...(o.variant === "fcos" ? nmKeyfiles(p.network) : networkdFiles(p.network)).map((f) => file(f.path, f.contents, f.mode)));
  for (const u of p.users) {
    if (u.name === ADMIN_USER) throw new ProfileError("os-users", `"${ADMIN_USER}" is the admin user of Fedora CoreOS and Flatcar: its keys come from access-keys, its hash from provisioner-default-password-hash`);
    const user: IgnitionConfig = { name: u.name };
    if (u.passwordHash !== undefined) user.passwordHash = u.passwordHash;
    if (u.sshAuthorizedKeys.length) user.sshAuthorizedKeys = [...u.sshAuthorizedKeys];
    if (u.groups.length) user.groups = [...u.groups];
    if (u.shell !== undefined) user.shell = u.shell;
    users.push(user);
    // sudoers(5): files in /etc/sudoers.d must not be writable by others, and 0440 is what visudo makes.
    if (u.sudo) files.push(file(`/etc/sudoers.d/socle-${u.name}`, `${u.name} ALL=(ALL) NOPASSWD: ALL\n`, 0o440));
  }
  for (const f of p.files) {
    // Both specs: "Setuid/setgid/sticky bits are not supported" on files.
    if (f.mode > 0o777) throw new ProfileError("os-files", `${f.path}: mode 0${f.mode.toString(8)} has setuid/setgid/sticky bits, which Ignition does not set on files`);
    files.push(file(f.path, f.contents, f.mode, f.owner));
  }
  const units = p.units.map((u) => {
    const unit: IgnitionConfig = { name: u.name };
    if (u.enabled !== undefined) unit.enabled = u.enabled;
    if (u.contents !== undefined) unit.contents = u.contents;
    if (u.dropins.length) unit.dropins = u.dropins.map((d) => ({ name: d.name, contents: d.contents }));
    return unit;
  });
  const config: IgnitionConfig = {
    ignition: { version: o.version },
    passwd: { users },
    // The zone's file, linked as systemd-timedated links it; overwrite: the image ships a link already.
    storage: { files, links: [{ path: "/etc/localtime", target: `/usr/share/zoneinfo/${p.timezone}`, overwrite: true, hard: false }] },
  };
  if (units.length) config.systemd = { units };
  if (p.kernelArgs.length) config.kernelArguments = { shouldExist: [...p.kernelArgs] };
  return config;
}

// ---- merge ------------------------------------------------------------------------------------

const isObj = isRecord;
/** The field that names a list entry, as Ignition keys its merges. */
const KEYS = ["path", "name", "device", "source", "url"] as const;
const keyOf = (v: unknown): string | undefined => {
  if (!isObj(v)) return undefined;
  const k = KEYS.find((k) => typeof v[k] === "string");
  return k && `${k}=${String(v[k])}`;
};
/** Resources replace as a whole: a new source with the old one's hash would fail verification. */
const WHOLE = new Set(["contents", "keyFile", "append", "replace", "verification"]);

function mergeValue(a: unknown, b: unknown, field: string): unknown {
  if (WHOLE.has(field)) return b;
  if (isObj(a) && isObj(b)) {
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = Object.hasOwn(a, k) ? mergeValue(a[k], v, k) : v;
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if ([...a, ...b].every((x) => typeof x === "string")) return [...new Set([...a, ...b])];
    if ([...a, ...b].every((x) => keyOf(x) !== undefined)) {
      const out = [...a];
      for (const entry of b) {
        const i = out.findIndex((x) => keyOf(x) === keyOf(entry));
        if (i >= 0) out[i] = mergeValue(out[i], entry, "");
        else out.push(entry);
      }
      return out;
    }
  }
  return b;
}

const TOP = ["ignition", "passwd", "storage", "systemd", "kernelArguments"];
const STORAGE = ["disks", "raid", "filesystems", "files", "directories", "links", "luks"];
const ordered = (o: Record<string, unknown>, order: string[]) =>
  Object.fromEntries(Object.entries(o).sort(([a], [b]) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99)));

/**
 * `over` merged into `base`, the way Ignition merges a config into its parent: entries of a list
 * with the same key (path, name, device...) are merged field by field, `over` winning each field
 * (a file's contents and other resources as a whole); new entries are appended; string lists are
 * joined. A path is one node: an entry of `over` at a path removes a file, directory or link of
 * another kind at that path from `base`. `base.ignition.version` stays.
 */
export function mergeIgnition(base: IgnitionConfig, over: IgnitionConfig): IgnitionConfig {
  const b = structuredClone(base);
  const overStorage = isObj(over.storage) ? over.storage : {};
  if (isObj(b.storage)) {
    for (const kind of ["files", "directories", "links"]) {
      const paths = new Set(
        ["files", "directories", "links"]
          .filter((k) => k !== kind)
          .flatMap((k) => (Array.isArray(overStorage[k]) ? (overStorage[k] as unknown[]) : []).map((e) => (isObj(e) ? e.path : undefined))),
      );
      const list = b.storage[kind];
      if (Array.isArray(list)) b.storage[kind] = list.filter((e) => !(isObj(e) && paths.has(e.path)));
    }
  }
  const version = isObj(b.ignition) ? b.ignition.version : undefined;
  const merged = mergeValue(b, over, "") as IgnitionConfig;
  if (isObj(merged.ignition) && version !== undefined) merged.ignition.version = version;
  if (isObj(merged.storage)) merged.storage = ordered(merged.storage, STORAGE);
  return ordered(merged, TOP);
}

// ---- checks -----------------------------------------------------------------------------------

/** Problems with `config` as an Ignition config of `version`; [] when Ignition would accept it. */
export function checkIgnition(config: unknown, version: IgnitionVersion): string[] {
  const problems = checkJsonSchema(ignitionSchema(version), config, "$");
  if (problems.length || !isObj(config)) return problems;
  const dupes = (list: unknown, where: string, field: string) => {
    const seen = new Map<string, string>();
    (Array.isArray(list) ? list : []).forEach((e, i) => {
      const k = (e as Record<string, unknown>)[field];
      if (typeof k !== "string") return;
      const at = `${where}[${i}]`;
      const first = seen.get(k);
      if (first !== undefined) problems.push(`${at}: ${field} ${JSON.stringify(k)} is also at ${first}`);
      else seen.set(k, at);
    });
  };
  const s = isObj(config.storage) ? config.storage : {};
  const nodes = ["files", "directories", "links"].flatMap((k) => (Array.isArray(s[k]) ? (s[k] as unknown[]).map((e, i) => ({ e, at: `$.storage.${k}[${i}]` })) : []));
  const byPath = new Map<string, string>();
  for (const { e, at } of nodes) {
    const p = (e as Record<string, unknown>).path as string;
    if (!p.startsWith("/")) problems.push(`${at}.path: ${JSON.stringify(p)} is not an absolute path`);
    const first = byPath.get(p);
    if (first !== undefined) problems.push(`${at}: path ${JSON.stringify(p)} is also at ${first}`);
    else byPath.set(p, at);
  }
  for (const { e, at } of nodes) {
    const m = (e as Record<string, unknown>).mode;
    if (typeof m === "number" && (m < 0 || m > 0o7777 || (at.includes(".files[") && m > 0o777))) problems.push(`${at}.mode: ${m} (0${m.toString(8)}) is not a permission mode Ignition sets on a ${at.includes(".files[") ? "file" : "directory"}`);
  }
  const sd = isObj(config.systemd) ? config.systemd : {};
  dupes(sd.units, "$.systemd.units", "name");
  (Array.isArray(sd.units) ? sd.units : []).forEach((u, i) => {
    const unit = u as Record<string, unknown>;
    if (!/\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/.test(String(unit.name))) problems.push(`$.systemd.units[${i}].name: ${JSON.stringify(unit.name)} has no unit type suffix`);
    dupes(unit.dropins, `$.systemd.units[${i}].dropins`, "name");
    (Array.isArray(unit.dropins) ? unit.dropins : []).forEach((d, j) => {
      if (!String((d as Record<string, unknown>).name).endsWith(".conf")) problems.push(`$.systemd.units[${i}].dropins[${j}].name: ${JSON.stringify((d as Record<string, unknown>).name)} does not end in ".conf"`);
    });
  });
  const pw = isObj(config.passwd) ? config.passwd : {};
  dupes(pw.users, "$.passwd.users", "name");
  dupes(pw.groups, "$.passwd.groups", "name");
  return problems;
}

/** The config as served: checked against its spec version, then JSON (2-space indent, keys in insertion order). */
export function ignitionText(config: IgnitionConfig): string {
  const version = isObj(config.ignition) ? config.ignition.version : undefined;
  if (typeof version !== "string" || !(IGNITION_VERSIONS as readonly string[]).includes(version)) {
    throw new IgnitionError([`$.ignition.version: ${JSON.stringify(version)} is not a spec version Socle writes (${IGNITION_VERSIONS.join(", ")})`]);
  }
  const problems = checkIgnition(config, version as IgnitionVersion);
  if (problems.length) throw new IgnitionError(problems);
  return JSON.stringify(config, null, 2);
}

// ---- network ----------------------------------------------------------------------------------

interface NetFile extends Pick<OsFile, "path" | "contents" | "mode"> {}

const section = (name: string, lines: Array<string | false | undefined>): string[] => {
  const kept = lines.filter((l): l is string => typeof l === "string");
  return kept.length ? [`[${name}]`, ...kept, ""] : [];
};
const family = (cidr: string) => (cidr.includes(":") ? 6 : 4);

/** NetworkManager keyfiles (nm-settings-keyfile(5)), one connection per interface, bond and VLAN. */
export function nmKeyfiles(net: OsNetwork): NetFile[] {
  const member = new Map(net.bonds.flatMap((b) => b.interfaces.map((m) => [m, b.name] as const)));
  const dns4 = net.nameservers.filter((s) => !s.includes(":"));
  const dns6 = net.nameservers.filter((s) => s.includes(":"));
  const ip = (c: IpConfig): string[] => {
    const v4 = c.addresses.filter((a) => family(a) === 4);
    const v6 = c.addresses.filter((a) => family(a) === 6);
    const l3 = c.dhcp4 || c.addresses.length > 0;
    const v4lines = v4.map((a, i) => `address${i + 1}=${a}${i === 0 && c.gateway4 ? `,${c.gateway4}` : ""}`);
    return [
      ...section("ipv4", [
        `method=${c.dhcp4 ? "auto" : v4.length ? "manual" : "disabled"}`,
        ...v4lines,
        l3 && dns4.length > 0 && `dns=${dns4.join(";")};`,
        l3 && net.searchDomains.length > 0 && `dns-search=${net.searchDomains.join(";")};`,
      ]),
      // Static configurations get no router-advertised addresses unless they list IPv6 ones.
      ...section("ipv6", [`method=${v6.length ? "manual" : c.dhcp4 ? "auto" : "disabled"}`, ...v6.map((a, i) => `address${i + 1}=${a}`), l3 && dns6.length > 0 && `dns=${dns6.join(";")};`]),
    ];
  };
  const conn = (name: string, type: string, extra: string[]) => section("connection", [`id=${name}`, `type=${type}`, ...extra]);
  const out: NetFile[] = [];
  const add = (name: string, lines: string[]) => out.push({ path: `/etc/NetworkManager/system-connections/${name}.nmconnection`, contents: lines.join("\n"), mode: 0o600 });
  for (const n of net.interfaces) {
    const bond = member.get(n.name);
    add(n.name, [
      ...conn(n.name, "ethernet", [...(n.mac ? [] : [`interface-name=${n.name}`]), ...(bond ? [`master=${bond}`, "slave-type=bond"] : [])]),
      ...section("ethernet", [n.mac && `mac-address=${n.mac}`, n.mtu !== undefined && `mtu=${n.mtu}`]),
      ...(bond ? [] : ip(n)),
    ]);
  }
  for (const b of net.bonds) {
    add(b.name, [
      ...conn(b.name, "bond", [`interface-name=${b.name}`]),
      ...section("bond", [`mode=${b.mode}`, "miimon=100"]),
      ...section("ethernet", [b.mtu !== undefined && `mtu=${b.mtu}`]),
      ...ip(b),
    ]);
  }
  for (const v of net.vlans) {
    // A VLAN on an interface known by MAC names its parent by that MAC (vlan.parent left empty).
    const parentMac = net.interfaces.find((n) => n.name === v.link)?.mac;
    add(v.name, [
      ...conn(v.name, "vlan", [`interface-name=${v.name}`]),
      ...section("vlan", [`id=${v.id}`, parentMac === undefined && `parent=${v.link}`]),
      ...section("ethernet", [parentMac && `mac-address=${parentMac}`, v.mtu !== undefined && `mtu=${v.mtu}`]),
      ...ip(v),
    ]);
  }
  return out;
}

/** systemd-networkd files (systemd.network(5), systemd.netdev(5)). */
export function networkdFiles(net: OsNetwork): NetFile[] {
  const member = new Map(net.bonds.flatMap((b) => b.interfaces.map((m) => [m, b.name] as const)));
  const vlansOn = (link: string) => net.vlans.filter((v) => v.link === link).map((v) => `VLAN=${v.name}`);
  const network = (c: IpConfig, link: string): string[] => {
    const l3 = c.dhcp4 || c.addresses.length > 0;
    return section("Network", [
      c.dhcp4 && "DHCP=ipv4",
      ...c.addresses.map((a) => `Address=${a}`),
      c.gateway4 && `Gateway=${c.gateway4}`,
      ...(l3 ? net.nameservers.map((s) => `DNS=${s}`) : []),
      l3 && net.searchDomains.length > 0 && `Domains=${net.searchDomains.join(" ")}`,
      // A link that only carries VLANs gets no addresses of its own, not even link-local ones.
      !l3 && "LinkLocalAddressing=no",
      ...vlansOn(link),
    ]);
  };
  const out: NetFile[] = [];
  const add = (name: string, lines: string[]) => out.push({ path: `/etc/systemd/network/${name}`, contents: lines.join("\n"), mode: 0o644 });
  for (const n of net.interfaces) {
    const bond = member.get(n.name);
    add(`10-${n.name}.network`, [
      ...section("Match", [n.mac ? `MACAddress=${n.mac}` : `Name=${n.name}`]),
      ...section("Link", [n.mtu !== undefined && `MTUBytes=${n.mtu}`]),
      ...(bond ? section("Network", [`Bond=${bond}`]) : network(n, n.name)),
    ]);
  }
  for (const b of net.bonds) {
    add(`20-${b.name}.netdev`, [...section("NetDev", [`Name=${b.name}`, "Kind=bond", b.mtu !== undefined && `MTUBytes=${b.mtu}`]), ...section("Bond", [`Mode=${b.mode}`, "MIIMonitorSec=100ms"])]);
    add(`20-${b.name}.network`, [...section("Match", [`Name=${b.name}`]), ...network(b, b.name)]);
  }
  for (const v of net.vlans) {
    add(`30-${v.name}.netdev`, [...section("NetDev", [`Name=${v.name}`, "Kind=vlan", v.mtu !== undefined && `MTUBytes=${v.mtu}`]), ...section("VLAN", [`Id=${v.id}`])]);
    add(`30-${v.name}.network`, [...section("Match", [`Name=${v.name}`]), ...network(v, v.name)]);
  }
  return out;
}
