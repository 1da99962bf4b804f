import { expect, test } from "bun:test";
import { TemplateEngine } from "./engine.ts";
import { envView, machineView, renderContext, type ContextParts } from "./views.ts";
import { NO_AGENT } from "./context.ts";

const URL = "http://198.51.100.1:8091";
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIview ops@site";
const CERT = { Cert: "-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n", Key: "-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n", Ca: "CA-PEM" };

function ctx(params: Record<string, unknown>, over: Partial<ContextParts> = {}) {
  let issued = 0;
  const parts: ContextParts = {
    machine: machineView({ Uuid: "u1", Name: "Web 7.example.com", Address: "", HardwareAddrs: ["52:54:00:00:00:07"], Arch: "amd64", BootEnv: "flatcar" }, URL),
    env: envView({ Name: "flatcar", OS: { Name: "flatcar", Family: "flatcar" }, Kernel: "", Initrds: [] }, URL, () => ""),
    provisionerAddress: "198.51.100.1",
    provisionerURL: URL,
    apiURL: "https://198.51.100.1:8092",
    apiPin: "",
    caCert: "CA-PEM",
    param: (n) => params[n],
    paramExists: (n) => Object.hasOwn(params, n),
    generateToken: () => "t",
    machineCert: () => {
      issued++;
      return CERT;
    },
    machineCertAvailable: true,
    agent: NO_AGENT,
    ...over,
  };
  return { it: renderContext(parts), issued: () => issued };
}

test("it.OsConfig.Profile reads the machine's params; the identity only when asked", () => {
  const { it, issued } = ctx({ "access-keys": { ops: KEY }, "os-kernel-args": ["quiet"] });
  const p = it.OsConfig.Profile();
  expect(p).toMatchObject({ hostname: "web-7", adminKeys: [KEY], kernelArgs: ["quiet"], caPem: "CA-PEM" });
  expect(p.identity).toBeUndefined();
  expect(issued()).toBe(0);
  expect(it.OsConfig.Profile({ identity: true }).identity).toEqual({ certPem: CERT.Cert, keyPem: CERT.Key, caPem: "CA-PEM" });
  expect(issued()).toBe(1);
});

test("it.OsConfig.Ignition: the variant from the env's OS family, checked JSON; identity files when asked", () => {
  const { it } = ctx({ "access-keys": { ops: KEY } });
  const cfg = JSON.parse(it.OsConfig.Ignition());
  expect(cfg.ignition.version).toBe("3.3.0");
  expect(cfg.passwd.users[0]).toEqual({ name: "core", sshAuthorizedKeys: [KEY] });
  const withId = JSON.parse(it.OsConfig.Ignition({ identity: true, version: "3.4.0" }));
  expect(withId.ignition.version).toBe("3.4.0");
  expect(withId.storage.files.map((f: { path: string }) => f.path)).toEqual(["/etc/hostname", "/etc/socle/ca.pem", "/etc/socle/machine.crt", "/etc/socle/machine.key"]);
  expect(it.OsConfig.Format("ignition")).toBe(it.OsConfig.Ignition());
});

test("errors name what is wrong; templates see them with the line", () => {
  const engine = new TemplateEngine();
  const { it } = ctx({ "os-units": [{ name: "nope" }] });
  engine.set("ign", "x\n<%= it.OsConfig.Ignition() %>");
  expect(() => engine.render("ign", it)).toThrow('template "ign" line 2: os-units: [0].name: "nope" is not a unit name');
  expect(() => ctx({}).it.OsConfig.Format("zip")).toThrow('unknown OS config format "zip"; known: ');
  expect(() => (ctx({}).it.OsConfig as unknown as Record<string, unknown>).Cloud).toThrow('it.OsConfig has no field "Cloud"');
  expect(() => ctx({}, { machine: undefined }).it.OsConfig.Profile()).toThrow("it.OsConfig needs a machine: this render is for unknown machines");
  // A render that may not issue a certificate (no built-in CA key): the identity is left out, not an error.
  const noCa = ctx({}, { machineCert: undefined, machineCertAvailable: false });
  expect(noCa.it.OsConfig.Profile({ identity: true }).identity).toBeUndefined();
  expect(() => noCa.it.MachineCert()).toThrow("MachineCert() is not available here");
});
