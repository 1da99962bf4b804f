// Composition root: builds the logger, store, content, PKI and API from the configuration, and
// owns the start and stop order. `bun src/main.ts <args>` and the compiled `socle <args>` enter here.

import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { hostname, networkInterfaces } from "node:os";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import type { HaServeConfig, ServeConfig } from "./config/serve-config.ts";
import { createLogger, rateLimited, type Logger } from "./log/logger.ts";
import { FileStore } from "./store/file-store.ts";
import { openSettings } from "./store/settings.ts";
import type { Store } from "./store/store.ts";
import { SHIPPED_FILES } from "./content/shipped.ts";
import { buildContentLayer } from "./content/layer.ts";
import { SEEDED_BUILTINS } from "./content/builtins.ts";
import { ensurePki, loadTlsFiles } from "./pki/pki.ts";
import { publicKeyPin, selfSignedRoot } from "./pki/certs.ts";
import { generateSecret } from "./auth/passwords.ts";
import { ObjectService } from "./api/objects.ts";
import { ParamCipher } from "./model/secure-params.ts";
import { PrefsService } from "./api/prefs.ts";
import { EventHub, type Notice } from "./api/events.ts";
import { Authenticator } from "./api/authn.ts";
import { createApi } from "./api/app.ts";
import type { RegistrationLimits } from "./api/registration-limits.ts";
import { startApiServer, type ApiServer } from "./api/server.ts";
import { DEFAULT_UPLOAD_LIMIT } from "./api/routes-files.ts";
import { bootstrapAdmin } from "./api/bootstrap.ts";
import { main as cliMain } from "./cli/run.ts";
import { DhcpServer, type DhcpServerOptions } from "./dhcp/net/server.ts";
import type { AllocationPolicy } from "./dhcp/leases/backend.ts";
import { createDhcpHandler } from "./dhcp/handler.ts";
import { BootCore } from "./boot/core.ts";
import { chainSources, directorySource, embeddedAssetFiles, embeddedSource } from "./files/sources.ts";
import { agentFacts, agentFileEntries } from "./assets/agent-files.ts";
import { watchBootEnvIsos } from "./api/iso-import.ts";
import type { FileFacts, FileSource } from "./files/file-source.ts";
import { createStoreBootData } from "./adapters/boot-data.ts";
import { createStoreTimeline } from "./adapters/timeline-feed.ts";
import { archName } from "./dhcp/codec/client-identity.ts";
import { messageTypeName } from "./dhcp/codec/message-type.ts";
import { publishTimeline } from "./api/routes-timeline.ts";
import type { TimelineService } from "./timeline/event-view.ts";
import { startHttpServer } from "./http/server.ts";
import { createMetaldataHandler } from "./http/metaldata.ts";
import { startMetaldataServer } from "./http/metaldata-server.ts";
import { metadataSource } from "./boot/machine-metadata.ts";
import { startTftpServer } from "./tftp/server.ts";
import { createStoreDhcpBackend } from "./adapters/dhcp-backend.ts";
import { SocleError } from "./model/errors.ts";
import { BOOT_ASSETS, describeMissing, type BootAsset } from "./assets/catalog.ts";
import { JobLogs } from "./jobs/job-logs.ts";
import { JobScheduler } from "./jobs/scheduler.ts";
import { MachineCa } from "./pki/machine-ca.ts";
import { crlFileSource } from "./pki/crl-source.ts";
import { watchMachineIdentity } from "./api/machine-identity.ts";
import { startMtlsServer, type MtlsServer } from "./api/mtls-server.ts";
import { listInterfaces } from "./dhcp/net/interfaces.ts";
import { cidrContains } from "./model/validate.ts";
import { nodeNameProblem } from "./pki/node-certs.ts";
import { HaController, type ObserverHooks, type PairInfo } from "./ha/controller.ts";
import { WebhookSender, type WebhookTuning } from "./hooks/sender.ts";
import { AddressPolicy } from "./hooks/address-policy.ts";
import { modelFor } from "./model/registry.ts";
import { standbyApi } from "./api/standby-api.ts";
import type { HaControl } from "./api/routes-ha.ts";
import { joinPair } from "./ha/enrol.ts";
import { VirtualIp } from "./ha/vip.ts";
import { EnrolmentBook, enrolAnswerer, ensureNodeCredentials } from "./ha/enrol.ts";
import { readNodeCredentials, readPairState, type PairState } from "./ha/pair-state.ts";
import { dialHa, listenHa, plainAddress } from "./ha/transport.ts";
import { MetricsRegistry } from "./metrics/registry.ts";
import { registerProcessMetrics } from "./metrics/process-metrics.ts";
import { registerSocleMetrics, StoreSyncs } from "./metrics/socle-metrics.ts";
import { readMetricsToken, type MetricsToken } from "./metrics/metrics-token.ts";
import { startMetricsListener, type MetricsListener } from "./metrics/listener.ts";
import { poolUse } from "./dhcp/leases/pool-use.ts";
import type { LeaseRecord, ReservationConfig, SubnetConfig } from "./dhcp/leases/backend.ts";
import type { TftpServer } from "./tftp/server.ts";
import type { HttpServer } from "./http/server.ts";
import { installMemoryDump } from "./sys/memory-dump.ts";
import { DEFAULT_IDLE_RECLAIM, startIdleReclaim } from "./sys/idle-reclaim.ts";

export const VERSION: string = pkg.version;

/** A start-up failure an operator can fix; printed as one line, never a stack trace. */
export class StartupError extends Error {
  override name = "StartupError";
}

export interface Socle {
  apiPort: number;
  /** The client-certificate API listener's port (api/mtls-server.ts); undefined when it is off. */
  mtlsPort?: number;
  /** The --metrics-listen listener's port; undefined when it is off. */
  metricsPort?: number;
  address: string;
  caCertPem: string;
  dataDir: string;
  store: Store;
  /** Re-read the local addresses now (TFTP binds one listener per address: after a VIP moves). */
  refreshAddresses(): Promise<void>;
  /** A notice on the API's event stream (the HA pair's merge conflicts). */
  notify(n: Notice): void;
  stop(): Promise<void>;
}

/** What an HA node changes in a start (src/ha; main.ts is the only place that joins the two). */
export interface HaHooks {
  /** The store, already open: the standby's replica, promoted. Closed by stop(). */
  store: FileStore;
  /** What everything above the store writes through: replication before a write resolves. */
  wrapStore: (store: FileStore) => Store;
  /** The DHCP server and the lease engine: server-id = the VIP, pool halves while partitioned. */
  dhcp: Pick<DhcpServerOptions, "serverAddressFor" | "ownAddresses" | "onForeignReply"> & { policy: AllocationPolicy };
  /** This start takes over from the partner: its running jobs stay running. */
  takeover: boolean;
}

export interface StartOptions {
  log?: Logger;
  /** Where boot assets are read from when the binary embeds none (default: the tree's assets/). */
  assetsDir?: string;
  /** Limits of POST /api/v3/register (tests that register many machines from one address). */
  registrationLimits?: Partial<RegistrationLimits>;
  ha?: HaHooks;
  /** The HA pair's operator surface (/api/v3/ha); absent: this node runs alone. */
  haControl?: HaControl;
  /** The store's sync timings when the store was opened before this start (an HA node's). */
  storeSyncs?: StoreSyncs;
  /** Webhook sender limits and delays (tests shorten the backoff). */
  webhooks?: Partial<WebhookTuning>;
}

export async function startSocle(cfg: ServeConfig, opts: StartOptions = {}): Promise<Socle> {
  const log = opts.log ?? createLogger({ level: cfg.logLevel, format: cfg.logFormat });
  const started = Date.now();
  await mkdir(cfg.dataDir, { recursive: true, mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    throw new StartupError(`cannot create data directory "${cfg.dataDir}": ${err.code ?? err.message} (change it with --data-dir)`);
  });

  // Read before anything starts: a token file that is missing or weak is a failed start.
  let metricsToken: MetricsToken | undefined;
  try {
    metricsToken = cfg.metricsTokenFile === undefined ? undefined : readMetricsToken(cfg.metricsTokenFile, (m) => log.child("metrics").warn(m));
  } catch (err) {
    throw new StartupError(`${(err as Error).message} (--metrics-token-file)`);
  }
  const storeSyncs = opts.storeSyncs ?? new StoreSyncs();
  let fileStore = opts.ha?.store;
  if (!fileStore) {
    fileStore = openFileStore(cfg.dataDir, log, storeSyncs);
    await fileStore.open();
  }
  const store: Store = opts.ha ? opts.ha.wrapStore(fileStore) : fileStore;
  const cleanups: Array<() => Promise<void> | void> = [() => store.close()];
  const stopAll = async () => {
    for (const fn of cleanups.reverse()) await fn();
  };

  try {
    const settings = await openSettings(cfg.dataDir);
    const secret = async (name: string, make: () => string = generateSecret) => {
      let value = settings.get().secrets[name];
      if (!value) await settings.setSecret(name, (value = make()));
      return value;
    };
    const serverKey = await secret("tokenKey");
    const registrationSecret = await secret("registrationSecret");
    // The key of the Secure param values in the store (model/secure-params.ts). Made on the first
    // start; replacing or losing it makes every stored secure value unreadable.
    const secureParamKey = await secret("secureParamKey", ParamCipher.generateKey);
    let cipher: ParamCipher;
    try {
      cipher = new ParamCipher(secureParamKey);
    } catch (err) {
      throw new StartupError(`${join(cfg.dataDir, "settings.json")}: secrets.secureParamKey: ${(err as Error).message}; restore the file from a backup (the secure params stored with it cannot be read without it)`);
    }

    const objects = new ObjectService(store, { cipher, compact: () => fileStore.compact() });
    for (const { type, obj } of SEEDED_BUILTINS) {
      const def = objects.def(type);
      if (!store.get(type, String(obj[def.key]))) await objects.save(type, def.prepare(obj));
    }
    await bootstrapAdmin({ objects, dataDir: cfg.dataDir, password: cfg.adminPassword, log: log.child("auth") });
    // Values of Secure params stored in clear (before their Param was Secure, or by a version
    // before sealing) are sealed once, and the journal that held them is compacted away.
    const sealed = await objects.sealStored();
    if (sealed > 0) log.info("sealed the Secure param values stored in clear", { objects: sealed });

    const address = cfg.address || detectAddress();
    const tls: { certPem: string; keyPem: string; caCertPem?: string; caKeyPem?: string } = cfg.tls
      ? await loadTlsFiles(cfg.tls.certFile, cfg.tls.keyFile, { log: log.child("pki") })
      : await ensurePki(join(cfg.dataDir, "pki"), { log: log.child("pki"), addresses: address ? [address] : [], keepKey: opts.ha !== undefined });

    const prefs = new PrefsService(store);
    const events = new EventHub(store);
    cleanups.push(() => events.close());
    // Machine certificates come from the built-in CA; an operator's --tls-cert brings no CA key.
    const machineCa =
      tls.caCertPem && tls.caKeyPem ? await MachineCa.open({ dir: join(cfg.dataDir, "pki"), ca: { certPem: tls.caCertPem, keyPem: tls.caKeyPem }, log: log.child("pki") }) : undefined;
    if (machineCa) cleanups.push(watchMachineIdentity(store, machineCa, log.child("pki")));
    const authn = new Authenticator({ store, serverKey, registrationSecret, log: log.child("auth"), ...(machineCa ? { certificates: machineCa } : {}) });
    // Before the API answers: jobs the last server left running are marked failed first.
    const jobs = new JobScheduler({ objects, logs: new JobLogs(join(cfg.dataDir, "job-logs")), prefs: () => prefs.get(), log: log.child("jobs") });
    await jobs.start({ takeover: opts.ha?.takeover ?? false });
    cleanups.push(() => jobs.close());
    // Webhooks go out from the serving node only: this start is the single node or the HA active.
    const webhookPolicy = new AddressPolicy({
      allow: cfg.webhookAllowCidrs,
      servedSubnets: () => store.list("subnets").map((s) => String(s.Subnet)),
      // Socle itself (every interface, loopback is refused anyway), its VIP and its HA partner.
      ownAddresses: () => [...localAddresses(), ...(opts.ha?.dhcp.ownAddresses?.() ?? []), ...(cfg.ha?.peers ?? [])],
    });
    const webhookSender = new WebhookSender({
      store,
      changesSince: (seq, limit) => fileStore.changesSince(seq, limit),
      dataDir: cfg.dataDir,
      cipher,
      redact: (type, obj) => {
        const def = modelFor(type);
        return def ? objects.redact(def, obj) : obj;
      },
      policy: webhookPolicy,
      log: log.child("webhooks"),
      version: VERSION,
      ...(opts.webhooks ? { tuning: opts.webhooks } : {}),
    });
    await webhookSender.start();
    cleanups.push(() => webhookSender.stop());
    let api: ApiServer | undefined;
    const bootData = createStoreBootData(store, log.child("boot"));
    const boot = new BootCore({
      // Installers check the API with this pin (it.ApiPin): Socle's CA is in no system store.
      apiPin: publicKeyPin(tls.certPem),
      // ...and the CA (it.CaCert), written to a file for curl --cacert.
      caCert: tls.caCertPem ?? selfSignedRoot(tls.certPem),
      agent: agentFacts(),
      cipher,
      renderDeadlineMs: cfg.renderDeadlineMs,
      data: bootData,
      log: log.child("boot"),
      httpPort: cfg.staticPort,
      apiPort: () => api?.port ?? cfg.apiPort,
      tokens: {
        machine: (uuid, ttl) => authn.tokenForMachine(store.get("machines", uuid) ?? { Uuid: uuid }, ttl).token,
        registration: (ttl) => authn.tokenForRegistration(ttl).token,
        ...(machineCa ? { machineCert: (m: { Uuid: string; Name: string }) => machineCa.issueWithKey(m) } : {}),
      },
    });
    cleanups.push(() => {
      boot.close();
      bootData.close();
    });
    // The boot timeline (memory only): DHCP, TFTP and HTTP record into it, the store's feed adds
    // registrations and jobs; off with --timeline-macs 0.
    let timeline: TimelineService | undefined;
    if (cfg.timelineMacs > 0) {
      const fed = createStoreTimeline(store, { knownMacs: cfg.timelineMacs, unknownMacs: Math.max(1, cfg.timelineMacs >> 1) });
      timeline = { recorder: fed.timeline, names: { messageType: messageTypeName, arch: archName } };
      cleanups.push(fed.close);
      cleanups.push(publishTimeline(events, timeline));
    }
    const recorder = timeline?.recorder;
    // Prometheus metrics (src/metrics), read at scrape time from the services' own counters.
    let dhcpServer: DhcpServer | undefined;
    let tftpServer: TftpServer | undefined;
    let httpServer: HttpServer | undefined;
    const metrics = new MetricsRegistry();
    const processMetrics = registerProcessMetrics(metrics, { version: VERSION });
    cleanups.push(() => processMetrics.stop());
    const haControl = opts.haControl;
    registerSocleMetrics(metrics, {
      dhcp: () => dhcpServer?.stats(),
      pools: () =>
        poolUse(store.list("subnets") as unknown as SubnetConfig[], store.list("leases") as unknown as LeaseRecord[], store.list("reservations") as unknown as ReservationConfig[], Date.now()),
      tftp: () => tftpServer?.stats(),
      http: () => httpServer?.stats(),
      renders: () => boot.renderStats(),
      store: () => fileStore.stats(),
      storeSyncs,
      jobs: () => {
        const byState: Record<string, number> = {};
        for (const j of store.list("jobs")) byState[String(j.State)] = (byState[String(j.State)] ?? 0) + 1;
        return byState;
      },
      ...(haControl ? { ha: () => haControl.status() } : {}),
      ...(recorder ? { timeline: () => recorder.stats() } : {}),
      webhooks: () => webhookSender.stats(),
    });
    const services = {
      api: true,
      static: false,
      tftp: false,
      dhcp: false,
      binl: false,
      metaldata: false,
    };
    let missingAssets: () => BootAsset[] = () => [];
    const info = () => ({
      Version: VERSION,
      Hostname: hostname(),
      Address: address,
      Addresses: localAddresses(),
      ApiPort: api?.port ?? cfg.apiPort,
      MtlsPort: mtls?.port ?? 0,
      FilePort: cfg.staticPort,
      TftpPort: cfg.tftpPort,
      DhcpPort: cfg.dhcpPort,
      BinlPort: cfg.binlPort,
      // Configured (Enabled) versus actually serving (Running): a protocol port that could not
      // be bound (not root, in use) leaves its service off and the rest of Socle running.
      Services: {
        Api: { Enabled: true, Running: services.api },
        Static: { Enabled: !cfg.disableStatic, Running: services.static },
        Tftp: { Enabled: !cfg.disableTftp, Running: services.tftp },
        Dhcp: { Enabled: !cfg.disableDhcp, Running: services.dhcp, Interfaces: cfg.dhcpInterfaces },
        Binl: { Enabled: !cfg.disableBinl, Running: services.binl },
        Metaldata: { Enabled: cfg.metaldataPort !== undefined, Running: services.metaldata, Port: cfg.metaldataPort ?? 0 },
      },
      // Loaders and discovery images that are neither embedded nor in <data-dir>/files, each
      // with the one command that supplies it (also logged once at start-up).
      BootAssets: (() => {
        const missing = missingAssets();
        return {
          Missing: missing.map((a) => ({ Path: a.path, Arch: a.arch, What: a.what, Fix: a.fix })),
          Present: BOOT_ASSETS.filter((a) => !missing.includes(a)).map((a) => ({ Path: a.path, Arch: a.arch, What: a.what })),
        };
      })(),
      Features: ["api-v3", "json-patch", "events-sse", "events-ws", "etag", "openapi", "tokens", "machine-tokens", "jobs", ...(opts.haControl ? ["ha"] : [])],
      Os: process.platform,
      Arch: process.arch,
      Uptime: Math.floor((Date.now() - started) / 1000),
    });

    // The static boot files: the operator's files, then the assets embedded in the binary (or,
    // from source, obtained into assets/boot/ by `npm install`), then the agent an installed
    // system fetches (socle/agent/). The API reads them to report missing kernels (BootEnv
    // Available); TFTP and HTTP serve rendered files before them.
    const operatorFiles = join(cfg.dataDir, "files");
    const embedded = await embeddedAssetFiles("boot", { assetsDir: opts.assetsDir });
    const bootFiles = chainSources(directorySource(operatorFiles), embeddedSource(embedded), embeddedSource(agentFileEntries()));

    try {
      api = startApiServer({
        hostname: cfg.apiListen,
        port: cfg.apiPort,
        certPem: tls.certPem,
        keyPem: tls.keyPem,
        maxBodyBytes: DEFAULT_UPLOAD_LIMIT + 1024 * 1024,
        build: (remoteOf) =>
          createApi(
            { store, objects, authn, prefs, events, boot, jobs, log: log.child("api"), info, version: VERSION, dataDir: cfg.dataDir, bootFiles, registrationLimits: opts.registrationLimits, machineCa, ...(timeline ? { timeline } : {}), ...(opts.haControl ? { ha: opts.haControl } : {}), metrics: { registry: metrics, ...(metricsToken ? { token: metricsToken } : {}) }, webhooks: { cipher, policy: webhookPolicy, control: webhookSender } },
            remoteOf,
          ),
      });
    } catch (err) {
      throw bindError(err, "--api-port", cfg.apiListen, cfg.apiPort);
    }
    const apiServer = api;
    let mtls: MtlsServer | undefined;
    if (machineCa && cfg.apiMtlsPort !== undefined) {
      try {
        mtls = await startMtlsServer({
          hostname: cfg.apiListen,
          port: cfg.apiMtlsPort,
          certPem: tls.certPem,
          keyPem: tls.keyPem,
          caPem: machineCa.caPem,
          fetch: (req, env) => apiServer.fetchFor(req, env),
          // Revoked, unrecorded or deleted machines' certificates pass the handshake (it checks the
          // CA and the dates): they are turned away before their body is read.
          precheck: (der) => {
            const c = machineCa.check(der);
            return c.ok ? undefined : c.reason;
          },
          maxBodyBytes: 64 * 1024 * 1024,
          log: log.child("api"),
        });
        const m = mtls;
        cleanups.push(() => m.stop());
      } catch (err) {
        // As for the protocol services: one line, and the rest runs (agents keep their tokens).
        log.child("api").error(`the client-certificate API is not running: ${bindError(err, "--api-mtls-port", cfg.apiListen, cfg.apiMtlsPort).message}`);
      }
    }
    cleanups.push(() => apiServer.stop());
    let metricsListener: MetricsListener | undefined;
    if (cfg.metricsListen) {
      const { host, port } = cfg.metricsListen;
      try {
        const listener = startMetricsListener({ hostname: host, port, registry: metrics, log: log.child("metrics") });
        metricsListener = listener;
        cleanups.push(() => listener.stop());
      } catch (err) {
        // Monitoring is not worth a failed start: one line, and the rest runs (/metrics on the API port too).
        log.child("metrics").error(`the metrics listener is not running: ${bindError(err, "--metrics-listen", host, port).message}`);
      }
    }
    // A boot environment that comes to name an ISO uploaded already gets its install tree.
    const isoWatch = watchBootEnvIsos({ store, isosRoot: join(cfg.dataDir, "isos"), filesRoot: operatorFiles, log: log.child("isos"), notify: (n) => events.notify(n) });
    cleanups.push(async () => {
      isoWatch.stop();
      await isoWatch.idle();
    });

    /** Start a protocol service; a SocleError (port not bindable) is one log line, not a failed start. */
    const optional = async (name: keyof typeof services, flag: string, run: () => Promise<() => Promise<void> | void>) => {
      try {
        cleanups.push(await run());
        services[name] = true;
      } catch (err) {
        if (!(err instanceof SocleError)) throw err;
        const text = err.messages.join("; ");
        const hint = text.includes(flag) ? "" : ` (ports below 1024 need root or CAP_NET_BIND_SERVICE; change it with ${flag})`;
        log.child(name).error(`${name.toUpperCase()} is not running: ${text}${hint}`);
      }
    };

    // What TFTP and HTTP hand out: rendered files first, then the operator's files, then the
    // boot assets (loaders, discovery images) embedded in the binary or, from source, obtained
    // into assets/boot/ by `npm install`.
    const files = reportMissingAssets(chainSources(...(machineCa ? [crlFileSource(machineCa)] : []), boot, bootFiles), log.child("assets"));
    missingAssets = () => BOOT_ASSETS.filter((a) => !embedded.has(a.path) && !existsSync(join(operatorFiles, a.path)));
    const missingAtStart = missingAssets();
    if (missingAtStart.length > 0) {
      const alog = log.child("assets");
      alog.warn(`${missingAtStart.length} boot file(s) missing: machines that need them will not boot (GET /api/v3/info lists them)`);
      for (const line of describeMissing(missingAtStart)) alog.warn(line);
    }

    // The metadata service (LinuxKit's metaldata provider, EC2-style paths): on the boot file
    // server's port always, on its own listener (port 80 for real clients) when configured.
    const mlog = log.child("metadata");
    const metaldata = createMetaldataHandler({
      log: mlog,
      source: metadataSource({
        data: bootData,
        cipher,
        log: mlog,
      }),
    });
    if (cfg.metaldataPort !== undefined) {
      const port = cfg.metaldataPort;
      await optional("metaldata", "--metaldata-port", async () => {
        try {
          const server = startMetaldataServer({ listen: cfg.metaldataListen, port, handler: metaldata, log: mlog });
          return () => server.stop();
        } catch (err) {
          throw new SocleError("Unavailable", "metadata", "", bindError(err, "--metaldata-port", cfg.metaldataListen, port).message);
        }
      });
    }

    if (!cfg.disableStatic) {
      await optional("static", "--static-port", async () => {
        try {
          const http = startHttpServer({ listen: cfg.staticListen, port: cfg.staticPort, source: files, log: log.child("http"), address, metaldata, ...(recorder ? { timeline: recorder } : {}) });
          httpServer = http;
          return () => http.stop();
        } catch (err) {
          throw new SocleError("Unavailable", "http", "", bindError(err, "--static-port", cfg.staticListen, cfg.staticPort).message);
        }
      });
    }

    let refreshTftp = async () => {};
    if (!cfg.disableTftp) {
      await optional("tftp", "--tftp-port", async () => {
        const tftp = await startTftpServer({ port: cfg.tftpPort, source: files, log: log.child("tftp"), ...(recorder ? { timeline: recorder } : {}) });
        refreshTftp = () => tftp.refresh();
        tftpServer = tftp;
        return () => tftp.stop();
      });
    }

    if (!cfg.disableDhcp) {
      const dlog = log.child("dhcp");
      await optional("dhcp", "--dhcp-port", async () => {
        const backend = createStoreDhcpBackend(store, dlog);
        const dhcp = new DhcpServer({
          handler: createDhcpHandler({ backend, booter: boot, log: dlog, ...(opts.ha ? { policy: opts.ha.dhcp.policy } : {}), ...(recorder ? { timeline: recorder } : {}) }),
          log: dlog,
          ...(recorder ? { timeline: recorder } : {}),
          ...(opts.ha
            ? { serverAddressFor: opts.ha.dhcp.serverAddressFor, ownAddresses: opts.ha.dhcp.ownAddresses, onForeignReply: opts.ha.dhcp.onForeignReply }
            : {}),
          port: cfg.dhcpPort,
          binlPort: cfg.disableBinl ? 0 : cfg.binlPort,
          interfaces: cfg.dhcpInterfaces,
        });
        try {
          await dhcp.start();
        } catch (err) {
          await dhcp.stop().catch(() => {});
          backend.close();
          throw err;
        }
        dhcpServer = dhcp;
        return async () => {
          await dhcp.stop();
          backend.close();
        };
      });
      services.binl = services.dhcp && !cfg.disableBinl;
    }
    log.info("socle started", {
      version: VERSION,
      api: `https://${cfg.apiListen}:${apiServer.port}/api/v3`,
      services: Object.entries(services).filter(([, on]) => on).map(([name]) => name).join(","),
      dataDir: cfg.dataDir,
      address,
      ms: Date.now() - started,
    });
    return {
      apiPort: apiServer.port,
      ...(mtls ? { mtlsPort: mtls.port } : {}),
      ...(metricsListener ? { metricsPort: metricsListener.port } : {}),
      address,
      caCertPem: tls.caCertPem ?? "",
      dataDir: cfg.dataDir,
      store,
      refreshAddresses: () => refreshTftp(),
      notify: (n) => events.notify(n),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll().catch(() => {});
    throw err;
  }
}

/** The data directory's store, with the shipped content under it (not opened). */
export function openFileStore(dataDir: string, log: Logger, syncs?: StoreSyncs): FileStore {
  return new FileStore({ dir: dataDir, layer: buildContentLayer(SHIPPED_FILES), log, ...(syncs ? { onSync: (s, n, b) => syncs.observe(s, n, b) } : {}) });
}

/**
 * A boot asset a client asks for and does not get is a warning naming the command that supplies
 * it (at most one a minute per path), so a machine that cannot boot is never silence.
 */
export function reportMissingAssets(source: FileSource, log: Logger): FileSource {
  const byPath = new Map(BOOT_ASSETS.map((a) => [a.path, a]));
  const warn = rateLimited(log, 60_000, 1);
  return {
    async get(path: string, facts: FileFacts) {
      const file = await source.get(path, facts);
      const asset = file === undefined ? byPath.get(path.replace(/^\/+/, "")) : undefined;
      if (asset) warn(asset.path, `${facts.protocol.toUpperCase()} request for a missing boot file: ${describeMissing([asset])[0]}`, { client: facts.remoteAddress });
      return file;
    },
  };
}

/** Turn a failed listen into one line naming the port and the flag that changes it. */
export function bindError(err: unknown, flag: string, host: string, port: number): StartupError {
  const code = (err as NodeJS.ErrnoException)?.code ?? "";
  const text = String((err as Error)?.message ?? err);
  if (code === "EACCES" || /permission denied|EACCES/i.test(text)) {
    return new StartupError(`cannot listen on ${host}:${port}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE); choose another with ${flag}`);
  }
  if (code === "EADDRINUSE" || /in use|EADDRINUSE/i.test(text)) {
    return new StartupError(`cannot listen on ${host}:${port}: address already in use; choose another with ${flag}`);
  }
  return new StartupError(`cannot listen on ${host}:${port}: ${text}; check ${flag}`);
}

function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal) out.push(a.address);
  }
  return out;
}

/** The first non-loopback IPv4 address, which is what most single-homed hosts want. */
function detectAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}

/** A node of an HA pair (src/ha): the controller starts and stops the services as its role changes. */
export interface HaNode {
  controller: HaController;
  stop(): Promise<void>;
}

/** Start a node of an HA pair: `socle serve --ha-vip ...`. See src/ha/controller.ts. */
export async function startHaNode(cfg: ServeConfig, ha: HaServeConfig, opts: StartOptions = {}): Promise<HaNode> {
  const log = opts.log ?? createLogger({ level: cfg.logLevel, format: cfg.logFormat });
  const hlog = log.child("ha");
  const vipAddress = ha.vip.split("/")[0]!;
  const iface = ha.iface || listInterfaces().find((i) => cidrContains(i.cidr, vipAddress))?.name;
  if (!iface) throw new StartupError(`no interface has a network holding the VIP ${ha.vip}; name one with --ha-interface`);
  const nodeName = ha.nodeName || hostname().split(".")[0]!;
  const nameProblem = nodeNameProblem(nodeName);
  if (nameProblem) throw new StartupError(`the host name cannot name this HA node (${nameProblem}); give --ha-node-name`);
  // Machines, relays and clients are given the VIP, never a node's own address.
  const scfg: ServeConfig = { ...cfg, address: cfg.address || vipAddress };
  await mkdir(cfg.dataDir, { recursive: true, mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    throw new StartupError(`cannot create data directory "${cfg.dataDir}": ${err.code ?? err.message} (change it with --data-dir)`);
  });

  let pair = await readPairState(cfg.dataDir);
  if (pair && pair.nodeName !== nodeName) throw new StartupError(`this data directory belongs to HA node "${pair.nodeName}", not "${nodeName}"; start with --ha-node-name ${pair.nodeName}`);
  if (pair && pair.vip !== ha.vip) hlog.warn("--ha-vip differs from the VIP the pair was enrolled with; using --ha-vip", { enrolled: pair.vip, given: ha.vip });
  const slot: 0 | 1 = pair?.slot ?? 0;
  // The node that answers enrolments holds the pair's CA (the built-in one, shared with the partner
  // by replication); the joined node got its certificate at enrolment.
  let creds = await readNodeCredentials(cfg.dataDir);
  let book: EnrolmentBook | undefined;
  let ca: { certPem: string; keyPem: string } | undefined;
  if (slot === 0) {
    const pki = await ensurePki(join(cfg.dataDir, "pki"), { log: log.child("pki"), addresses: [vipAddress], keepKey: true });
    ca = { certPem: pki.caCertPem, keyPem: pki.caKeyPem };
    creds = await ensureNodeCredentials({ dataDir: cfg.dataDir, nodeName, ca, log: hlog });
    book = new EnrolmentBook({ caPem: pki.caCertPem });
  }
  if (!creds) throw new StartupError(`no HA node certificate in ${join(cfg.dataDir, "ha")}: run \`socle ha join\` for this data directory first`);
  const nodeCreds = creds;

  const pairInfo = (p: PairState, flags: string[]): PairInfo => {
    const addresses = [...new Set([...flags, ...p.peerAddresses])];
    return { clusterId: p.clusterId, peerName: p.peerName, dialAddresses: p.slot === 1 ? addresses : [], peerAddresses: addresses };
  };
  const vip = new VirtualIp({ cidr: ha.vip, iface, log: hlog });
  const storeSyncs = new StoreSyncs();
  const dlog = log.child("dhcp");
  const lanAddress = listInterfaces().find((i) => i.name === iface)?.address ?? "";
  const haControl: HaControl = {
    status: () => ({ ...controller.status() }),
    enrol: () => {
      if (!book) throw new SocleError("Conflict", "ha", nodeName, `this node joined the pair as its second node; enrolments are answered by "${controller.peerName}"`);
      if (controller.paired) throw new SocleError("Conflict", "ha", nodeName, `this node is already paired with "${controller.peerName}"`);
      const t = book.issue(Date.now());
      return { Secret: t.secret, ExpiresAt: new Date(t.expiresAt).toISOString(), CaPin: t.caPin, Vip: ha.vip, Node: nodeName, Address: lanAddress, Port: ha.port };
    },
    request: (op) => controller.request(op),
  };
  const controller: HaController = new HaController({
    dataDir: cfg.dataDir,
    nodeName,
    slot,
    pair: pair ? pairInfo(pair, ha.peers) : undefined,
    version: VERSION,
    log: hlog,
    vip,
    openStore: async () => {
      const store = openFileStore(cfg.dataDir, log, storeSyncs);
      await store.open();
      return store;
    },
    importSnapshot: (snap) => FileStore.importSnapshot(cfg.dataDir, snap, { log }),
    startServing: async (store, hooks) => {
      const socle = await startSocle(scfg, {
        ...opts,
        log,
        haControl,
        storeSyncs,
        ha: {
          store: store as FileStore,
          wrapStore: (s) => hooks.wrapStore(s),
          dhcp: {
            // Always the VIP on its network, also in the moment between the DHCP sockets opening
            // and the VIP being added: clients must only ever learn the VIP as the server.
            serverAddressFor: (i) => (cidrContains(i.cidr, vipAddress) ? vipAddress : i.address),
            ownAddresses: () => [vipAddress],
            onForeignReply: (reply) => hooks.onForeignReply(reply),
            policy: hooks.policy,
          },
          takeover: hooks.takeover,
        },
      });
      return { refreshAddresses: () => socle.refreshAddresses(), notify: (n) => socle.notify(n), stop: () => socle.stop() };
    },
    startObserver: async (hooks) => {
      const notice = await startStandbyNotice();
      const dhcpWatch = await startDhcpWatch(hooks);
      return {
        stop: async () => {
          await dhcpWatch.stop();
          await notice.stop();
        },
      };
    },
    dial: (address) => dialHa({ host: address, port: ha.port, creds: nodeCreds, peerName: controller.peerName, peerCertSha256: pair?.peerCertSha256, log: hlog }),
    readPrefs: (s) => new PrefsService(s).get(),
  });
  /**
   * The standby's API port: a 503 naming the VIP (api/standby-api.ts). It needs the pair's server
   * certificate, which a newly joined node receives with the files: until then it tries every 5 s.
   */
  async function startStandbyNotice(): Promise<{ stop(): Promise<void> }> {
    const pkiDir = join(cfg.dataDir, "pki");
    let server: ApiServer | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const attempt = async () => {
      timer = undefined;
      if (stopped) return;
      const files = cfg.tls ?? { certFile: join(pkiDir, "server.pem"), keyFile: join(pkiDir, "server-key.pem") };
      if (existsSync(files.certFile) && existsSync(files.keyFile)) {
        try {
          const t = await loadTlsFiles(files.certFile, files.keyFile);
          if (stopped) return;
          server = startApiServer({
            hostname: cfg.apiListen,
            port: cfg.apiPort,
            certPem: t.certPem,
            keyPem: t.keyPem,
            maxBodyBytes: 64 * 1024,
            build: () => standbyApi({ vip: vipAddress, apiPort: cfg.apiPort, facts: () => controller.status() }),
          });
          return;
        } catch (err) {
          hlog.warn(`the standby's API notice is not running yet: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      timer = setTimeout(() => void attempt(), 5000);
    };
    await attempt();
    return {
      stop: async () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        await server?.stop();
      },
    };
  }
  async function startDhcpWatch(hooks: ObserverHooks): Promise<{ stop(): Promise<void> }> {
    if (cfg.disableDhcp) return { stop: async () => {} };
    // The standby's DHCP sockets see every request the active sees on the segment, and the
    // active's broadcast replies on port 68: what tells a dead active from a cut peer link.
    const observer = new DhcpServer({
      handler: async (req, ctx) => {
        hooks.onRequest(req, ctx.now);
        return undefined;
      },
      log: dlog,
      port: cfg.dhcpPort,
      binlPort: 0,
      interfaces: cfg.dhcpInterfaces,
      ownAddresses: () => [vipAddress],
      onForeignReply: (reply, from) => hooks.onReply(reply, from.address, Date.now()),
    });
    try {
      await observer.start();
    } catch (err) {
      await observer.stop().catch(() => {});
      // Without it a takeover waits for haIdleTakeover only; say so, keep running.
      dlog.error(`the HA standby cannot watch DHCP (${err instanceof Error ? err.message : String(err)}); takeover falls back to haIdleTakeover`);
      return { stop: async () => {} };
    }
    return { stop: () => observer.stop() };
  }
  const answer = book && ca && !pair ? enrolAnswerer({ book, ca, dataDir: cfg.dataDir, nodeName, vip: ha.vip, log: hlog }) : undefined;
  const listener = await listenHa({
    host: ha.listen,
    port: ha.port,
    creds: nodeCreds,
    peerName: pair?.peerName ?? null,
    peerCertSha256: pair?.peerCertSha256,
    peerAddresses: pair ? pairInfo(pair, ha.peers).peerAddresses : ha.peers,
    onConnection: (conn) => controller.accept(conn, plainAddress(conn.remoteAddress)),
    ...(answer
      ? {
          onEnrol: async (req, remote) => {
            if (controller.paired) return { T: "EnrolRefused" as const, reason: `this node is already paired with "${controller.peerName}"` };
            const a = await answer(req, remote);
            if (a.T === "Enrolled") {
              pair = await readPairState(cfg.dataDir);
              if (pair) controller.setPair(pairInfo(pair, ha.peers));
            }
            return a;
          },
        }
      : {}),
    log: hlog,
  }).catch((err: unknown) => {
    throw bindError(err, "--ha-port", ha.listen, ha.port);
  });
  try {
    // A VIP left on the interface by a process that died without its guard: only a promotion adds it.
    if (await VirtualIp.cleanupStale(ha.vip, iface)) hlog.warn("removed a stale VIP from the interface", { vip: ha.vip, iface });
    await controller.start({ firstNode: pair === undefined });
  } catch (err) {
    await listener.close().catch(() => {});
    throw err;
  }
  hlog.info("HA node listening", { node: nodeName, slot, port: listener.port, vip: ha.vip, iface, paired: controller.paired });
  return {
    controller,
    stop: async () => {
      await controller.stop();
      await listener.close().catch(() => {});
    },
  };
}

/** `socle serve`: start, then run until SIGINT or SIGTERM. */
export async function serve(cfg: ServeConfig): Promise<number> {
  const log = createLogger({ level: cfg.logLevel, format: cfg.logFormat });
  const socle = cfg.ha ? await startHaNode(cfg, cfg.ha, { log }) : await startSocle(cfg, { log });
  const removeMemoryDump = installMemoryDump(process.env, (r) =>
    "files" in r ? log.info("memory dump written", { files: r.files }) : log.warn("memory dump failed", { error: r.error.message }),
  );
  const mb = (bytes: number) => Math.round(bytes / 104857.6) / 10;
  const stopIdleReclaim =
    cfg.idleReclaimSeconds > 0
      ? startIdleReclaim({
          policy: { ...DEFAULT_IDLE_RECLAIM, quietMs: cfg.idleReclaimSeconds * 1000 },
          onReclaim: (r) => log.info("quiet: memory given back", { rssMB: mb(r.rssAfter), wasMB: mb(r.rssBefore), pauseMs: Math.round(r.pauseMs) }),
          onSkip: (heap) => log.debug("quiet: memory kept (heap too large for a pause)", { heapMB: mb(heap) }),
          onError: (err) => log.warn("quiet: giving memory back failed", { error: err instanceof Error ? err.message : String(err) }),
        })
      : undefined;
  await new Promise<void>((resolve) => {
    const done = (signal: string) => {
      log.info("stopping", { signal });
      resolve();
    };
    process.once("SIGINT", () => done("SIGINT"));
    process.once("SIGTERM", () => done("SIGTERM"));
  });
  removeMemoryDump?.();
  stopIdleReclaim?.();
  await socle.stop();
  log.info("stopped");
  return 0;
}

if (import.meta.main) {
  await cliMain(process.argv.slice(2), {
    serve,
    haJoin: async (o) => {
      const pair = await joinPair({ ...o, log: createLogger({ level: "warn", format: "text" }) });
      return { peerName: pair.peerName, vip: pair.vip, slot: pair.slot };
    },
  });
}
