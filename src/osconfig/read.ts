// OsProfile from a machine's resolved params: the one place that reads the profile params and
// checks what their JSON Schemas cannot say (an address is a CIDR, a gateway lies in a subnet of
// its link, bond members and VLAN links exist, names and paths are unique, file paths are
// absolute and normalised, unit names carry a unit type). Values arrive as resolved, possibly
// from an older write or a Param default, so every shape is checked again here; a bad value is a
// ProfileError naming the param, where in it, and the value: never a silently partial profile.

import { SECURE_MARKER } from "../model/secure-params.ts";
import { contains, parseCidr, parseIp } from "./net-address.ts";
import type { BondMode, IpConfig, NetBond, NetInterface, NetVlan, OsFile, OsIdentity, OsNetwork, OsProfile, OsUnit, OsUnitDropin, OsUser } from "./profile.ts";

export interface ProfileSource {
  machineName: string;
  /** The machine's hardware addresses; the first names a host whose Name gives no label. */
  macs: string[];
  /** A resolved param's value; called only for names paramExists() confirmed. */
  param(name: string): unknown;
  paramExists(name: string): boolean;
  caPem?: string;
  identity?: OsIdentity;
}

/** A profile param holds a value the profile cannot use; `param` names it, the message quotes the value. */
export class ProfileError extends Error {
  constructor(
    readonly param: string,
    detail: string,
  ) {
    super(`${param}: ${detail}`);
    this.name = "ProfileError";
  }
}

const q = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
};

export const BOND_MODES: readonly BondMode[] = ["active-backup", "802.3ad", "balance-rr", "balance-xor", "broadcast", "balance-tlb", "balance-alb"];

/** Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no "/" or white space. */
const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
/** shadow-utils' default NAME_REGEX, as useradd checks it. */
const ACCOUNT = /^[a-z_][a-z0-9_-]{0,31}$/;
const CRYPT = /^\$(6|5|y|2[aby])\$[./A-Za-z0-9$=,]+$/;
const SSH_KEY = /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( [^\x00-\x1f]*)?$/;
/** systemd.unit(5): name chars, then one of the unit types. Templates ("x@.service", "x@a.service") included. */
const UNIT = /^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/;
const DROPIN = /^[A-Za-z0-9:_.@-]+\.conf$/;
const MAC = /^([0-9A-Fa-f]{2})([:-][0-9A-Fa-f]{2}){5}$/;
const DOMAIN = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const TIMEZONE = /^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/;

/** The machine's host name as a DNS label (it.Machine.HostName, which common-hostname.tmpl writes; the metadata service's hostname). */
export function hostLabel(machineName: string, macs: string[]): string {
  const label = machineName.split(".")[0]!.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63);
  if (label) return label;
  const raw = (macs[0] ?? "").toLowerCase().replace(/[^0-9a-f]/g, "");
  return `host${raw}`;
}

/** An absolute path without empty, "." or ".." segments, no trailing "/", no control characters. */
export function isNormalPath(p: string): boolean {
  if (!p.startsWith("/") || p === "/" || p.endsWith("/") || /[\x00-\x1f]/.test(p)) return false;
  return p
    .slice(1)
    .split("/")
    .every((s) => s !== "" && s !== "." && s !== "..");
}

/** Reads one param's value with the param's name in every error. */
class Reader {
  constructor(readonly param: string) {}

  fail(where: string, detail: string): never {
    throw new ProfileError(this.param, where ? `${where}: ${detail}` : detail);
  }

  object(v: unknown, where: string, keys: readonly string[]): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(where, `expected an object, got ${q(v)}`);
    for (const k of Object.keys(v)) if (!keys.includes(k)) this.fail(where, `unknown field ${q(k)}; known: ${keys.join(", ")}`);
    return v as Record<string, unknown>;
  }

  array(v: unknown, where: string): unknown[] {
    if (v === undefined) return [];
    if (!Array.isArray(v)) this.fail(where, `expected a list, got ${q(v)}`);
    return v;
  }

  string(v: unknown, where: string, re?: RegExp, what?: string): string {
    if (typeof v !== "string") this.fail(where, `expected a string, got ${q(v)}`);
    if (re && !re.test(v)) this.fail(where, `${q(v)} is not ${what ?? `matched by ${re.source}`}`);
    return v;
  }

  optString(v: unknown, where: string, re?: RegExp, what?: string): string | undefined {
    return v === undefined ? undefined : this.string(v, where, re, what);
  }

  strings(v: unknown, where: string, re?: RegExp, what?: string): string[] {
    return this.array(v, where).map((x, i) => this.string(x, `${where}[${i}]`, re, what));
  }

  bool(v: unknown, where: string, dflt: boolean): boolean {
    if (v === undefined) return dflt;
    if (typeof v !== "boolean") this.fail(where, `expected true or false, got ${q(v)}`);
    return v;
  }

  int(v: unknown, where: string, min: number, max: number): number {
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) this.fail(where, `expected an integer from ${min} to ${max}, got ${q(v)}`);
    return v;
  }

  unique(names: string[], where: string, what: string): void {
    const seen = new Set<string>();
    for (const n of names) {
      if (seen.has(n)) this.fail(where, `${what} ${q(n)} appears twice`);
      seen.add(n);
    }
  }
}

/** A param's value, or undefined when unset; a value withheld from this caller ("[secure]") is an error, not a guess. */
function valueOf(src: ProfileSource, name: string): unknown {
  if (!src.paramExists(name)) return undefined;
  const v = src.param(name);
  if (v === SECURE_MARKER) throw new ProfileError(name, `its value is withheld ("${SECURE_MARKER}"): reading this profile needs the getSecure claim on the machine or profile that sets it`);
  return v;
}

export function readProfile(src: ProfileSource): OsProfile {
  const hostname = hostLabel(src.machineName, src.macs);
  const domain = valueOf(src, "dns-domain");
  const dom = domain === undefined || domain === "" ? "" : new Reader("dns-domain").string(domain, "", DOMAIN, "a DNS domain");
  const profile: OsProfile = {
    hostname,
    fqdn: dom ? `${hostname}.${dom}` : hostname,
    adminKeys: readAdminKeys(valueOf(src, "access-keys")),
    users: readUsers(valueOf(src, "os-users")),
    files: readFiles(valueOf(src, "os-files")),
    units: readUnits(valueOf(src, "os-units")),
    kernelArgs: readKernelArgs(valueOf(src, "os-kernel-args")),
    // The Param's default; a profile always names a disk, and the installers erase only the one named.
    installDisk: "/dev/sda",
    timezone: "Etc/UTC",
  };
  const hash = valueOf(src, "provisioner-default-password-hash");
  if (hash !== undefined) profile.adminPasswordHash = new Reader("provisioner-default-password-hash").string(hash, "", CRYPT, "a crypt(3) hash ($6$..., $5$..., $y$..., $2b$...)");
  const network = valueOf(src, "os-network");
  if (network !== undefined && network !== null) profile.network = readNetwork(network);
  const disk = valueOf(src, "operating-system-disk");
  if (disk !== undefined) profile.installDisk = new Reader("operating-system-disk").string(disk, "", /^\/dev\/[A-Za-z0-9/_.-]+$/, "a device path under /dev");
  const tz = valueOf(src, "timezone");
  if (tz !== undefined) profile.timezone = new Reader("timezone").string(tz, "", TIMEZONE, "a tz database name (Area/City)");
  if (src.caPem) profile.caPem = src.caPem;
  if (src.identity) profile.identity = src.identity;
  return profile;
}

function readAdminKeys(v: unknown): string[] {
  if (v === undefined) return [];
  const r = new Reader("access-keys");
  const keys = r.object(v, "", typeof v === "object" && v !== null ? Object.keys(v) : []);
  // By label, whatever order the map was written in (the metadata service's order too).
  return Object.entries(keys)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([label, key]) => r.string(key, label, SSH_KEY, "one SSH public key line"));
}

const USER_KEYS = ["name", "passwordHash", "sshAuthorizedKeys", "groups", "sudo", "shell"] as const;

function readUsers(v: unknown): OsUser[] {
  const r = new Reader("os-users");
  const users = r.array(v, "").map((x, i): OsUser => {
    const at = `[${i}]`;
    const u = r.object(x, at, USER_KEYS);
    const user: OsUser = {
      name: r.string(u.name, `${at}.name`, ACCOUNT, "a user name (lower-case letter or _, then letters, digits, _ or -; at most 32)"),
      sshAuthorizedKeys: r.strings(u.sshAuthorizedKeys, `${at}.sshAuthorizedKeys`, SSH_KEY, "one SSH public key line"),
      groups: r.strings(u.groups, `${at}.groups`, ACCOUNT, "a group name"),
      sudo: r.bool(u.sudo, `${at}.sudo`, false),
    };
    const hash = r.optString(u.passwordHash, `${at}.passwordHash`, CRYPT, "a crypt(3) hash");
    if (hash !== undefined) user.passwordHash = hash;
    const shell = r.optString(u.shell, `${at}.shell`, /^\/[A-Za-z0-9/_.+-]*$/, "an absolute path");
    if (shell !== undefined) user.shell = shell;
    if (shell !== undefined && !isNormalPath(shell)) r.fail(`${at}.shell`, `${q(shell)} is not a normalised absolute path`);
    r.unique(user.groups, `${at}.groups`, "group");
    return user;
  });
  r.unique(
    users.map((u) => u.name),
    "",
    "user",
  );
  return users;
}

const FILE_KEYS = ["path", "contents", "mode", "owner"] as const;

/** A mode as a number (420) or as octal text ("0644", "644", "0o644"), to 0o7777. */
function readMode(r: Reader, v: unknown, where: string): number {
  if (v === undefined) return 0o644;
  if (typeof v === "string") {
    const m = /^(?:0o?)?([0-7]{1,4})$/.exec(v);
    if (!m) r.fail(where, `${q(v)} is not an octal mode (e.g. "0644")`);
    return parseInt(m[1]!, 8);
  }
  return r.int(v, where, 0, 0o7777);
}

function readFiles(v: unknown): OsFile[] {
  const r = new Reader("os-files");
  const files = r.array(v, "").map((x, i): OsFile => {
    const at = `[${i}]`;
    const f = r.object(x, at, FILE_KEYS);
    const path = r.string(f.path, `${at}.path`);
    if (!isNormalPath(path)) r.fail(`${at}.path`, `${q(path)} is not a normalised absolute path (starts with /, no "//", "." or ".." segments, no trailing /)`);
    const file: OsFile = { path, contents: r.string(f.contents ?? "", `${at}.contents`), mode: readMode(r, f.mode, `${at}.mode`) };
    const owner = r.optString(f.owner, `${at}.owner`, /^[a-z_][a-z0-9_-]{0,31}(:[a-z_][a-z0-9_-]{0,31})?$/, 'an owner ("user" or "user:group")');
    if (owner !== undefined) file.owner = owner;
    return file;
  });
  r.unique(
    files.map((f) => f.path),
    "",
    "path",
  );
  return files;
}

function readUnits(v: unknown): OsUnit[] {
  const r = new Reader("os-units");
  const units = r.array(v, "").map((x, i): OsUnit => {
    const at = `[${i}]`;
    const u = r.object(x, at, ["name", "contents", "enabled", "dropins"]);
    const name = r.string(u.name, `${at}.name`, UNIT, "a unit name with its type (e.g. \"app.service\", \"backup.timer\")");
    if (name.length > 255) r.fail(`${at}.name`, `${q(name)} is longer than 255 characters`);
    const dropins = r.array(u.dropins, `${at}.dropins`).map((d, j): OsUnitDropin => {
      const dat = `${at}.dropins[${j}]`;
      const o = r.object(d, dat, ["name", "contents"]);
      return { name: r.string(o.name, `${dat}.name`, DROPIN, 'a drop-in file name ending in ".conf"'), contents: r.string(o.contents, `${dat}.contents`) };
    });
    r.unique(
      dropins.map((d) => d.name),
      `${at}.dropins`,
      "drop-in",
    );
    const unit: OsUnit = { name, dropins };
    const contents = r.optString(u.contents, `${at}.contents`);
    if (contents !== undefined) unit.contents = contents;
    if (u.enabled !== undefined) unit.enabled = r.bool(u.enabled, `${at}.enabled`, false);
    return unit;
  });
  r.unique(
    units.map((u) => u.name),
    "",
    "unit",
  );
  return units;
}

function readKernelArgs(v: unknown): string[] {
  const r = new Reader("os-kernel-args");
  return r.strings(v, "", /^[^\s"'\\]+$/, "one kernel argument (no white space, quotes or backslashes)");
}

// ---- network ------------------------------------------------------------------------------------

function readIp(r: Reader, o: Record<string, unknown>, at: string): IpConfig {
  const addresses = r.strings(o.addresses, `${at}.addresses`);
  const cidrs = addresses.map((a, i) => {
    const c = parseCidr(a);
    if (!c) r.fail(`${at}.addresses[${i}]`, `${q(a)} is not an address in CIDR notation (e.g. "198.51.100.20/24", "2001:db8::20/64")`);
    return c;
  });
  r.unique(addresses, `${at}.addresses`, "address");
  const ip: IpConfig = { dhcp4: r.bool(o.dhcp4, `${at}.dhcp4`, false), addresses };
  const gw = r.optString(o.gateway4, `${at}.gateway4`);
  if (gw !== undefined) {
    const g = parseIp(gw);
    if (!g || g.family !== 4) r.fail(`${at}.gateway4`, `${q(gw)} is not an IPv4 address`);
    if (!cidrs.some((c) => contains(c, g))) {
      r.fail(`${at}.gateway4`, `${q(gw)} lies in none of this link's IPv4 subnets (${cidrs.filter((c) => c.family === 4).length ? addresses.filter((_, i) => cidrs[i]!.family === 4).join(", ") : "it has no static IPv4 address"})`);
    }
    ip.gateway4 = gw;
  }
  if (o.mtu !== undefined) ip.mtu = r.int(o.mtu, `${at}.mtu`, 68, 65535);
  return ip;
}

const IP_KEYS = ["dhcp4", "addresses", "gateway4", "mtu"] as const;

function readNetwork(v: unknown): OsNetwork {
  const r = new Reader("os-network");
  const o = r.object(v, "", ["interfaces", "bonds", "vlans", "nameservers", "searchDomains"]);
  const ifname = (x: unknown, at: string) => r.string(x, at, IFNAME, "an interface name (letters, digits, _ . -; at most 15)");

  const interfaces = r.array(o.interfaces, "interfaces").map((x, i): NetInterface => {
    const at = `interfaces[${i}]`;
    const n = r.object(x, at, ["name", "mac", ...IP_KEYS]);
    const nic: NetInterface = { name: ifname(n.name, `${at}.name`), ...readIp(r, n, at) };
    const mac = r.optString(n.mac, `${at}.mac`, MAC, 'a MAC address ("52:54:00:12:34:56")');
    if (mac !== undefined) nic.mac = mac.toLowerCase().replace(/-/g, ":");
    return nic;
  });
  const bonds = r.array(o.bonds, "bonds").map((x, i): NetBond => {
    const at = `bonds[${i}]`;
    const b = r.object(x, at, ["name", "interfaces", "mode", ...IP_KEYS]);
    const mode = r.string(b.mode ?? "active-backup", `${at}.mode`);
    if (!(BOND_MODES as readonly string[]).includes(mode)) r.fail(`${at}.mode`, `${q(mode)} is not a bond mode; known: ${BOND_MODES.join(", ")}`);
    const members = r.strings(b.interfaces, `${at}.interfaces`);
    if (members.length === 0) r.fail(`${at}.interfaces`, "a bond needs at least one member interface");
    return { name: ifname(b.name, `${at}.name`), interfaces: members, mode: mode as BondMode, ...readIp(r, b, at) };
  });
  const vlans = r.array(o.vlans, "vlans").map((x, i): NetVlan => {
    const at = `vlans[${i}]`;
    const l = r.object(x, at, ["name", "id", "link", ...IP_KEYS]);
    return { name: ifname(l.name, `${at}.name`), id: r.int(l.id, `${at}.id`, 1, 4094), link: r.string(l.link, `${at}.link`), ...readIp(r, l, at) };
  });

  r.unique([...interfaces, ...bonds, ...vlans].map((n) => n.name), "", "interface name");
  r.unique(interfaces.flatMap((n) => (n.mac ? [n.mac] : [])), "interfaces", "MAC");
  const nicNames = new Set(interfaces.map((n) => n.name));
  const enslaved = new Map<string, string>();
  bonds.forEach((b, i) =>
    b.interfaces.forEach((m, j) => {
      const at = `bonds[${i}].interfaces[${j}]`;
      if (!nicNames.has(m)) r.fail(at, `${q(m)} is not one of the interfaces (${[...nicNames].join(", ") || "none listed"}); list each bond member under interfaces`);
      const other = enslaved.get(m);
      if (other !== undefined) r.fail(at, `${q(m)} is already a member of bond ${q(other)}`);
      enslaved.set(m, b.name);
      const nic = interfaces.find((n) => n.name === m)!;
      if (nic.dhcp4 || nic.addresses.length > 0) r.fail(at, `${q(m)} is a bond member and so carries no addresses of its own (set them on ${q(b.name)})`);
    }),
  );
  const links = new Set([...nicNames, ...bonds.map((b) => b.name)]);
  vlans.forEach((l, i) => {
    if (!links.has(l.link)) r.fail(`vlans[${i}].link`, `${q(l.link)} is neither an interface nor a bond of this profile`);
    if (enslaved.has(l.link)) r.fail(`vlans[${i}].link`, `${q(l.link)} is a member of bond ${q(enslaved.get(l.link))}; put the VLAN on the bond`);
  });
  const tags = new Set<string>();
  vlans.forEach((l, i) => {
    const key = `${l.link}/${l.id}`;
    if (tags.has(key)) r.fail(`vlans[${i}].id`, `VLAN ${l.id} on ${q(l.link)} appears twice`);
    tags.add(key);
  });

  const nameservers = r.strings(o.nameservers, "nameservers");
  nameservers.forEach((s, i) => {
    if (!parseIp(s)) r.fail(`nameservers[${i}]`, `${q(s)} is not an IP address`);
  });
  const searchDomains = r.strings(o.searchDomains, "searchDomains", DOMAIN, "a DNS domain");
  return { interfaces, bonds, vlans, nameservers, searchDomains };
}
