// The pieces of the render context that are pure spelling: a machine's MAC in each loader's
// notation, its address in pxelinux hex, and the Machine and Env views templates read.

import type { AgentFacts, EnvView, MachineCertView, MachineView, RenderContext } from "./context.ts";
import type { OsConfigView } from "./osconfig-view.ts";
import { hostLabel } from "../osconfig/read.ts";
import { RenderError } from "./render-error.ts";
import { strictView } from "./strict.ts";

export type MacFormat = "ipxe" | "pxelinux" | "grub" | "raw";

/**
 * A colon MAC ("52:54:00:12:34:56") in a loader's spelling: ipxe and grub use the colon form
 * (iPXE's ${mac}, grub's $net_default_mac); pxelinux looks for "01-" (ARP type 1, Ethernet)
 * followed by hyphenated lower-case hex; raw is the 12 hex digits.
 */
export function formatMac(mac: string, format: MacFormat = "ipxe"): string {
  const hex = mac.toLowerCase().replace(/[^0-9a-f]/g, "");
  if (hex.length !== 12) throw new RenderError("runtime", `cannot format MAC ${JSON.stringify(mac)}: expected 6 bytes`);
  const bytes = hex.match(/../g)!;
  switch (format) {
    case "ipxe":
    case "grub":
      return bytes.join(":");
    case "pxelinux":
      return `01-${bytes.join("-")}`;
    case "raw":
      return hex;
    default:
      throw new RenderError("runtime", `unknown MAC format ${JSON.stringify(format)}; known: ipxe, pxelinux, grub, raw`);
  }
}

/** pxelinux's name for an IPv4 address: 8 upper-case hex digits; "" when there is none. */
export function hexAddress(address: string): string {
  const parts = address.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return "";
  return parts.map((p) => Number(p).toString(16).padStart(2, "0")).join("").toUpperCase();
}

/** "http://198.51.100.1:8091"; IPv6 addresses in brackets; the port left out when it is the default. */
export function baseUrl(scheme: "http" | "https", address: string, port: number): string {
  const host = address.includes(":") && !address.startsWith("[") ? `[${address}]` : address;
  const dflt = scheme === "http" ? 80 : 443;
  return `${scheme}://${host}${port === dflt ? "" : `:${port}`}`;
}

/** What a view is built from; BootEnv is the one in effect (the machine's, or the defaultBootEnv pref). */
export type MachineFields = Pick<MachineView, "Uuid" | "Name" | "Address" | "HardwareAddrs" | "Arch" | "BootEnv">;

export function machineView(m: MachineFields, provisionerURL: string): MachineView {
  const path = `machines/${m.Uuid}`;
  const view: MachineView = {
    Uuid: m.Uuid,
    Name: m.Name,
    Address: m.Address,
    HardwareAddrs: [...m.HardwareAddrs],
    Arch: m.Arch,
    BootEnv: m.BootEnv,
    MacAddr(format: MacFormat = "ipxe") {
      const first = m.HardwareAddrs[0];
      if (first === undefined) throw new RenderError("runtime", `machine ${JSON.stringify(m.Name)} has no hardware address`);
      return formatMac(first, format);
    },
    HexAddress: hexAddress(m.Address),
    HostName: hostLabel(m.Name, m.HardwareAddrs),
    Path: path,
    Url: `${provisionerURL}/${path}`,
  };
  return strictView(view, "it.Machine");
}

export interface EnvFields {
  Name: string;
  OS: { Name: string; Family?: string; Version?: string; IsoFile?: string; IsoUrl?: string };
  Kernel: string;
  Initrds: string[];
}

/** `bootParams` renders the env's BootParams; it runs on first read only. */
export function envView(e: EnvFields, provisionerURL: string, bootParams: () => string): EnvView {
  let rendered: string | undefined;
  const view = {
    Name: e.Name,
    OS: strictView({ Name: e.OS.Name, Family: e.OS.Family ?? "", Version: e.OS.Version ?? "", IsoFile: e.OS.IsoFile ?? "", IsoUrl: e.OS.IsoUrl ?? "" }, "it.Env.OS"),
    Kernel: e.Kernel,
    Initrds: [...e.Initrds],
    get BootParams(): string {
      rendered ??= bootParams();
      return rendered;
    },
    InstallUrl: `${provisionerURL}/${e.OS.Name}/install`,
  };
  return strictView(view, "it.Env");
}

export interface ContextParts {
  machine: MachineView | undefined;
  env: EnvView;
  provisionerAddress: string;
  provisionerURL: string;
  apiURL: string;
  apiPin: string;
  caCert: string;
  param(name: string): unknown;
  paramExists(name: string): boolean;
  generateToken(): string;
  /** it.MachineCert(); absent: an error (renders that issue no certificates). */
  machineCert?(): MachineCertView;
  /** it.MachineCertAvailable. */
  machineCertAvailable?: boolean;
  agent: AgentFacts;
}

/** The `it` of a render: a strict view, so a misspelt field is an error naming it. */
export function renderContext(p: ContextParts): RenderContext {
  // eslint-disable-next-line prefer-const
  let view: RenderContext;
  let osConfig: OsConfigView | undefined;
  const ctx: RenderContext = {
    Machine: p.machine,
    Env: p.env,
    ProvisionerURL: p.provisionerURL,
    ProvisionerAddress: p.provisionerAddress,
    ApiURL: p.apiURL,
    ApiPin: p.apiPin,
    CaCert: p.caCert,
    param: (name: string) => p.param(name),
    ParamExists: (name: string) => p.paramExists(name),
    GenerateToken: () => p.generateToken(),
    MachineCertAvailable: p.machineCertAvailable === true,
    MachineCert: () => {
      if (!p.machineCert) throw new RenderError("runtime", "MachineCert() is not available here");
      return strictView({ ...p.machineCert() }, "it.MachineCert()");
    },
    Agent: strictView({ Url: `${p.provisionerURL}/${p.agent.Path}`, Sha256: strictView({ ...p.agent.Sha256 }, "it.Agent.Sha256") }, "it.Agent"),
    get BootParams(): string {
      return p.env.BootParams;
    },
    get OsConfig(): OsConfigView {
      // Loaded on first use, synchronously: a render worker starts without src/osconfig and its
      // YAML library, which only the immutable-OS templates need (worker start-up is on the clock
      // of the first render it takes).
      osConfig ??= (require("./osconfig-view.ts") as typeof import("./osconfig-view.ts")).osConfigView({
        machine: p.machine,
        family: () => p.env.OS.Family ?? "",
        caCert: p.caCert,
        param: (name: string) => p.param(name),
        paramExists: (name: string) => p.paramExists(name),
        context: () => view,
      });
      return osConfig;
    },
  };
  view = strictView(ctx, "it");
  return view;
}
