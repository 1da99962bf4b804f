// One description of a machine's OS configuration, read from params, rendered per format:
// Ignition (Flatcar, Fedora CoreOS), cloud-init NoCloud, Talos machine config, LinuxKit
// metaldata. Pure: no I/O; the renderers in this folder take an OsProfile and return text.
//
// The params (bootenvs/common/params/):
//   hostname          the machine's Name as a DNS label (common-hostname.tmpl's rule) + dns-domain
//   access-keys       SSH keys of the admin user (core / root / the image's default user)
//   provisioner-default-password-hash   the admin user's crypt hash, when set
//   os-users          further users
//   os-network        static or DHCP interfaces, bonds, VLANs, DNS; absent: DHCP everywhere
//   os-files          files to write
//   os-units          systemd units (with drop-ins), enabled or not
//   os-kernel-args    extra kernel arguments for the installed system
//   operating-system-disk   the disk to install to
//   timezone          tz database name

/** A user besides the admin user. */
export interface OsUser {
  name: string;
  /** crypt(3) hash; absent: no password login. */
  passwordHash?: string;
  sshAuthorizedKeys: string[];
  /** Supplementary groups ("wheel", "sudo", "docker"...). */
  groups: string[];
  /** Whether the user may run anything as root without a password (sudoers drop-in). */
  sudo: boolean;
  /** Login shell; absent: the OS's default. */
  shell?: string;
}

/** The addressing shared by interfaces, bonds and VLANs. */
export interface IpConfig {
  /** DHCPv4 on this link. */
  dhcp4: boolean;
  /** Static addresses in CIDR notation ("198.51.100.20/24"); IPv6 allowed. */
  addresses: string[];
  /** Default IPv4 gateway reached through this link. */
  gateway4?: string;
  mtu?: number;
}

/** A physical interface, named as the installed OS will name it, or matched by MAC. */
export interface NetInterface extends IpConfig {
  name: string;
  /** Lower-case colon MAC; when set the interface is matched by it rather than by name. */
  mac?: string;
}

export type BondMode = "active-backup" | "802.3ad" | "balance-rr" | "balance-xor" | "broadcast" | "balance-tlb" | "balance-alb";

export interface NetBond extends IpConfig {
  name: string;
  /** Names of members (each also listed in interfaces, usually without addresses). */
  interfaces: string[];
  mode: BondMode;
}

export interface NetVlan extends IpConfig {
  name: string;
  id: number;
  /** The interface or bond the VLAN rides on. */
  link: string;
}

export interface OsNetwork {
  interfaces: NetInterface[];
  bonds: NetBond[];
  vlans: NetVlan[];
  nameservers: string[];
  searchDomains: string[];
}

export interface OsFile {
  /** Absolute path, normalised (no "..", no "//"). */
  path: string;
  /** UTF-8 text contents. */
  contents: string;
  /** Permission bits, e.g. 0o644. */
  mode: number;
  /** "user" or "user:group"; absent: root. */
  owner?: string;
}

export interface OsUnitDropin {
  name: string;
  contents: string;
}

export interface OsUnit {
  /** "name.service", "name.timer"... */
  name: string;
  /** Absent: an existing unit only enabled/masked or given drop-ins. */
  contents?: string;
  enabled?: boolean;
  dropins: OsUnitDropin[];
}

/** The machine's own certificate from Socle's CA (it.MachineCert()), when the format carries it. */
export interface OsIdentity {
  certPem: string;
  keyPem: string;
  caPem: string;
}

export interface OsProfile {
  /** Short host name (a DNS label). */
  hostname: string;
  /** hostname + "." + dns-domain. */
  fqdn: string;
  /** The admin user's SSH keys (access-keys values, in label order). */
  adminKeys: string[];
  adminPasswordHash?: string;
  users: OsUser[];
  /** undefined: DHCP on every interface, the OS's default. */
  network?: OsNetwork;
  files: OsFile[];
  units: OsUnit[];
  kernelArgs: string[];
  /** Device path of the install disk. */
  installDisk: string;
  timezone: string;
  /** Socle's CA PEM (it.CaCert), written to /etc/socle/ca.pem when set. */
  caPem?: string;
  identity?: OsIdentity;
}
