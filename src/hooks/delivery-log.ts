// The delivery log of one webhook: <data-dir>/webhooks/<name>.jsonl, one JSON line per attempt,
// mode 0600 (it names the events sent, not their bodies, and no secret). It is capped: once it
// holds twice `keep` entries it is rewritten (atomically) with the newest `keep`, so appends stay
// cheap and the file stays bounded. Reads answer newest first.

import { appendFile, chmod, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../files/atomic-write.ts";

export type DeliveryState = "delivered" | "retrying" | "dead";

export interface DeliveryEntry {
  /** The delivery id: "<webhook>-<Seq>" (the same on every attempt and after restarts). */
  Id: string;
  /** "<type>.<action>". */
  Event: string;
  Attempt: number;
  Time: string;
  /** The receiver's HTTP status, when it answered. */
  Status?: number;
  /** Why there was no usable answer (timeout, refused address, connection error, queue full). */
  Error?: string;
  Ms: number;
  State: DeliveryState;
}

export const DEFAULT_LOG_KEEP = 1000;
const MODE = 0o600;

export class DeliveryLog {
  private count = -1;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly keep: number = DEFAULT_LOG_KEEP,
  ) {}

  static pathOf(dir: string, name: string): string {
    return join(dir, `${name}.jsonl`);
  }

  /** Append one entry (appends of one log are written in call order). */
  append(e: DeliveryEntry): Promise<void> {
    const run = this.chain.then(() => this.write(e));
    this.chain = run.catch(() => {});
    return run;
  }

  /** The newest entries first, at most `limit`. */
  async newest(limit: number): Promise<DeliveryEntry[]> {
    await this.chain;
    const all = await this.readAll();
    return all.slice(-Math.min(limit, this.keep)).reverse();
  }

  /** Remove the file (the webhook was deleted). */
  async remove(): Promise<void> {
    await this.chain;
    this.count = 0;
    await rm(this.path, { force: true });
  }

  private async write(e: DeliveryEntry): Promise<void> {
    if (this.count < 0) this.count = (await this.readAll()).length;
    await appendFile(this.path, `${JSON.stringify(e)}\n`, { mode: MODE });
    await chmod(this.path, MODE);
    this.count++;
    if (this.count >= 2 * this.keep) {
      const kept = (await this.readAll()).slice(-this.keep);
      await writeFileAtomic(this.path, kept.map((x) => JSON.stringify(x)).join("\n") + "\n", MODE);
      this.count = kept.length;
    }
  }

  private async readAll(): Promise<DeliveryEntry[]> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const out: DeliveryEntry[] = [];
    for (const line of text.split("\n")) {
      if (line === "") continue;
      try {
        out.push(JSON.parse(line) as DeliveryEntry);
      } catch {
        // A line torn by a crash mid-append: the entries around it still count.
      }
    }
    return out;
  }
}
