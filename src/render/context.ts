// What a template sees as `it` (Eta, autoEscape and autoTrim off). Shipped boot environments and
// operators' templates are written against these names (DRP-like, PascalCase for data, camelCase
// for the two lookup functions).

import type { OsConfigView } from "./osconfig-view.ts";

export interface MachineView {
  Uuid: string;
  Name: string;
  Address: string;
  HardwareAddrs: string[];
  Arch: string;
  BootEnv: string;
  /**
   * The first hardware address in a loader's spelling: "ipxe" -> "52:54:00:12:34:56" (iPXE's
   * ${mac}), "pxelinux" -> "01-52-54-00-12-34-56", "grub" -> "52:54:00:12:34:56",
   * "raw" -> "525400123456".
   */
  MacAddr(format?: "ipxe" | "pxelinux" | "grub" | "raw"): string;
  /** Address as 8 upper-case hex digits (pxelinux: 198.51.100.7 -> "C6336407"); "" if none. */
  HexAddress: string;
  /**
   * The host name installers write, as a DNS label: the Name up to its first dot, lower-cased,
   * other characters than letters, digits and "-" made "-"; "host" + the raw first MAC when
   * nothing is left (osconfig/read.ts hostLabel, which the OS profile and the metadata service use too).
   */
  HostName: string;
  /** URL path prefix of this machine's files: "machines/<uuid>". */
  Path: string;
  /** ProvisionerURL + "/" + Path. */
  Url: string;
}

export interface EnvView {
  Name: string;
  OS: { Name: string; Family?: string; Version?: string; IsoFile?: string; IsoUrl?: string };
  Kernel: string;
  Initrds: string[];
  /** The BootEnv's BootParams, rendered. */
  BootParams: string;
  /** Where the env's install tree is served: ProvisionerURL + "/" + OS.Name + "/install". */
  InstallUrl: string;
}

/** The agent files as the server knows them (src/assets/agent-files.ts), passed in as data. */
export interface AgentFacts {
  /** Their directory on the file servers, relative to ProvisionerURL ("socle/agent"). */
  Path: string;
  /** File name -> lower-case hex SHA-256. */
  Sha256: Readonly<Record<string, string>>;
}

/** A renderer not told of the agent files: it.Agent.Sha256 names no file (a template that needs one fails). */
export const NO_AGENT: AgentFacts = { Path: "socle/agent", Sha256: {} };

export interface AgentView {
  /** ProvisionerURL + "/socle/agent". */
  Url: string;
  /** File name -> lower-case hex SHA-256. */
  Sha256: Readonly<Record<string, string>>;
}

/** What it.MachineCert() returns: PEM texts. */
export interface MachineCertView {
  /** The machine's certificate. */
  Cert: string;
  /** Its private key (PKCS#8): write it with mode 0600. */
  Key: string;
  /** The CA certificate, to verify the server and other machines' certificates. */
  Ca: string;
}

export interface RenderContext {
  /** undefined when rendering for an unknown machine (discovery, ignore). */
  Machine: MachineView | undefined;
  Env: EnvView;
  /** http://<address the client reached>:<static port> — the boot file server. */
  ProvisionerURL: string;
  /** The bare address of ProvisionerURL. */
  ProvisionerAddress: string;
  /** https://<same address>:<api port> — the API. */
  ApiURL: string;
  /**
   * The API certificate's public key as curl's `--pinnedpubkey` wants it: "sha256//<base64 of the
   * SHA-256 of its SubjectPublicKeyInfo>". Installers check the server with it: the boot chain
   * delivers it, and Socle's CA is in no system store. "" when unknown.
   */
  ApiPin: string;
  /**
   * The PEM of the CA that signed the API certificate, which installers write to a file and give
   * curl (`--cacert`), next to the pin: the boot chain delivers it with the file that carries this
   * context. "" when unknown (a --tls-cert whose chain ends in no self-signed root): then the
   * system's trust store applies.
   */
  CaCert: string;
  /** Resolved parameter (machine -> profiles -> global -> default). Missing: throws naming it. */
  param(name: string): unknown;
  ParamExists(name: string): boolean;
  /** A token for this machine (machine-scoped), or for an unknown machine a registration token. */
  GenerateToken(): string;
  /**
   * A new client certificate of the built-in CA for this machine (URI SAN urn:uuid:<Uuid>, DNS SAN
   * <Name>, clientAuth, 90 days) with its private key, made by the server for the formats that cannot
   * make their own (Ignition, NoCloud write_files, Talos). Each call issues a new one and records its
   * serial; the key is never stored: it exists only in the response being rendered. The machine's
   * certificates are revoked when it is deleted, its Secret rotated or it is reprovisioned
   * (pki/machine-ca.ts). An error for unknown machines, in file paths, and without the built-in CA.
   */
  MachineCert(): MachineCertView;
  /**
   * Whether MachineCert() can issue one here: a known machine, rendered for a client, by a server
   * with the built-in CA's key (not one given --tls-cert). Formats that carry a machine's identity
   * (it.OsConfig with identity: true) leave it out when false.
   */
  MachineCertAvailable: boolean;
  /**
   * The agent an installed system runs (assets/agent/), as the file servers offer it:
   * `Url` + "/" + name for each of socle-agent, socle-agent.service and socle-agent.init, each
   * with its SHA-256 (lower-case hex) for the installer (or Ignition) to check.
   */
  Agent: AgentView;
  /** The BootEnv's BootParams, rendered (same as Env.BootParams). */
  BootParams: string;
  /** The machine's OS configuration (osconfig/): Profile(), Ignition(opts), Format(name, opts). */
  OsConfig: OsConfigView;
}
