// A transfer worker's own I/O loop. Every transfer on the thread registers here; while nothing
// else wants the thread, one loop polls all their sockets with poll(2), receives each ready
// socket's datagram with recvfrom(2) and fires due retransmission timers itself. Per block that is
// about one poll share, one recvfrom and one sendto, like tftpd-hpa's process per client, and no
// event-loop dispatch, no buffer or address string per ACK.
//
// The loop gives the thread back to Bun's event loop when `mayRun` says another job waits (a new
// transfer, an abort, the pool closing: the worker checks its shared pending-message counter),
// when a transfer waits for its data source (promises need the event loop), and every
// YIELD_EVERY_MS in any case. Sockets stay non-blocking and registered with Bun throughout, so
// whatever arrives while the event loop runs is handled by the sockets' callbacks as usual.

import { EINTR, PollSet, type PollIo } from "./poll-io.ts";

/** One transfer as the reactor drives it (transfer-session.ts implements it). */
export interface Driven {
  /** The transfer socket's descriptor. */
  readonly fd: number;
  /** A promise while the transfer waits for its data source; undefined when it can run. */
  readonly waiting: Promise<void> | undefined;
  /** performance.now() time its timer is due, if it has one pending. */
  readonly due: number | undefined;
  /** poll reported the socket: take one datagram (or its error) and handle it. */
  readable(): void;
  /** Its timer is due. */
  fire(): void;
  /** The reactor runs its timer (true) or hands it back to a Bun timer (false). */
  own(owned: boolean): void;
}

export interface ReactorOptions {
  /** Longest single poll: how late the loop can notice that the thread is wanted. */
  sliceMs?: number;
  /** Non-blocking polls before a waiting one when driving a lone transfer: its ACK is microseconds away. */
  spin?: number;
  /** A reactor-level failure (poll itself failing); the transfers go back to the event loop. */
  onError?: (message: string) => void;
}

export const REACTOR_SLICE_MS = 10;
export const REACTOR_SPIN = 32;
const YIELD_EVERY_MS = 50;

export class Reactor {
  private readonly driven = new Set<Driven>();
  private readonly owned = new Set<Driven>();
  private readonly set = new PollSet();
  private readonly list: Driven[] = [];
  private running = false;
  private broken = false;
  /** The poll set no longer matches `driven`. */
  private dirty = true;
  private readonly sliceMs: number;
  private readonly spin: number;

  constructor(
    readonly io: PollIo,
    private readonly mayRun: () => boolean,
    private readonly opts: ReactorOptions = {},
  ) {
    this.sliceMs = opts.sliceMs ?? REACTOR_SLICE_MS;
    this.spin = opts.spin ?? REACTOR_SPIN;
  }

  get size(): number {
    return this.driven.size;
  }

  add(d: Driven): void {
    this.driven.add(d);
    this.dirty = true;
    this.kick();
  }

  /** The transfer ended: never touched again (its timer is its own business). */
  remove(d: Driven): void {
    this.driven.delete(d);
    this.owned.delete(d);
    this.dirty = true;
  }

  /** Starts the loop (on a later turn) unless it runs, has nothing to do, or failed for good. */
  kick(): void {
    if (this.running || this.broken || this.driven.size === 0) return;
    this.running = true;
    setImmediate(() => {
      this.run().catch((e: unknown) => this.fail(`TFTP reactor failed: ${e instanceof Error ? e.message : String(e)}`));
    });
  }

  private async run(): Promise<void> {
    const { io, set, list } = this;
    let lastYield = performance.now();
    try {
      while (this.driven.size > 0 && this.mayRun()) {
        if (this.dirty) {
          this.dirty = false;
          set.clear();
          list.length = 0;
          for (const d of this.driven) {
            list.push(d);
            set.add(d.fd);
          }
        }
        let waiting: Promise<void> | undefined;
        let next = Infinity;
        for (const d of list) {
          if (!this.owned.has(d)) {
            this.owned.add(d);
            d.own(true);
          }
          waiting ??= d.waiting;
          const due = d.due;
          if (due !== undefined && due < next) next = due;
        }
        const now = performance.now();
        // A transfer waiting for its source needs the event loop soon: do not sleep in poll then.
        const timeout = waiting ? 0 : Math.max(0, Math.min(this.sliceMs, Math.ceil(next - now)));
        // Spinning pays only for a lone transfer: with several, their ACKs keep the loop busy, and
        // spinning would take the CPU from the clients on a loaded host.
        const spin = timeout > 0 && list.length === 1 ? this.spin : 0;
        let n = io.poll(set, 0);
        for (let s = 0; n === 0 && s < spin; s++) n = io.poll(set, 0);
        if (n === 0 && timeout > 0) n = io.poll(set, timeout);
        if (n < 0 && n !== -EINTR) {
          this.fail(`TFTP reactor: poll failed with errno ${-n}; transfers go back to the event loop`);
          return;
        }
        for (let i = 0; n > 0 && i < list.length; i++) {
          if (set.revents(i) !== 0 && this.driven.has(list[i]!)) list[i]!.readable();
        }
        const after = performance.now();
        for (const d of list) {
          const due = d.due;
          if (due !== undefined && due <= after && this.driven.has(d)) d.fire();
        }
        if (waiting || after - lastYield >= YIELD_EVERY_MS) {
          // One turn of the event loop: source reads settle, messages get through.
          await nextTurn();
          lastYield = performance.now();
        }
      }
    } finally {
      this.running = false;
      this.release();
    }
  }

  private release(): void {
    for (const d of this.owned) d.own(false);
    this.owned.clear();
  }

  private fail(message: string): void {
    this.broken = true;
    this.release();
    this.opts.onError?.(message);
  }
}

const nextTurn = () => new Promise<void>((r) => setImmediate(r));
