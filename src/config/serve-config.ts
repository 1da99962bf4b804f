// `socle serve` configuration: flags with SOCLE_* environment fallbacks (the flag wins), no
// config file (12-factor). Deeper configuration lives in the store and is changed via API/CLI.

import { LOG_LEVELS, type LogFormat, type LogLevel } from "../log/logger.ts";
import { ConfigError } from "./config-error.ts";
import { flagHelp, scanFlags, type FlagSpec, type RawSetting } from "./flags.ts";
import { defaultDataDir, isCompiledBinary } from "./runtime.ts";
import {
  parseBool,
  parseChoice,
  parseInterfaceList,
  parseIPv4OrEmpty,
  parseListenAddress,
  parseNonEmpty,
  parseCount,
  parseMillis, parsePort,
  parseCidrV4,
  parseIPv4List,
  parseNodeName,
  parseInterfaceName,
  parseListenHostPort,
} from "./values.ts";
import { parseCidrList } from "./cidr-list.ts";

export interface ServeConfig {
  /** Data directory: store/, settings.json, pki/, LOCK, initial-admin-password. */
  dataDir: string;
  /** IPv4 address machines reach us on; "" = detect from the interfaces at start. */
  address: string;
  apiListen: string;
  apiPort: number;
  /** The client-certificate API listener (api/mtls-server.ts); undefined: off. */
  apiMtlsPort: number | undefined;
  staticListen: string;
  staticPort: number;
  tftpPort: number;
  dhcpPort: number;
  binlPort: number;
  disableDhcp: boolean;
  disableTftp: boolean;
  disableBinl: boolean;
  disableStatic: boolean;
  /** Port of the metadata service's own listener (LinuxKit metaldata, EC2 paths); undefined = off. */
  metaldataPort: number | undefined;
  metaldataListen: string;
  /** Interfaces DHCP answers on; [] = all. */
  dhcpInterfaces: string[];
  /** PEM files for the API's certificate; undefined = issue one from the built-in CA. */
  tls: { certFile: string; keyFile: string } | undefined;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** The longest one template render may run before its worker is stopped, in milliseconds. */
  renderDeadlineMs: number;
  /** Registered machines' MACs the boot timeline keeps events for (other MACs: half as many); 0 = no timeline. */
  timelineMacs: number;
  /** Seconds of quiet after work before memory is given back to the system (sys/idle-reclaim.ts); 0 = never. */
  idleReclaimSeconds: number;
  /**
   * Password for the initial `admin` user, from SOCLE_ADMIN_PASSWORD only (never a flag: argv is
   * visible to every local user). undefined = generate one and write it to initial-admin-password.
   */
  adminPassword: string | undefined;
  /** The HA pair (src/ha); undefined: a single node. On when --ha-vip is given. */
  ha: HaServeConfig | undefined;
  /** File holding the bearer token of GET /metrics on the API port; undefined: API principals with the metrics claim only. */
  metricsTokenFile: string | undefined;
  /** A plain-HTTP listener serving only /metrics, without authentication; undefined: off. */
  metricsListen: { host: string; port: number } | undefined;
  /** Ranges webhooks may reach although the SSRF rules refuse them (hooks/address-policy.ts). */
  webhookAllowCidrs: string[];
}

export interface HaServeConfig {
  /** The virtual IP the active node holds, with its prefix: "198.51.100.10/24". */
  vip: string;
  /** The interface the VIP goes on; "" = the one whose network holds the VIP. */
  iface: string;
  /** Port of the peer-to-peer mTLS listener. */
  port: number;
  listen: string;
  /** The partner's addresses, the dedicated peer link first; [] = learn them at enrolment. */
  peers: string[];
  /** This node's name in the pair (its certificate names it). */
  nodeName: string;
}

export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

function specs(compiled: boolean): FlagSpec[] {
  const v = (name: string, env: string, defaultText: string, help: string): FlagSpec => ({
    name,
    env,
    kind: "value",
    defaultText,
    help,
  });
  const b = (name: string, env: string, help: string): FlagSpec => ({ name, env, kind: "bool", defaultText: "false", help });
  return [
    v("data-dir", "SOCLE_DATA_DIR", defaultDataDir(compiled), "data directory (./socle-data from source, /var/lib/socle as the compiled binary)"),
    v("address", "SOCLE_ADDRESS", "", "IPv4 address machines reach this server on; empty = detect"),
    v("api-listen", "SOCLE_API_LISTEN", "0.0.0.0", "address the HTTPS API binds to"),
    v("api-port", "SOCLE_API_PORT", "8092", "HTTPS API, OpenAPI and UI port (0 = ephemeral)"),
    v("api-mtls-port", "SOCLE_API_MTLS_PORT", "8093", "HTTPS API port for machines presenting a client certificate of the built-in CA (0 = ephemeral, as it is when --api-port is 0; empty = off)"),
    v("static-listen", "SOCLE_STATIC_LISTEN", "0.0.0.0", "address the HTTP boot file server binds to"),
    v("static-port", "SOCLE_STATIC_PORT", "8091", "HTTP boot file server port"),
    v("tftp-port", "SOCLE_TFTP_PORT", "69", "TFTP port"),
    v("dhcp-port", "SOCLE_DHCP_PORT", "67", "DHCP/proxyDHCP port"),
    v("binl-port", "SOCLE_BINL_PORT", "4011", "PXE boot server (proxyDHCP 4011) port"),
    b("disable-dhcp", "SOCLE_DISABLE_DHCP", "do not run the DHCP server"),
    b("disable-tftp", "SOCLE_DISABLE_TFTP", "do not run the TFTP server"),
    b("disable-binl", "SOCLE_DISABLE_BINL", "do not run the PXE boot server on 4011"),
    b("disable-static", "SOCLE_DISABLE_STATIC", "do not run the HTTP boot file server"),
    v("metaldata-port", "SOCLE_METALDATA_PORT", "", "port of the metadata service for LinuxKit (http://metaldata/) and EC2-style clients, usually 80; empty = off (its paths are on the boot file server port too)"),
    v("metaldata-listen", "SOCLE_METALDATA_LISTEN", "0.0.0.0", "address the metadata service binds to (e.g. 169.254.169.254 for EC2-style clients)"),
    v("dhcp-interfaces", "SOCLE_DHCP_INTERFACES", "", "comma-separated interfaces DHCP serves; empty = all"),
    v("tls-cert", "SOCLE_TLS_CERT", "", "PEM certificate for the API (with --tls-key); empty = issue from the built-in CA"),
    v("tls-key", "SOCLE_TLS_KEY", "", "PEM private key for the API (with --tls-cert)"),
    v("log-level", "SOCLE_LOG_LEVEL", "info", "debug|info|warn|error"),
    v("log-format", "SOCLE_LOG_FORMAT", "text", "text|json"),
    v("webhook-allow-cidrs", "SOCLE_WEBHOOK_ALLOW_CIDRS", "", "comma-separated CIDRs webhooks may reach although they are loopback, link-local or a served subnet (labs, tests: 127.0.0.1/32)"),
    v("render-deadline", "SOCLE_RENDER_DEADLINE", "2000", "longest a template render may run, in ms (100-60000); then it is stopped"),
    v("timeline-macs", "SOCLE_TIMELINE_MACS", "2048", "registered machines' MACs the boot timeline keeps (64 events each; other MACs get half as many slots); 0 = off"),
    v("idle-reclaim", "SOCLE_IDLE_RECLAIM", "10", "seconds of quiet after work before compiled code and free heap pages are given back to the system (once per busy spell of 1 s of CPU or more; not while the heap is over 192 MB); 0 = never"),
    v("ha-vip", "SOCLE_HA_VIP", "", "HA pair: the virtual IP with prefix the active node holds (e.g. 198.51.100.10/24); empty = single node"),
    v("ha-interface", "SOCLE_HA_INTERFACE", "", "HA pair: interface for the VIP; empty = the one whose network holds it"),
    v("ha-port", "SOCLE_HA_PORT", "8094", "HA pair: port of the peer-to-peer mTLS listener"),
    v("ha-listen", "SOCLE_HA_LISTEN", "0.0.0.0", "HA pair: address the peer listener binds to"),
    v("ha-peer", "SOCLE_HA_PEER", "", "HA pair: the partner's addresses, comma-separated, the dedicated peer link first; empty = as enrolled"),
    v("ha-node-name", "SOCLE_HA_NODE_NAME", "", "HA pair: this node's name; empty = the host name"),
    v("metrics-token-file", "SOCLE_METRICS_TOKEN_FILE", "", "file holding a bearer token that may GET /metrics on the API port (besides users with the metrics claim); empty = none"),
    v("metrics-listen", "SOCLE_METRICS_LISTEN", "", "address:port of a plain-HTTP listener serving only /metrics, with no authentication (e.g. a management address); empty = off"),
  ];
}

export interface ServeConfigOptions {
  /** Override compiled-binary detection (tests). */
  compiled?: boolean;
}

export function parseServeConfig(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  opts: ServeConfigOptions = {},
): ServeConfig {
  const compiled = opts.compiled ?? isCompiledBinary();
  const list = specs(compiled);
  const { settings, rest } = scanFlags(argv, env, list, { passUnknown: false, helpHint: "see socle serve --help" });
  if (rest.length > 0) throw new ConfigError("serve", `unexpected argument "${rest[0]}" (serve takes only flags)`);

  const get = <T>(name: string, fallback: T, conv: (s: RawSetting) => T): T => {
    const s = settings.get(name);
    return s === undefined ? fallback : conv(s);
  };
  const port = (name: string, def: number) => get(name, def, (s) => parsePort(s.source, s.raw));
  const bool = (name: string) => get(name, false, (s) => parseBool(s.source, s.raw));
  const path = (name: string) => get<string | undefined>(name, undefined, (s) => (s.raw === "" ? undefined : s.raw));

  const certFile = path("tls-cert");
  const keyFile = path("tls-key");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const have = certFile !== undefined ? settings.get("tls-cert") : settings.get("tls-key");
    const missing = certFile !== undefined ? "--tls-key" : "--tls-cert";
    throw new ConfigError(have?.source ?? "", `"${have?.raw}" given without ${missing} (give both or neither)`);
  }

  // An empty variable counts as unset (container runtimes often pass VAR= for "not given").
  const adminPassword = env.SOCLE_ADMIN_PASSWORD || undefined;

  return {
    dataDir: get("data-dir", defaultDataDir(compiled), (s) => parseNonEmpty(s.source, s.raw)),
    address: get("address", "", (s) => parseIPv4OrEmpty(s.source, s.raw)),
    apiListen: get("api-listen", "0.0.0.0", (s) => parseListenAddress(s.source, s.raw)),
    apiPort: port("api-port", 8092),
    apiMtlsPort: get<number | undefined>("api-mtls-port", port("api-port", 8092) === 0 ? 0 : 8093, (s) => (s.raw === "" ? undefined : parsePort(s.source, s.raw))),
    staticListen: get("static-listen", "0.0.0.0", (s) => parseListenAddress(s.source, s.raw)),
    staticPort: port("static-port", 8091),
    tftpPort: port("tftp-port", 69),
    dhcpPort: port("dhcp-port", 67),
    binlPort: port("binl-port", 4011),
    disableDhcp: bool("disable-dhcp"),
    disableTftp: bool("disable-tftp"),
    disableBinl: bool("disable-binl"),
    disableStatic: bool("disable-static"),
    // An empty variable counts as unset, as for the admin password below.
    metaldataPort: get<number | undefined>("metaldata-port", undefined, (s) => (s.raw === "" ? undefined : parsePort(s.source, s.raw))),
    metaldataListen: get("metaldata-listen", "0.0.0.0", (s) => parseListenAddress(s.source, s.raw)),
    dhcpInterfaces: get("dhcp-interfaces", [], (s) => parseInterfaceList(s.source, s.raw)),
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined,
    logLevel: get("log-level", "info", (s) => parseChoice(s.source, s.raw, LOG_LEVELS)),
    logFormat: get("log-format", "text", (s) => parseChoice(s.source, s.raw, LOG_FORMATS)),
    renderDeadlineMs: get("render-deadline", 2000, (s) => parseMillis(s.source, s.raw, 100, 60_000)),
    timelineMacs: get("timeline-macs", 2048, (s) => parseCount(s.source, s.raw, 0, 16_384)),
    idleReclaimSeconds: get("idle-reclaim", 10, (s) => parseCount(s.source, s.raw, 0, 3600)),
    adminPassword,
    ha: haConfig(get, port),
    metricsTokenFile: get<string | undefined>("metrics-token-file", undefined, (s) => (s.raw.trim() === "" ? undefined : s.raw)),
    metricsListen: get<{ host: string; port: number } | undefined>("metrics-listen", undefined, (s) => (s.raw.trim() === "" ? undefined : parseListenHostPort(s.source, s.raw))),
    webhookAllowCidrs: get("webhook-allow-cidrs", [], (s) => parseCidrList(s.source, s.raw)),
  };
}

function haConfig(get: <T>(name: string, fallback: T, conv: (s: RawSetting) => T) => T, port: (name: string, def: number) => number): HaServeConfig | undefined {
  const vip = get("ha-vip", "", (s) => (s.raw.trim() === "" ? "" : parseCidrV4(s.source, s.raw)));
  if (vip === "") return undefined;
  return {
    vip,
    iface: get("ha-interface", "", (s) => (s.raw.trim() === "" ? "" : parseInterfaceName(s.source, s.raw))),
    port: port("ha-port", 8094),
    listen: get("ha-listen", "0.0.0.0", (s) => parseListenAddress(s.source, s.raw)),
    peers: get("ha-peer", [], (s) => parseIPv4List(s.source, s.raw)),
    nodeName: get("ha-node-name", "", (s) => (s.raw.trim() === "" ? "" : parseNodeName(s.source, s.raw))),
  };
}

/** The flags of `socle serve` (for the CLI's shell completion). */
export function serveFlags(opts: ServeConfigOptions = {}): readonly FlagSpec[] {
  return specs(opts.compiled ?? isCompiledBinary());
}

export function serveHelp(opts: ServeConfigOptions = {}): string {
  const compiled = opts.compiled ?? isCompiledBinary();
  return [
    "Usage: socle serve [flags]",
    "",
    "Runs the provisioning server: HTTPS API, HTTP boot files, TFTP, DHCP/proxyDHCP.",
    "Every flag has an environment variable; a flag on the command line wins over it.",
    "Booleans: --flag, --flag=true|false; environment true|false|1|0|yes|no.",
    "",
    "Flags:",
    flagHelp(specs(compiled)),
    "",
    "Environment only:",
    "  SOCLE_ADMIN_PASSWORD  password of the initial admin user (default: generated and written to",
    "                        <data-dir>/initial-admin-password)",
  ].join("\n");
}
