import { describe, expect, test } from "bun:test";
import { ConfigError } from "./config-error.ts";
import { parseServeConfig, serveHelp } from "./serve-config.ts";

const parse = (argv: string[], env: Record<string, string> = {}) => parseServeConfig(argv, env, { compiled: false });

describe("parseServeConfig", () => {
  test("defaults", () => {
    expect(parse([])).toEqual({
      dataDir: "./socle-data",
      address: "",
      apiListen: "0.0.0.0",
      apiPort: 8092,
      apiMtlsPort: 8093,
      staticListen: "0.0.0.0",
      staticPort: 8091,
      tftpPort: 69,
      dhcpPort: 67,
      binlPort: 4011,
      disableDhcp: false,
      disableTftp: false,
      disableBinl: false,
      disableStatic: false,
      metaldataPort: undefined,
      metaldataListen: "0.0.0.0",
      dhcpInterfaces: [],
      tls: undefined,
      logLevel: "info",
      logFormat: "text",
      renderDeadlineMs: 2000,
      timelineMacs: 2048,
      idleReclaimSeconds: 10,
      adminPassword: undefined,
      ha: undefined,
      webhookAllowCidrs: [],
      metricsTokenFile: undefined,
      metricsListen: undefined,
    });
  });

  test("--ha-*: off without --ha-vip; defaults; every value checked, naming the flag", () => {
    expect(parse(["--ha-peer", "203.0.113.2"]).ha).toBeUndefined();
    expect(parse(["--ha-vip", "198.51.100.10/24"]).ha).toEqual({ vip: "198.51.100.10/24", iface: "", port: 8094, listen: "0.0.0.0", peers: [], nodeName: "" });
    expect(
      parse(["--ha-vip", "198.51.100.10/24", "--ha-interface", "lan0", "--ha-port", "9000", "--ha-peer", "203.0.113.2,198.51.100.2", "--ha-node-name", "branch-b"]).ha,
    ).toEqual({ vip: "198.51.100.10/24", iface: "lan0", port: 9000, listen: "0.0.0.0", peers: ["203.0.113.2", "198.51.100.2"], nodeName: "branch-b" });
    expect(parse([], { SOCLE_HA_VIP: "198.51.100.10/24", SOCLE_HA_PEER: "203.0.113.2" }).ha?.peers).toEqual(["203.0.113.2"]);
    expect(() => parse(["--ha-vip", "198.51.100.10"])).toThrow('--ha-vip: invalid address with prefix "198.51.100.10"');
    expect(() => parse(["--ha-vip", "224.0.0.1/24"])).toThrow("not a unicast host address");
    expect(() => parse(["--ha-vip", "198.51.100.10/33"])).toThrow("--ha-vip");
    expect(() => parse(["--ha-vip", "198.51.100.10/24", "--ha-peer", "203.0.113.2,nope"])).toThrow('--ha-peer: invalid IPv4 address "nope"');
    expect(() => parse(["--ha-vip", "198.51.100.10/24", "--ha-peer", "203.0.113.2,203.0.113.2"])).toThrow("listed twice");
    expect(() => parse(["--ha-vip", "198.51.100.10/24", "--ha-interface", "lan0,lan1"])).toThrow("--ha-interface");
    expect(() => parse(["--ha-vip", "198.51.100.10/24", "--ha-node-name", "-bad"])).toThrow('--ha-node-name: invalid node name "-bad"');
  });

  test("--metaldata-port: off unless given; a port, also from SOCLE_METALDATA_PORT; empty is off", () => {
    expect(parse([]).metaldataPort).toBeUndefined();
    expect(parse(["--metaldata-port", "80"]).metaldataPort).toBe(80);
    expect(parse([], { SOCLE_METALDATA_PORT: "8080", SOCLE_METALDATA_LISTEN: "169.254.169.254" })).toMatchObject({ metaldataPort: 8080, metaldataListen: "169.254.169.254" });
    expect(parse([], { SOCLE_METALDATA_PORT: "" }).metaldataPort).toBeUndefined();
    expect(() => parse(["--metaldata-port", "eighty"])).toThrow('--metaldata-port: invalid port "eighty"');
    expect(() => parse(["--metaldata-listen", "metaldata"])).toThrow('--metaldata-listen: invalid listen address "metaldata"');
  });

  test("--metrics-token-file and --metrics-listen: off unless given; address:port checked, naming the flag", () => {
    expect(parse(["--metrics-token-file", "/etc/socle/metrics.token"]).metricsTokenFile).toBe("/etc/socle/metrics.token");
    expect(parse([], { SOCLE_METRICS_TOKEN_FILE: "" }).metricsTokenFile).toBeUndefined();
    expect(parse(["--metrics-listen", "127.0.0.1:9100"]).metricsListen).toEqual({ host: "127.0.0.1", port: 9100 });
    expect(parse([], { SOCLE_METRICS_LISTEN: "[::1]:0" }).metricsListen).toEqual({ host: "::1", port: 0 });
    expect(parse([], { SOCLE_METRICS_LISTEN: "" }).metricsListen).toBeUndefined();
    for (const bad of ["9100", "127.0.0.1", "localhost:9100", "127.0.0.1:99999", "::1:9100", "[127.0.0.1]:9100", "10.0.0.300:9100", "127.0.0.1:"]) {
      expect(() => parse(["--metrics-listen", bad])).toThrow(`--metrics-listen: invalid listen address "${bad}" (expected address:port`);
    }
    expect(() => parse([], { SOCLE_METRICS_LISTEN: "x:1" })).toThrow("SOCLE_METRICS_LISTEN: invalid listen address");
  });

  test("--timeline-macs: 0 (off) to 16384, default 2048; anything else names the flag and the value", () => {
    expect(parse([]).timelineMacs).toBe(2048);
    expect(parse(["--timeline-macs", "0"]).timelineMacs).toBe(0);
    expect(parse([], { SOCLE_TIMELINE_MACS: "16384" }).timelineMacs).toBe(16384);
    expect(() => parse(["--timeline-macs", "-1"])).toThrow('--timeline-macs: invalid number "-1" (expected an integer 0-16384)');
    expect(() => parse(["--timeline-macs", "16385"])).toThrow(ConfigError);
  });

  test("--idle-reclaim: seconds 0 (never) to 3600, default 10; anything else names the flag and the value", () => {
    expect(parse([]).idleReclaimSeconds).toBe(10);
    expect(parse(["--idle-reclaim", "0"]).idleReclaimSeconds).toBe(0);
    expect(parse([], { SOCLE_IDLE_RECLAIM: "3600" }).idleReclaimSeconds).toBe(3600);
    expect(() => parse(["--idle-reclaim", "10s"])).toThrow('--idle-reclaim: invalid number "10s" (expected an integer 0-3600)');
    expect(() => parse(["--idle-reclaim", "3601"])).toThrow(ConfigError);
    expect(() => parse([], { SOCLE_IDLE_RECLAIM: "-1" })).toThrow(ConfigError);
  });

  test("--render-deadline: milliseconds 100-60000; anything else names the flag and the value", () => {
    expect(parse(["--render-deadline", "500"]).renderDeadlineMs).toBe(500);
    expect(parse([], { SOCLE_RENDER_DEADLINE: "60000" }).renderDeadlineMs).toBe(60000);
    expect(() => parse(["--render-deadline", "2s"])).toThrow('--render-deadline: invalid duration "2s" (expected milliseconds, an integer 100-60000)');
    expect(() => parse(["--render-deadline", "99"])).toThrow(ConfigError);
  });

  test("compiled binary defaults to /var/lib/socle", () => {
    expect(parseServeConfig([], {}, { compiled: true }).dataDir).toBe("/var/lib/socle");
  });

  test("every flag", () => {
    const c = parse([
      "--data-dir", "/tmp/d",
      "--address=198.51.100.2",
      "--api-listen", "::1",
      "--api-port", "0",
      "--static-listen=127.0.0.1",
      "--static-port", "18091",
      "--tftp-port", "1069",
      "--dhcp-port", "1067",
      "--binl-port", "14011",
      "--disable-dhcp",
      "--disable-tftp=true",
      "--disable-binl=yes",
      "--disable-static=0",
      "--dhcp-interfaces", "eth0,eth1",
      "--tls-cert", "c.pem",
      "--tls-key", "k.pem",
      "--log-level", "debug",
      "--log-format=json",
    ]);
    expect(c).toMatchObject({
      dataDir: "/tmp/d",
      address: "198.51.100.2",
      apiListen: "::1",
      apiPort: 0,
      staticListen: "127.0.0.1",
      staticPort: 18091,
      tftpPort: 1069,
      dhcpPort: 1067,
      binlPort: 14011,
      disableDhcp: true,
      disableTftp: true,
      disableBinl: true,
      disableStatic: false,
      dhcpInterfaces: ["eth0", "eth1"],
      tls: { certFile: "c.pem", keyFile: "k.pem" },
      logLevel: "debug",
      logFormat: "json",
    });
  });

  test("environment fallbacks; the flag wins", () => {
    const env = {
      SOCLE_DATA_DIR: "/srv/socle",
      SOCLE_API_PORT: "9000",
      SOCLE_DISABLE_DHCP: "1",
      SOCLE_DISABLE_TFTP: "no",
      SOCLE_LOG_FORMAT: "json",
      SOCLE_DHCP_INTERFACES: "br0",
      SOCLE_ADMIN_PASSWORD: "s3cret-pw",
    };
    const c = parse(["--api-port", "9100"], env);
    expect(c.dataDir).toBe("/srv/socle");
    expect(c.apiPort).toBe(9100);
    expect(c.disableDhcp).toBe(true);
    expect(c.disableTftp).toBe(false);
    expect(c.logFormat).toBe("json");
    expect(c.dhcpInterfaces).toEqual(["br0"]);
    expect(c.adminPassword).toBe("s3cret-pw");
  });

  test("empty SOCLE_ADMIN_PASSWORD counts as unset", () => {
    expect(parse([], { SOCLE_ADMIN_PASSWORD: "" }).adminPassword).toBeUndefined();
  });

  test("errors name the flag or variable and quote the value", () => {
    const cases: [string[], Record<string, string>, string][] = [
      [["--api-port", "80a"], {}, '--api-port: invalid port "80a" (expected an integer 0-65535)'],
      [["--api-port=70000"], {}, '--api-port: invalid port "70000"'],
      [[], { SOCLE_TFTP_PORT: "x" }, 'SOCLE_TFTP_PORT: invalid port "x"'],
      [["--disable-dhcp=maybe"], {}, '--disable-dhcp: invalid boolean "maybe"'],
      [[], { SOCLE_DISABLE_BINL: "on" }, 'SOCLE_DISABLE_BINL: invalid boolean "on"'],
      [["--log-level", "trace"], {}, '--log-level: invalid value "trace" (expected debug|info|warn|error)'],
      [["--log-format", "xml"], {}, '--log-format: invalid value "xml" (expected text|json)'],
      [["--address", "10.0.0"], {}, '--address: invalid IPv4 address "10.0.0"'],
      [["--api-listen", "any"], {}, '--api-listen: invalid listen address "any"'],
      [["--frobnicate"], {}, 'unknown flag "--frobnicate" (see socle serve --help)'],
      [["extra"], {}, 'serve: unexpected argument "extra"'],
      [["--api-port"], {}, "--api-port: missing value"],
      [["--data-dir="], {}, '--data-dir: empty value ""'],
    ];
    for (const [argv, env, msg] of cases) {
      let err: unknown;
      try {
        parse(argv, env);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(msg);
    }
  });

  test("TLS: both or neither", () => {
    expect(() => parse(["--tls-cert", "c.pem"])).toThrow('--tls-cert: "c.pem" given without --tls-key (give both or neither)');
    expect(() => parse([], { SOCLE_TLS_KEY: "k.pem" })).toThrow('SOCLE_TLS_KEY: "k.pem" given without --tls-cert');
    expect(parse(["--tls-cert", "c", "--tls-key", "k"]).tls).toEqual({ certFile: "c", keyFile: "k" });
  });
});

test("serveHelp lists every flag with its env var and default", () => {
  const h = serveHelp({ compiled: false });
  for (const [flag, env, def] of [
    ["--data-dir", "SOCLE_DATA_DIR", "./socle-data"],
    ["--api-port", "SOCLE_API_PORT", "8092"],
    ["--static-port", "SOCLE_STATIC_PORT", "8091"],
    ["--tftp-port", "SOCLE_TFTP_PORT", "69"],
    ["--dhcp-port", "SOCLE_DHCP_PORT", "67"],
    ["--binl-port", "SOCLE_BINL_PORT", "4011"],
    ["--disable-dhcp", "SOCLE_DISABLE_DHCP", "false"],
    ["--disable-tftp", "SOCLE_DISABLE_TFTP", "false"],
    ["--disable-binl", "SOCLE_DISABLE_BINL", "false"],
    ["--disable-static", "SOCLE_DISABLE_STATIC", "false"],
    ["--address", "SOCLE_ADDRESS", '""'],
    ["--dhcp-interfaces", "SOCLE_DHCP_INTERFACES", '""'],
    ["--tls-cert", "SOCLE_TLS_CERT", '""'],
    ["--tls-key", "SOCLE_TLS_KEY", '""'],
    ["--log-level", "SOCLE_LOG_LEVEL", "info"],
    ["--log-format", "SOCLE_LOG_FORMAT", "text"],
    ["--api-listen", "SOCLE_API_LISTEN", "0.0.0.0"],
    ["--static-listen", "SOCLE_STATIC_LISTEN", "0.0.0.0"],
  ]) {
    const line = h.split("\n").find((l) => l.includes(`${flag} `));
    expect(line, flag).toBeDefined();
    expect(line).toContain(env as string);
    expect(line).toContain(`(default ${def})`);
  }
  expect(h).toContain("SOCLE_ADMIN_PASSWORD");
  expect(serveHelp({ compiled: true })).toContain("(default /var/lib/socle)");
});
