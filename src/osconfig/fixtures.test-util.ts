// OsProfile fixtures shared by the renderers' tests and the cloud-init schema check.

import type { OsProfile } from "./profile.ts";

export const CERT_PEM = "-----BEGIN CERTIFICATE-----\nTWFjaGluZUNlcnRNYWNoaW5lQ2VydA==\n-----END CERTIFICATE-----\n";
export const KEY_PEM = "-----BEGIN EC PRIVATE KEY-----\nTWFjaGluZUtleU1hY2hpbmVLZXk=\n-----END EC PRIVATE KEY-----\n";
export const CA_PEM = "-----BEGIN CERTIFICATE-----\nU29jbGVDQVNvY2xlQ0FTb2NsZUNB\n-----END CERTIFICATE-----\n";
export const HASH = "$6$saltsalt$Qm9ndXMgaGFzaCBmb3IgdGVzdHMgb25seQ";

export function minimalProfile(): OsProfile {
  return {
    hostname: "n1",
    fqdn: "n1.example.org",
    adminKeys: [],
    users: [],
    files: [],
    units: [],
    kernelArgs: [],
    installDisk: "/dev/sda",
    timezone: "Etc/UTC",
  };
}

export function fullProfile(): OsProfile {
  return {
    hostname: "web-7",
    fqdn: "web-7.dc1.example.org",
    adminKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdmin admin@site"],
    adminPasswordHash: HASH,
    users: [
      { name: "ops", passwordHash: "$6$opsSalt$b3BzaGFzaA", sshAuthorizedKeys: ["ssh-rsa AAAAB3NzaC1yc2EAAAA ops@site"], groups: ["adm", "docker"], sudo: true, shell: "/bin/bash" },
      { name: "backup", sshAuthorizedKeys: [], groups: [], sudo: false },
    ],
    network: {
      interfaces: [
        { name: "eno1", mac: "52:54:00:aa:bb:01", dhcp4: false, addresses: [], mtu: 9000 },
        { name: "eno2", mac: "52:54:00:aa:bb:02", dhcp4: false, addresses: [] },
        { name: "eth2", dhcp4: true, addresses: [] },
      ],
      bonds: [{ name: "bond0", interfaces: ["eno1", "eno2"], mode: "802.3ad", dhcp4: false, addresses: ["198.51.100.20/24", "2001:db8::20/64"], gateway4: "198.51.100.1", mtu: 9000 }],
      vlans: [{ name: "bond0.42", id: 42, link: "bond0", dhcp4: false, addresses: ["203.0.113.5/28"] }],
      nameservers: ["198.51.100.53", "2001:db8::53"],
      searchDomains: ["dc1.example.org", "example.org"],
    },
    files: [
      { path: "/etc/motd", contents: "Welcome to web-7\n", mode: 0o644 },
      { path: "/var/lib/app/config.json", contents: '{"a": 1}\n', mode: 0o640, owner: "app:app" },
      { path: "/etc/binaryish", contents: "bell\x07 and escape\x1b[0m\n", mode: 0o600, owner: "ops" },
    ],
    units: [
      { name: "app.service", contents: "[Unit]\nDescription=App\n\n[Service]\nExecStart=/usr/bin/app\n\n[Install]\nWantedBy=multi-user.target\n", enabled: true, dropins: [] },
      { name: "ssh.service", enabled: undefined, dropins: [{ name: "10-socle.conf", contents: "[Service]\nEnvironment=SOCLE=1\n" }] },
      { name: "bluetooth.service", enabled: false, dropins: [] },
    ],
    kernelArgs: ["console=ttyS0,115200n8", "intel_iommu=on"],
    installDisk: "/dev/nvme0n1",
    timezone: "Europe/Paris",
    caPem: CA_PEM,
    identity: { certPem: CERT_PEM, keyPem: KEY_PEM, caPem: CA_PEM },
  };
}

/** Static network only: one NIC by MAC, a VLAN on it. */
export function staticProfile(): OsProfile {
  return {
    ...minimalProfile(),
    hostname: "db-1",
    fqdn: "db-1.example.org",
    network: {
      interfaces: [{ name: "ens3", mac: "52:54:00:12:34:56", dhcp4: false, addresses: ["198.51.100.30/24"], gateway4: "198.51.100.1" }],
      bonds: [],
      vlans: [{ name: "ens3.100", id: 100, link: "ens3", dhcp4: true, addresses: [] }],
      nameservers: ["198.51.100.53"],
      searchDomains: [],
    },
  };
}

export function identityProfile(): OsProfile {
  return { ...minimalProfile(), identity: { certPem: CERT_PEM, keyPem: KEY_PEM, caPem: CA_PEM } };
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");
const fakeCert = (name: string): string => b64(`-----BEGIN CERTIFICATE-----\n${b64(`${name} certificate`)}\n-----END CERTIFICATE-----\n`);
const fakeKey = (name: string): string => b64(`-----BEGIN EC PRIVATE KEY-----\n${b64(`${name} key`)}\n-----END EC PRIVATE KEY-----\n`);

/** A secrets bundle shaped as `talosctl gen secrets` writes it (placeholder PEM bodies). */
export function talosSecretsYaml(): string {
  const pair = (n: string) => `        crt: ${fakeCert(n)}\n        key: ${fakeKey(n)}\n`;
  return [
    "cluster:",
    "    id: Y2x1c3Rlci1pZC1mb3ItdGVzdHMtb25seS1ub3QtcmVhbA==",
    "    secret: Y2x1c3Rlci1zZWNyZXQtZm9yLXRlc3RzLW9ubHk=",
    "secrets:",
    "    bootstraptoken: abcdef.0123456789abcdef",
    "    secretboxencryptionsecret: c2VjcmV0Ym94LXNlY3JldC1mb3ItdGVzdHMtb25seQ==",
    "trustdinfo:",
    "    token: trustd.0123456789abcdef",
    "certs:",
    "    etcd:",
    pair("etcd") + "    k8s:",
    pair("k8s") + "    k8saggregator:",
    pair("k8saggregator") + "    k8sserviceaccount:",
    `        key: ${fakeKey("k8sserviceaccount")}`,
    "    os:",
    pair("os"),
  ].join("\n");
}

export const TALOS_CLUSTER = { name: "lab", endpoint: "https://198.51.100.10:6443", role: "worker", installImage: "ghcr.io/siderolabs/installer:v1.8.3" };
