// The shipped NoCloud seed templates (common-nocloud-*.tmpl) and the Talos config template,
// rendered through the real engine and it.OsConfig for a machine with OS-profile params: each
// serves exactly what its renderer in src/osconfig makes of the same profile, a param change
// shows in every one of them, and a bad param is an error naming it (never half a file).

import { describe, expect, test } from "bun:test";
import YAML from "yaml";
import { agentFacts } from "../src/assets/agent-files.ts";
import { buildContentLayer } from "../src/content/layer.ts";
import { SHIPPED_FILES } from "../src/content/shipped.ts";
import { TALOS_CLUSTER, talosSecretsYaml } from "../src/osconfig/fixtures.test-util.ts";
import { metaData, networkConfig, userData, vendorData } from "../src/osconfig/nocloud.ts";
import { readProfile } from "../src/osconfig/read.ts";
import { TemplateEngine, envView, machineView, renderContext } from "../src/render/index.ts";

const PROVISIONER = "http://198.51.100.1:8091";
const MACHINE = { Uuid: "6d1f0c2e-8a4b-4c3d-9e5f-112233445566", Name: "web-7", Address: "198.51.100.70", HardwareAddrs: ["52:54:00:aa:bb:01"], Arch: "amd64", BootEnv: "x" };

/** What it.MachineCert() returns (placeholder PEM bodies). */
const CERT = { Cert: "-----BEGIN CERTIFICATE-----\nTWFjaGluZQ==\n-----END CERTIFICATE-----\n", Key: "-----BEGIN PRIVATE KEY-----\nS2V5\n-----END PRIVATE KEY-----\n", Ca: "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n" };
const IDENTITY = { certPem: CERT.Cert, keyPem: CERT.Key, caPem: CERT.Ca };

const layer = buildContentLayer(SHIPPED_FILES);
const engine = new TemplateEngine();
for (const [id, t] of layer.objects.get("templates") ?? new Map()) engine.set(id, String(t.Contents));

const PARAMS: Record<string, unknown> = {
  "dns-domain": "dc1.example.org",
  "access-keys": { admin: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdmin admin@site" },
  "provisioner-default-password-hash": "$6$saltsalt$Qm9ndXMgaGFzaA",
  "os-users": [{ name: "ops", groups: ["adm"], sudo: true, sshAuthorizedKeys: [] }],
  "os-network": {
    interfaces: [{ name: "ens3", mac: "52:54:00:aa:bb:01", addresses: ["198.51.100.70/24"], gateway4: "198.51.100.1" }],
    nameservers: ["198.51.100.53"],
  },
  "os-files": [{ path: "/var/lib/app/app.conf", contents: "x=1\n", mode: "0640" }],
  "os-kernel-args": ["console=ttyS0,115200n8"],
  "operating-system-disk": "/dev/vda",
  timezone: "Europe/Paris",
  "talos-cluster": TALOS_CLUSTER,
  "talos-secrets": talosSecretsYaml(),
};

function render(id: string, params: Record<string, unknown>): string {
  const env = envView({ Name: "x", OS: { Name: "x", Family: "ubuntu" }, Kernel: "k", Initrds: [] }, PROVISIONER, () => "");
  const ctx = renderContext({
    machine: machineView(MACHINE, PROVISIONER),
    env,
    provisionerAddress: "198.51.100.1",
    provisionerURL: PROVISIONER,
    apiURL: "https://198.51.100.1:8092",
    apiPin: "",
    caCert: "",
    param: (n) => {
      if (!(n in params)) throw new Error(`parameter ${JSON.stringify(n)} is not set`);
      return params[n];
    },
    paramExists: (n) => n in params,
    generateToken: () => "t",
    machineCert: () => CERT,
    machineCertAvailable: true,
    agent: agentFacts(),
  });
  return engine.render(id, ctx);
}

const profileOf = (params: Record<string, unknown>) =>
  readProfile({ machineName: MACHINE.Name, macs: MACHINE.HardwareAddrs, param: (n) => params[n], paramExists: (n) => n in params });

describe("NoCloud seed templates", () => {
  const p = profileOf(PARAMS);

  test("each template serves its renderer's output for the machine's profile", () => {
    expect(render("common-nocloud-user-data.tmpl", PARAMS)).toBe(userData({ ...p, identity: IDENTITY }));
    expect(render("common-nocloud-network-config.tmpl", PARAMS)).toBe(networkConfig(p));
    expect(render("common-nocloud-meta-data.tmpl", PARAMS)).toBe(metaData(p, { instanceId: MACHINE.Uuid }));
    expect(render("common-nocloud-vendor-data.tmpl", PARAMS)).toBe(vendorData(p));
  });

  test("the profile's params reach the files", () => {
    const ud = YAML.parse(render("common-nocloud-user-data.tmpl", PARAMS), { version: "1.1" });
    expect(ud.fqdn).toBe("web-7.dc1.example.org");
    expect(ud.timezone).toBe("Europe/Paris");
    expect(ud.users[1]).toMatchObject({ name: "ops", sudo: "ALL=(ALL) NOPASSWD:ALL" });
    expect(ud.write_files[0]).toMatchObject({ path: "/var/lib/app/app.conf", permissions: "0640" });
    expect(ud.write_files.find((f: { path: string }) => f.path === "/etc/socle/machine.key")).toMatchObject({ content: CERT.Key, permissions: "0600" });
    const nc = YAML.parse(render("common-nocloud-network-config.tmpl", PARAMS), { version: "1.1" });
    expect(nc.ethernets.ens3.addresses).toEqual(["198.51.100.70/24"]);
  });

  test("a param change shows in user-data, network-config and meta-data", () => {
    const changed = { ...PARAMS, "dns-domain": "dc2.example.org", "os-network": { interfaces: [{ name: "ens3", dhcp4: true }] } };
    expect(render("common-nocloud-user-data.tmpl", changed)).toContain("fqdn: web-7.dc2.example.org");
    expect(render("common-nocloud-network-config.tmpl", changed)).toContain("dhcp4: true");
  });

  test("a bad param is an error naming it", () => {
    expect(() => render("common-nocloud-user-data.tmpl", { ...PARAMS, "os-kernel-args": ["a=$(reboot)"] })).toThrow("os-kernel-args");
    expect(() => render("common-nocloud-network-config.tmpl", { ...PARAMS, "os-network": { interfaces: [{ name: "ens3", addresses: ["300.1.1.1/24"] }] } })).toThrow("os-network");
  });
});

describe("Talos config template", () => {
  test("generated from the profile and the talos params", () => {
    const c = YAML.parse(render("talos-config.tmpl", PARAMS));
    expect(c.machine.network.hostname).toBe("web-7");
    expect(c.machine.install.disk).toBe("/dev/vda");
    expect(c.machine.install.extraKernelArgs).toEqual(["console=ttyS0,115200n8"]);
    expect(c.machine.files[0]).toEqual({ content: "x=1\n", permissions: 0o640, path: "/var/lib/app/app.conf", op: "create" });
    expect(c.cluster.clusterName).toBe("lab");
    expect(c.machine.files.map((f: { path: string }) => f.path)).toEqual(["/var/lib/app/app.conf", "/var/socle/ca.pem", "/var/socle/machine.crt", "/var/socle/machine.key"]);
  });

  test("talos-config-patch is merged", () => {
    const c = YAML.parse(render("talos-config.tmpl", { ...PARAMS, "talos-config-patch": "machine:\n  certSANs: [k8s.example.org]\n" }));
    expect(c.machine.certSANs).toEqual(["k8s.example.org"]);
  });

  test("talos-machine-config, when set, is served as it is", () => {
    expect(render("talos-config.tmpl", { "talos-machine-config": "version: v1alpha1\nmachine: {type: worker}\n" })).toBe("version: v1alpha1\nmachine: {type: worker}\n");
  });

  test("a missing talos param is named", () => {
    const rest = { ...PARAMS };
    delete rest["talos-secrets"];
    expect(() => render("talos-config.tmpl", rest)).toThrow("talos-secrets");
  });

  test("a file outside /var is refused naming os-files", () => {
    expect(() => render("talos-config.tmpl", { ...PARAMS, "os-files": [{ path: "/etc/motd", contents: "x" }] })).toThrow("os-files");
  });
});

describe("ubuntu-24.04 autoinstall", () => {
  const params = { ...PARAMS, "ubuntu-mirror": "http://archive.ubuntu.com/ubuntu", "socle-agent": false };

  test("carries the installed system's cloud-config and, with os-network, the network", () => {
    const text = render("ubuntu-24.04-user-data.tmpl", params);
    const ai = YAML.parse(text, { version: "1.1" }).autoinstall;
    expect(ai.identity.hostname).toBe("web-7");
    expect(ai.network.ethernets.ens3).toMatchObject({ match: { macaddress: "52:54:00:aa:bb:01" }, addresses: ["198.51.100.70/24"] });
    const ud = ai["user-data"];
    expect(ud.users).toEqual([{ name: "ops", groups: ["adm"], sudo: "ALL=(ALL) NOPASSWD:ALL" }]);
    expect(ud.ssh_authorized_keys).toBeUndefined(); // autoinstall's ssh section has them
    expect(ud.system_info).toBeUndefined(); // and identity the hash
    expect(ud.write_files.map((f: { path: string }) => f.path)).toContain("/etc/default/grub.d/90-socle.cfg");
  });

  test("without os-network, no network key (the installer's DHCP default)", () => {
    const rest: Record<string, unknown> = { ...params };
    delete rest["os-network"];
    expect(YAML.parse(render("ubuntu-24.04-user-data.tmpl", rest)).autoinstall.network).toBeUndefined();
  });
});
