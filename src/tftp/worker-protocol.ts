// Messages between the TFTP server's thread and its transfer workers (structured clone).

import type { SessionSpec } from "./transfer-session.ts";
import type { TransferOutcome } from "./transfer.ts";

/** Content a worker can open by itself: a plain file, or bytes handed over with the job. */
export type WorkerContent = { kind: "disk"; path: string } | { kind: "bytes"; bytes: Uint8Array };

export type ToWorker =
  /**
   * Sent once, first, and not counted: `pending[0]` is the number of other messages posted to the
   * worker and not yet handled (the pool adds before posting, the worker subtracts on receipt), so
   * the reactor loop holding the worker's thread (reactor.ts) sees that the thread is wanted.
   */
  | { t: "init"; pending: Int32Array; spin?: number }
  | { t: "start"; id: number; spec: SessionSpec; content: WorkerContent }
  | { t: "abort"; id: number; reason: string; notify: boolean }
  /** The worker has no transfer and is being retired: release what the thread holds, then say "stopped". */
  | { t: "stop" };

export type FromWorker =
  | { t: "started"; id: number }
  | { t: "setup-failed"; id: number; error: string }
  | { t: "dropped"; id: number; reason: string }
  | { t: "socket-error"; id: number; message: string }
  | { t: "finished"; id: number; outcome: TransferOutcome }
  /** Trouble of the thread rather than of one transfer (its poll loop failed). */
  | { t: "warning"; message: string }
  /** Answer to "stop": the thread may be terminated. */
  | { t: "stopped" };
