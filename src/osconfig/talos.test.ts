import { describe, expect, test } from "bun:test";
import YAML from "yaml";
import { CA_PEM, CERT_PEM, KEY_PEM, TALOS_CLUSTER, fullProfile, identityProfile, minimalProfile, staticProfile, talosSecretsYaml } from "./fixtures.test-util.ts";
import type { OsProfile } from "./profile.ts";
import { mergePatch, parseTalosCluster, parseTalosSecrets, talosConfig, validateTalos } from "./talos.ts";

type Obj = Record<string, any>;
const secrets = talosSecretsYaml();
/** The full profile without what Talos refuses (units, files outside /var). */
const talosable = (): OsProfile => {
  const p = fullProfile();
  p.units = [];
  p.files = p.files.filter((f) => f.path.startsWith("/var/"));
  return p;
};
const render = (p: OsProfile = talosable(), cluster: Obj = TALOS_CLUSTER, patch?: unknown): Obj =>
  YAML.parse(talosConfig(p, { cluster, secrets, ...(patch !== undefined ? { patch } : {}) })) as Obj;
const bundle = YAML.parse(secrets) as Obj;

describe("Talos machine config", () => {
  test("worker: the secrets a worker gets, and no more", () => {
    const c = render(minimalProfile());
    expect(c.version).toBe("v1alpha1");
    expect(c.machine.type).toBe("worker");
    expect(c.machine.token).toBe(bundle.trustdinfo.token);
    expect(c.machine.ca).toEqual({ crt: bundle.certs.os.crt, key: "" });
    expect(c.cluster.ca).toEqual({ crt: bundle.certs.k8s.crt, key: "" });
    expect(c.cluster.token).toBe(bundle.secrets.bootstraptoken);
    expect(c.cluster.id).toBe(bundle.cluster.id);
    expect(c.cluster.secret).toBe(bundle.cluster.secret);
    expect(c.cluster.controlPlane).toEqual({ endpoint: "https://198.51.100.10:6443" });
    expect(c.cluster.clusterName).toBe("lab");
    for (const k of ["aggregatorCA", "serviceAccount", "etcd", "secretboxEncryptionSecret"]) expect(c.cluster[k]).toBeUndefined();
    expect(c.machine.network).toEqual({ hostname: "n1" });
    expect(c.machine.install).toEqual({ disk: "/dev/sda", image: "ghcr.io/siderolabs/installer:v1.8.3", wipe: false });
  });

  test("control plane: CA keys, etcd, aggregator, service account, secretbox, pinned images", () => {
    const c = render(minimalProfile(), { ...TALOS_CLUSTER, role: "controlplane", kubernetesVersion: "1.31.2" });
    expect(c.machine.type).toBe("controlplane");
    expect(c.machine.ca).toEqual(bundle.certs.os);
    expect(c.cluster.ca).toEqual(bundle.certs.k8s);
    expect(c.cluster.etcd).toEqual({ ca: bundle.certs.etcd });
    expect(c.cluster.aggregatorCA).toEqual(bundle.certs.k8saggregator);
    expect(c.cluster.serviceAccount).toEqual({ key: bundle.certs.k8sserviceaccount.key });
    expect(c.cluster.secretboxEncryptionSecret).toBe(bundle.secrets.secretboxencryptionsecret);
    expect(c.machine.kubelet.image).toBe("ghcr.io/siderolabs/kubelet:v1.31.2");
    expect(c.cluster.apiServer.image).toBe("registry.k8s.io/kube-apiserver:v1.31.2");
  });

  test("profile: hostname, install disk, kernel args, nameservers, search domains", () => {
    const c = render();
    expect(c.machine.network.hostname).toBe("web-7");
    expect(c.machine.install.disk).toBe("/dev/nvme0n1");
    expect(c.machine.install.extraKernelArgs).toEqual(["console=ttyS0,115200n8", "intel_iommu=on"]);
    expect(c.machine.network.nameservers).toEqual(["198.51.100.53", "2001:db8::53"]);
    expect(c.machine.network.searchDomains).toEqual(["dc1.example.org", "example.org"]);
  });

  test("network: bond by member MACs, default route, VLAN nested in the bond, DHCP interface by name; bare members left out", () => {
    const ifs = render().machine.network.interfaces as Obj[];
    expect(ifs).toEqual([
      { interface: "eth2", dhcp: true },
      {
        interface: "bond0",
        bond: { deviceSelectors: [{ hardwareAddr: "52:54:00:aa:bb:01" }, { hardwareAddr: "52:54:00:aa:bb:02" }], mode: "802.3ad" },
        addresses: ["198.51.100.20/24", "2001:db8::20/64"],
        routes: [{ network: "0.0.0.0/0", gateway: "198.51.100.1" }],
        mtu: 9000,
        dhcp: false,
        vlans: [{ vlanId: 42, addresses: ["203.0.113.5/28"], dhcp: false }],
      },
    ]);
  });

  test("network: an interface matched by MAC uses a deviceSelector, its VLAN nested", () => {
    expect(render(staticProfile()).machine.network.interfaces).toEqual([
      {
        deviceSelector: { hardwareAddr: "52:54:00:12:34:56" },
        addresses: ["198.51.100.30/24"],
        routes: [{ network: "0.0.0.0/0", gateway: "198.51.100.1" }],
        dhcp: false,
        vlans: [{ vlanId: 100, dhcp: true }],
      },
    ]);
  });

  test("files under /var as create ops with integer modes; the identity under /var/socle", () => {
    const files = render().machine.files as Obj[];
    expect(files[0]).toEqual({ content: '{"a": 1}\n', permissions: 0o640, path: "/var/lib/app/config.json", op: "create" });
    const id = render(identityProfile()).machine.files as Obj[];
    expect(id).toEqual([
      { content: CA_PEM, permissions: 0o644, path: "/var/socle/ca.pem", op: "create" },
      { content: CERT_PEM, permissions: 0o644, path: "/var/socle/machine.crt", op: "create" },
      { content: KEY_PEM, permissions: 0o600, path: "/var/socle/machine.key", op: "create" },
    ]);
  });

  test("users and SSH keys do not appear (Talos has neither)", () => {
    const text = talosConfig(talosable(), { cluster: TALOS_CLUSTER, secrets });
    expect(text).not.toContain("ssh-");
    expect(text).not.toContain("$6$");
  });

  test("refuses a file outside /var and any systemd unit, naming the param and the value", () => {
    expect(() => render(fullProfile())).toThrow(/os-units.*app\.service/);
    const p = talosable();
    p.files.push({ path: "/etc/motd", contents: "x", mode: 0o644 });
    expect(() => render(p)).toThrow(/os-files.*\/etc\/motd.*\/var/);
  });

  test("a param change shows in the output", () => {
    expect(render(minimalProfile(), { ...TALOS_CLUSTER, endpoint: "https://k8s.example.org:6443" }).cluster.controlPlane.endpoint).toBe("https://k8s.example.org:6443");
    expect(render({ ...minimalProfile(), installDisk: "/dev/vdb" }).machine.install.disk).toBe("/dev/vdb");
  });

  test("deterministic output", () => {
    expect(talosConfig(talosable(), { cluster: TALOS_CLUSTER, secrets })).toBe(talosConfig(talosable(), { cluster: TALOS_CLUSTER, secrets }));
  });
});

describe("talos-config-patch", () => {
  test("maps merge, lists are replaced, null removes", () => {
    const c = render(staticProfile(), TALOS_CLUSTER, "machine:\n  certSANs: [a.example.org]\n  network:\n    nameservers: [192.0.2.53]\n  install:\n    wipe: true\n    image: null\n");
    expect(c.machine.certSANs).toEqual(["a.example.org"]);
    expect(c.machine.network.nameservers).toEqual(["192.0.2.53"]);
    expect(c.machine.network.hostname).toBe("db-1"); // kept
    expect(c.machine.install).toEqual({ disk: "/dev/sda", wipe: true });
  });

  test("JSON and an object work as YAML does", () => {
    expect(render(minimalProfile(), TALOS_CLUSTER, '{"machine": {"sysctls": {"vm.nr_hugepages": "128"}}}').machine.sysctls).toEqual({ "vm.nr_hugepages": "128" });
    expect(render(minimalProfile(), TALOS_CLUSTER, { cluster: { allowSchedulingOnControlPlanes: true } }).cluster.allowSchedulingOnControlPlanes).toBe(true);
  });

  test("a patch that breaks the config is refused with the path", () => {
    expect(() => render(minimalProfile(), TALOS_CLUSTER, "machine:\n  tpye: worker\n")).toThrow(/talos-config-patch.*machine\.tpye: unknown key/);
    expect(() => render(minimalProfile(), TALOS_CLUSTER, "machine:\n  token: null\n")).toThrow(/machine\.token: required/);
    expect(() => render(minimalProfile(), TALOS_CLUSTER, "machine:\n  files:\n    - {path: /etc/x, content: x, permissions: 420, op: create}\n")).toThrow(/machine\.files\[0\]\.path/);
  });

  test("a patch that is not a map, or not YAML, is refused naming the param", () => {
    expect(() => render(minimalProfile(), TALOS_CLUSTER, "- a\n- b\n")).toThrow(/talos-config-patch.*map/);
    expect(() => render(minimalProfile(), TALOS_CLUSTER, "machine: [\n")).toThrow(/talos-config-patch.*not valid YAML/);
  });

  test("mergePatch leaves its inputs alone", () => {
    const base = { a: { b: [1, 2], c: 1 } };
    const patch = { a: { b: [3] } };
    expect(mergePatch(base, patch)).toEqual({ a: { b: [3], c: 1 } });
    expect(base).toEqual({ a: { b: [1, 2], c: 1 } });
  });
});

describe("talos params", () => {
  test("talos-cluster: each bad field named with its value", () => {
    expect(() => parseTalosCluster({ ...TALOS_CLUSTER, endpoint: "http://x:6443" })).toThrow(/talos-cluster.*endpoint.*http:\/\/x:6443/);
    expect(() => parseTalosCluster({ ...TALOS_CLUSTER, role: "master" })).toThrow(/talos-cluster.*role.*master/);
    expect(() => parseTalosCluster({ ...TALOS_CLUSTER, name: "" })).toThrow(/talos-cluster.*name/);
    expect(() => parseTalosCluster({ ...TALOS_CLUSTER, kubernetesVersion: "v1.31" })).toThrow(/kubernetesVersion.*v1\.31/);
    expect(() => parseTalosCluster("lab")).toThrow(/talos-cluster/);
    expect(parseTalosCluster({ name: "x", endpoint: "https://a:6443", installImage: "i" }).role).toBe("worker");
  });

  test("talos-secrets: a missing field is named by its path", () => {
    const b = YAML.parse(secrets) as Obj;
    delete b.trustdinfo;
    expect(() => parseTalosSecrets(YAML.stringify(b))).toThrow(/talos-secrets.*trustdinfo\.token/);
    const c = YAML.parse(secrets) as Obj;
    c.certs.etcd.key = "not base64 pem!";
    expect(() => parseTalosSecrets(c)).toThrow(/talos-secrets.*certs\.etcd\.key/);
    const d = YAML.parse(secrets) as Obj;
    d.secrets.bootstraptoken = "short";
    expect(() => parseTalosSecrets(d)).toThrow(/bootstraptoken/);
    expect(() => parseTalosSecrets("cluster: [")).toThrow(/talos-secrets.*not valid YAML/);
  });
});

describe("validateTalos", () => {
  const valid = (): Obj => YAML.parse(talosConfig(minimalProfile(), { cluster: { ...TALOS_CLUSTER, role: "controlplane" }, secrets })) as Obj;

  test("a generated config is valid", () => {
    expect(validateTalos(valid())).toEqual([]);
  });

  test("required per machine type", () => {
    const c = valid();
    delete c.cluster.etcd;
    c.machine.ca.key = "";
    expect(validateTalos(c)).toEqual(["machine.ca.key: required on a control plane", "cluster.etcd: required"]);
    const w = valid();
    w.machine.type = "worker";
    delete w.cluster.etcd;
    w.machine.ca.key = "";
    expect(validateTalos(w)).toEqual([]);
  });

  test("types, unknown keys and bad values name their path", () => {
    const c = valid();
    c.version = "v1";
    c.extra = 1;
    c.machine.type = "master";
    c.machine.network.interfaces = [{ dhcp: "yes", vlans: [{ vlanId: 5000 }] }];
    c.machine.install.extraKernelArgs = "quiet";
    c.cluster.controlPlane.endpoint = "198.51.100.10";
    expect(validateTalos(c)).toEqual([
      "extra: unknown key",
      'version: must be "v1alpha1", got "v1"',
      'machine.type: must be "controlplane", "worker" or "init", got "master"',
      "machine.install.extraKernelArgs: must be a list of strings",
      "machine.network.interfaces[0]: needs interface or deviceSelector",
      "machine.network.interfaces[0].dhcp: must be a boolean",
      "machine.network.interfaces[0].vlans[0].vlanId: must be an integer from 1 to 4094",
      'cluster.controlPlane.endpoint: must be an https URL, got "198.51.100.10"',
    ]);
    expect(validateTalos([])).toEqual(["the configuration must be a map"]);
  });
});
