// cloud-init's NoCloud datasource from an OsProfile: the four files of one seed, served per
// machine under <Machine.Path>/nocloud/ and named to cloud-init by `ds=nocloud;s=<url>/` on the
// kernel command line. cloud-init appends the file names to s= as a plain string, so the URL
// must end in "/". cloud-init 22.4 (its source, DataSourceNoCloud.py) takes an http(s) s= only
// as `ds=nocloud-net` (its `ds=nocloud` reads local paths), and fetches meta-data, user-data and
// vendor-data from it, not network-config: an HTTP seed is read once the network is up, too late
// to configure it. network-config counts where the seed is put on the machine (a CIDATA volume,
// /var/lib/cloud/seed/nocloud/ written by an installer) and with cloud-init releases that fetch it.
//
// Folklore the choices below rest on (cloud-init 22.4, Debian bookworm's, is the oldest peer):
// - The admin user is the image's own default user ("ubuntu", "debian"...): `users: [default]`
//   keeps it, top-level `ssh_authorized_keys` goes to it (cc_ssh), and its password hash goes in
//   `system_info.default_user`, which cloud-init merges from user-data over /etc/cloud/cloud.cfg
//   (the default user's name is the image's, so chpasswd, which needs a name, cannot be used).
// - lock_passwd defaults to true: it is set to false only where a hash is given.
// - cloud-init has no module for kernel arguments. Socle writes them to a GRUB drop-in
//   (/etc/default/grub.d/90-socle.cfg, sourced by update-grub on Debian and Ubuntu) and runs
//   update-grub when the image has it; they take effect from the next boot. Images without
//   update-grub keep the file and ignore it.
// - systemd units are files like any other (write_files into /etc/systemd/system, drop-ins into
//   <unit>.d/); runcmd reloads systemd and enables them (runcmd runs late, in cloud-final, after
//   write_files). runcmd entries are argv lists, run without a shell.
// - network-config v2: `gateway4` is deprecated, so the default route is a route. Its `to` is
//   "0.0.0.0/0", not netplan's alias "default": cloud-init 22.4's own v2 parser (used for every
//   renderer but netplan: ENI on Debian, networkd, sysconfig) refuses "default" as "not a valid
//   ip address" and drops the device's configuration. v2 has no global nameservers, so the
//   profile's DNS goes on every device that has addressing.

import type { IpConfig, OsFile, OsNetwork, OsProfile, OsUnit } from "./profile.ts";
import { ProfileError } from "./read.ts";
import { yamlText } from "./yaml-text.ts";

export const SOCLE_CA_PATH = "/etc/socle/ca.pem";
export const MACHINE_CERT_PATH = "/etc/socle/machine.crt";
export const MACHINE_KEY_PATH = "/etc/socle/machine.key";
export const GRUB_DROPIN_PATH = "/etc/default/grub.d/90-socle.cfg";
export const SUDO_ALL = "ALL=(ALL) NOPASSWD:ALL";

export interface MetaDataOptions {
  /** The machine's Uuid: cloud-init runs its per-instance modules again when it changes. */
  instanceId: string;
}

/** meta-data: instance-id and local-hostname. */
export function metaData(profile: OsProfile, opts: MetaDataOptions): string {
  if (opts.instanceId === "") throw new Error("meta-data needs an instance-id (the machine's Uuid), got an empty string");
  return yamlText({ "instance-id": opts.instanceId, "local-hostname": profile.hostname });
}

/** vendor-data: empty. Socle says everything in user-data; the file exists so that the seed is complete. */
export function vendorData(_profile: OsProfile): string {
  return "#cloud-config\n{}\n";
}

/** The cloud-config of the installed system (a JS object, for embedding, e.g. autoinstall's user-data key). */
export function cloudConfig(profile: OsProfile): Record<string, unknown> {
  const cfg: Record<string, unknown> = { hostname: profile.hostname, fqdn: profile.fqdn };
  cfg.users = ["default", ...profile.users.map(userEntry)];
  if (profile.adminKeys.length > 0) cfg.ssh_authorized_keys = [...profile.adminKeys];
  if (profile.adminPasswordHash !== undefined) {
    cfg.system_info = { default_user: { hashed_passwd: profile.adminPasswordHash, lock_passwd: false } };
  }
  cfg.timezone = profile.timezone;

  const ca = profile.caPem ?? profile.identity?.caPem;
  if (ca !== undefined) cfg.ca_certs = { trusted: [ca] };

  const files = writeFiles(profile, ca);
  if (files.length > 0) cfg.write_files = files;
  const run = runcmd(profile);
  if (run.length > 0) cfg.runcmd = run;
  return cfg;
}

/** user-data: "#cloud-config" and the cloud-config as YAML. */
export function userData(profile: OsProfile): string {
  return `#cloud-config\n${yamlText(cloudConfig(profile))}`;
}

/**
 * The cloud-config for Ubuntu autoinstall's `user-data` key (the installed system's first boot),
 * as YAML without the header. The admin user is autoinstall's: its `identity` section creates it
 * with the password hash and its `ssh` section gives it the keys, so the default user, its keys
 * and hash are left out here; further users, files, units, the CA and the identity stay.
 */
export function autoinstallUserData(profile: OsProfile): string {
  const cfg = cloudConfig(profile);
  delete cfg.system_info;
  delete cfg.ssh_authorized_keys;
  const users = (cfg.users as unknown[]).filter((u) => u !== "default");
  if (users.length > 0) cfg.users = users;
  else delete cfg.users;
  return yamlText(cfg);
}

function userEntry(u: OsProfile["users"][number]): Record<string, unknown> {
  const e: Record<string, unknown> = { name: u.name };
  if (u.groups.length > 0) e.groups = [...u.groups];
  if (u.sudo) e.sudo = SUDO_ALL;
  if (u.shell !== undefined) e.shell = u.shell;
  if (u.passwordHash !== undefined) {
    e.hashed_passwd = u.passwordHash;
    e.lock_passwd = false;
  }
  if (u.sshAuthorizedKeys.length > 0) e.ssh_authorized_keys = [...u.sshAuthorizedKeys];
  return e;
}

/** Octal permissions as cloud-init wants them: a string ("0644"), never a YAML number. */
export function octalMode(mode: number): string {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new Error(`file mode ${Number.isInteger(mode) ? `0${mode.toString(8)}` : mode} is not a permission between 0 and 07777`);
  return `0${mode.toString(8).padStart(3, "0")}`;
}

/** Control characters other than tab and newline (and a carriage return) cannot ride as YAML text safely. */
function needsBase64(text: string): boolean {
  return /[\x00-\x08\x0b-\x1f\x7f]/.test(text);
}

function fileEntry(f: OsFile): Record<string, unknown> {
  const e: Record<string, unknown> = { path: f.path };
  if (needsBase64(f.contents)) {
    e.encoding = "b64";
    e.content = Buffer.from(f.contents, "utf8").toString("base64");
  } else {
    e.content = f.contents;
  }
  e.permissions = octalMode(f.mode);
  e.owner = ownerOf(f.owner);
  return e;
}

function ownerOf(owner: string | undefined): string {
  if (owner === undefined) return "root:root";
  return owner.includes(":") ? owner : `${owner}:${owner}`;
}

function unitPath(u: OsUnit): string {
  return `/etc/systemd/system/${u.name}`;
}

function writeFiles(profile: OsProfile, ca: string | undefined): Array<Record<string, unknown>> {
  const out: OsFile[] = [...profile.files];
  for (const u of profile.units) {
    if (u.contents !== undefined) out.push({ path: unitPath(u), contents: u.contents, mode: 0o644 });
    for (const d of u.dropins) out.push({ path: `${unitPath(u)}.d/${d.name}`, contents: d.contents, mode: 0o644 });
  }
  if (ca !== undefined) out.push({ path: SOCLE_CA_PATH, contents: ca, mode: 0o644 });
  if (profile.identity !== undefined) {
    out.push({ path: MACHINE_CERT_PATH, contents: profile.identity.certPem, mode: 0o644 });
    out.push({ path: MACHINE_KEY_PATH, contents: profile.identity.keyPem, mode: 0o600 });
  }
  if (profile.kernelArgs.length > 0) out.push({ path: GRUB_DROPIN_PATH, contents: grubDropin(profile.kernelArgs), mode: 0o644 });
  const seen = new Set<string>();
  for (const f of out) {
    if (seen.has(f.path)) throw new ProfileError("os-files", `two files would be written to ${JSON.stringify(f.path)} (os-files, os-units, the CA, the identity and kernel args each own their paths)`);
    seen.add(f.path);
  }
  return out.map(fileEntry);
}

/**
 * The GRUB drop-in: a shell fragment that update-grub sources. Each argument is checked to be
 * plain (no quotes, "$", backquote, backslash or whitespace), so the fragment means what it says.
 */
export function grubDropin(args: string[]): string {
  for (const a of args) {
    if (a === "" || /[\s"'`$\\;&|<>]/.test(a)) {
      throw new ProfileError("os-kernel-args", `${JSON.stringify(a)} cannot be passed through GRUB's shell-sourced configuration (no quotes, "$", backquote, backslash, shell operators or whitespace)`);
    }
  }
  return `# Written by Socle (os-kernel-args) for update-grub.\nGRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX ${args.join(" ")}"\n`;
}

function runcmd(profile: OsProfile): Array<string[]> {
  const run: Array<string[]> = [];
  if (profile.units.some((u) => u.contents !== undefined || u.dropins.length > 0)) run.push(["systemctl", "daemon-reload"]);
  const enable = profile.units.filter((u) => u.enabled === true).map((u) => u.name);
  const disable = profile.units.filter((u) => u.enabled === false).map((u) => u.name);
  if (enable.length > 0) run.push(["systemctl", "enable", "--now", ...enable]);
  if (disable.length > 0) run.push(["systemctl", "disable", "--now", ...disable]);
  if (profile.kernelArgs.length > 0) run.push(["sh", "-c", "if command -v update-grub >/dev/null 2>&1; then update-grub; fi"]);
  return run;
}

/**
 * Without os-network the file holds only a comment, which cloud-init reads as no network config
 * at all: its fallback applies (DHCP on the first connected NIC), the image's own default. A v2
 * match on every name ("e*") would say more than the profile does, and cloud-init 22.4's ENI
 * renderer takes the device key of such a match as an interface name.
 */
export const NO_NETWORK_CONFIG = "# No os-network for this machine: cloud-init's fallback applies (DHCP on the first connected NIC).\n";

/** network-config version 2 (netplan's format, as cloud-init reads it). */
export function networkConfig(profile: OsProfile): string {
  const cfg = networkConfigObject(profile.network);
  return cfg === null ? NO_NETWORK_CONFIG : yamlText(cfg);
}

/** The network-config as an object; null without os-network. */
export function networkConfigObject(net: OsNetwork | undefined): Record<string, unknown> | null {
  if (net === undefined) return null;
  const dns = (ip: IpConfig): Record<string, unknown> => {
    if (!ip.dhcp4 && ip.addresses.length === 0) return {};
    const ns: Record<string, unknown> = {};
    if (net.nameservers.length > 0) ns.addresses = [...net.nameservers];
    if (net.searchDomains.length > 0) ns.search = [...net.searchDomains];
    return Object.keys(ns).length > 0 ? { nameservers: ns } : {};
  };
  const cfg: Record<string, unknown> = { version: 2 };
  if (net.interfaces.length > 0) {
    const eth: Record<string, unknown> = {};
    for (const i of net.interfaces) {
      const match = i.mac !== undefined ? { match: { macaddress: i.mac }, "set-name": i.name } : {};
      eth[i.name] = { ...match, ...ipConfig(i), ...dns(i) };
    }
    cfg.ethernets = eth;
  }
  if (net.bonds.length > 0) {
    const bonds: Record<string, unknown> = {};
    for (const b of net.bonds) bonds[b.name] = { interfaces: [...b.interfaces], parameters: { mode: b.mode }, ...ipConfig(b), ...dns(b) };
    cfg.bonds = bonds;
  }
  if (net.vlans.length > 0) {
    const vlans: Record<string, unknown> = {};
    for (const v of net.vlans) vlans[v.name] = { id: v.id, link: v.link, ...ipConfig(v), ...dns(v) };
    cfg.vlans = vlans;
  }
  return cfg;
}

function ipConfig(ip: IpConfig): Record<string, unknown> {
  const o: Record<string, unknown> = { dhcp4: ip.dhcp4 };
  if (ip.addresses.length > 0) o.addresses = [...ip.addresses];
  if (ip.gateway4 !== undefined) o.routes = [{ to: "0.0.0.0/0", via: ip.gateway4 }];
  if (ip.mtu !== undefined) o.mtu = ip.mtu;
  return o;
}
