// What the API needs from the rest of Socle, built by the composition root (src/main.ts).

import type { Store } from "../store/store.ts";
import type { Logger } from "../log/logger.ts";
import type { ObjectService } from "./objects.ts";
import type { Authenticator } from "./authn.ts";
import type { PrefsService } from "./prefs.ts";
import type { EventHub } from "./events.ts";
import type { BootCore } from "../boot/core.ts";
import type { FilePresence } from "../files/file-source.ts";
import type { RegistrationLimits } from "./registration-limits.ts";
import type { JobScheduler } from "../jobs/scheduler.ts";
import type { MachineCa } from "../pki/machine-ca.ts";
import type { HaControl } from "./routes-ha.ts";
import type { TimelineService } from "../timeline/event-view.ts";
import type { WebhookDeps } from "../hooks/sender.ts";
import type { ApiMetrics } from "./routes-metrics.ts";

export interface ApiDeps {
  store: Store;
  objects: ObjectService;
  authn: Authenticator;
  prefs: PrefsService;
  events: EventHub;
  log: Logger;
  /** Body of GET /api/v3/info (version, ports, enabled services, addresses, features). */
  info: () => Record<string, unknown>;
  version: string;
  /** The boot core, for POST /api/v3/render (previews); without it that route answers 503. */
  boot?: BootCore;
  /** Largest accepted request body in bytes. */
  bodyLimit?: number;
  /**
   * The data directory: /api/v3/files and /api/v3/isos live in its files/ and isos/. Without it
   * (API-only test setups) those routes are not registered.
   */
  dataDir?: string;
  /** Largest accepted file or ISO upload in bytes (default 8 GiB). */
  uploadLimit?: number;
  /**
   * The static boot files (<data-dir>/files, then the embedded assets; never the rendered files):
   * a BootEnv whose Kernel or Initrds are not there reads as Available: false, naming the path.
   * Without it BootEnvs report only what was checked on write.
   */
  bootFiles?: FilePresence;
  /** The job scheduler and its logs (/api/v3/jobs); without it those routes answer 503. */
  jobs?: JobScheduler;
  /** Limits of POST /api/v3/register per source and per registration token (defaults otherwise). */
  registrationLimits?: Partial<RegistrationLimits>;
  /**
   * Machine certificates of the built-in CA (routes-pki.ts); without it (an operator's --tls-cert)
   * their routes answer 503.
   */
  machineCa?: MachineCa;
  /** The HA pair (/api/v3/ha); without it this node runs alone and those routes answer 404. */
  ha?: HaControl;
  /** The boot timeline (/api/v3/timeline, /api/v3/machines/<id>/timeline); without it those routes answer 404. */
  timeline?: TimelineService;
  /** GET /metrics (routes-metrics.ts); without it that path is not served. */
  metrics?: ApiMetrics;
  /** Sealing of webhook secrets, the SSRF rules and the sender (routes-webhooks.ts); without it those routes answer 503. */
  webhooks?: WebhookDeps;
}
