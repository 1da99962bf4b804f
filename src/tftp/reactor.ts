// A transfer worker's own I/O loop. Every transfer on the thread registers here; while nothing
// else wants the thread, one loop waits on all their sockets with one epoll instance, receives each
// ready socket's datagram with recvfrom(2) and fires due retransmission timers itself. Per block
// that is about one epoll_wait share, one recvfrom and one sendto, like tftpd-hpa's process per
// client, and no event-loop dispatch, no buffer or address string per ACK. Nothing in a wakeup
// walks all the transfers: epoll reports only the ready sockets (by a token naming the transfer),
// and timers sit in a min-heap keyed by due time.
//
// The loop gives the thread back to Bun's event loop when `mayRun` says another job waits (a new
// transfer, an abort, the pool closing: the worker checks its shared pending-message counter),
// when a transfer waits for its data source (promises need the event loop), and every
// YIELD_EVERY_MS in any case. Sockets stay non-blocking and registered with Bun throughout, so
// whatever arrives while the event loop runs is handled by the sockets' callbacks as usual.

import { EINTR, type PollIo, type ReadySet } from "./poll-io.ts";
import { TimerHeap } from "./timer-heap.ts";

/** One transfer as the reactor drives it (transfer-session.ts implements it). */
export interface Driven {
  /** The transfer socket's descriptor. */
  readonly fd: number;
  /** A promise while the transfer waits for its data source; undefined when it can run. */
  readonly waiting: Promise<void> | undefined;
  /**
   * performance.now() time its timer is due, if it has one pending. While the reactor owns the
   * transfer, every change to it is announced with Reactor.rescheduled().
   */
  readonly due: number | undefined;
  /** The socket is readable: take one datagram (or its error) and handle it. */
  readable(): void;
  /** Its timer is due. */
  fire(): void;
  /** The reactor runs its timer (true) or hands it back to a Bun timer (false). */
  own(owned: boolean): void;
}

export interface ReactorOptions {
  /** Longest single wait: how late the loop can notice that the thread is wanted. */
  sliceMs?: number;
  /** Non-blocking waits before a blocking one when driving a lone transfer: its ACK is microseconds away. */
  spin?: number;
  /** A reactor-level failure (epoll itself failing); the transfers go back to the event loop. */
  onError?: (message: string) => void;
}

export const REACTOR_SLICE_MS = 10;
export const REACTOR_SPIN = 32;
const YIELD_EVERY_MS = 50;

export class Reactor {
  /** Each registered transfer and its epoll token (an index into byToken). */
  private readonly driven = new Map<Driven, number>();
  private readonly byToken: (Driven | undefined)[] = [];
  private readonly freeTokens: number[] = [];
  /** Freed during the current wakeup: its ready list may still name them, so reused only after it. */
  private readonly releasedTokens: number[] = [];
  private readonly owned = new Set<Driven>();
  /** Registered and not owned yet: taken over at the top of the next iteration. */
  private readonly fresh: Driven[] = [];
  /** Transfers seen waiting for their source; checked (few) until they run again. */
  private readonly waitingOn = new Set<Driven>();
  private readonly timers = new TimerHeap<Driven>();
  private set: ReadySet | undefined;
  private running = false;
  private broken = false;
  private readonly sliceMs: number;
  private readonly spin: number;
  /**
   * performance.now() as of the loop's last wakeup: transfers it drives read this instead of the
   * clock (their retransmission deadlines need no better than the length of one wakeup).
   */
  now = performance.now();

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

  /** Registers a transfer; false when it stays on the event loop (the reactor failed, or epoll refused its socket). */
  add(d: Driven): boolean {
    if (this.broken) return false;
    if (this.driven.has(d)) return true;
    if (!this.set) {
      const made = this.io.readySet();
      if (typeof made === "number") {
        this.fail(`TFTP reactor: epoll_create1 failed with errno ${-made}; transfers go back to the event loop`);
        return false;
      }
      this.set = made;
    }
    const token = this.freeTokens.pop() ?? this.byToken.length;
    if (this.set.add(d.fd, token) !== 0) {
      this.freeTokens.push(token);
      return false;
    }
    this.byToken[token] = d;
    this.driven.set(d, token);
    this.fresh.push(d);
    this.kick();
    return true;
  }

  /** The transfer ended: never touched again (its timer is its own business). Call before closing its socket. */
  remove(d: Driven): void {
    const token = this.driven.get(d);
    if (token === undefined) return;
    this.driven.delete(d);
    this.byToken[token] = undefined;
    this.releasedTokens.push(token);
    this.set?.remove(d.fd);
    this.owned.delete(d);
    this.waitingOn.delete(d);
  }

  /** An owned transfer's `due` changed (its timer was armed again). */
  rescheduled(d: Driven): void {
    const due = d.due;
    if (due !== undefined && this.owned.has(d)) this.timers.push(due, d);
  }

  /** Starts the loop (on a later turn) unless it runs, has nothing to do, or failed for good. */
  kick(): void {
    if (this.running || this.broken || this.driven.size === 0) return;
    this.running = true;
    setImmediate(() => {
      this.run().catch((e: unknown) => this.fail(`TFTP reactor failed: ${e instanceof Error ? e.message : String(e)}`));
    });
  }

  /** Closes the epoll instance (the thread is ending); every transfer must have been removed. */
  close(): void {
    this.broken = true;
    this.release();
    this.set?.close();
    this.set = undefined;
  }

  /** The earliest live timer's due time (stale heap entries are dropped on the way). */
  private nextDue(): number {
    const { timers, owned } = this;
    while (timers.size > 0) {
      const d = timers.peekItem()!;
      if (owned.has(d) && d.due === timers.peekDue()) return timers.peekDue();
      timers.pop();
    }
    return Infinity;
  }

  private async run(): Promise<void> {
    const { byToken, owned, fresh, waitingOn, timers } = this;
    let lastYield = performance.now();
    const due: Driven[] = [];
    fresh.length = 0;
    for (const d of this.driven.keys()) fresh.push(d);
    try {
      while (this.driven.size > 0 && this.mayRun()) {
        const set = this.set!;
        for (let i = 0; i < fresh.length; i++) {
          const d = fresh[i]!;
          if (!this.driven.has(d) || owned.has(d)) continue;
          owned.add(d);
          d.own(true);
          if (d.due !== undefined) timers.push(d.due, d);
          if (d.waiting) waitingOn.add(d);
        }
        fresh.length = 0;
        if (this.releasedTokens.length > 0) {
          for (const t of this.releasedTokens) this.freeTokens.push(t);
          this.releasedTokens.length = 0;
        }
        let waiting = false;
        for (const d of waitingOn) {
          if (d.waiting) waiting = true;
          else waitingOn.delete(d);
        }
        const next = this.nextDue();
        let now = performance.now();
        // A transfer waiting for its source needs the event loop soon: do not sleep then.
        const timeout = waiting ? 0 : Math.max(0, Math.min(this.sliceMs, Math.ceil(next - now)));
        // Spinning pays only for a lone transfer: with several, their ACKs keep the loop busy, and
        // spinning would take the CPU from the clients on a loaded host.
        const spin = timeout > 0 && this.driven.size === 1 ? this.spin : 0;
        let n = set.wait(0);
        for (let s = 0; n === 0 && s < spin; s++) n = set.wait(0);
        if (n === 0 && timeout > 0) n = set.wait(timeout);
        if (n < 0 && n !== -EINTR) {
          this.fail(`TFTP reactor: epoll_wait failed with errno ${-n}; transfers go back to the event loop`);
          return;
        }
        this.now = performance.now();
        for (let i = 0; i < n; i++) {
          const d = byToken[set.token(i)];
          if (d === undefined || !owned.has(d)) continue;
          d.readable();
          if (d.waiting) waitingOn.add(d);
        }
        now = this.now = performance.now();
        // Collect first, then fire: a timer armed again by its fire() waits for the next wakeup.
        while (this.nextDue() <= now) {
          due.push(timers.peekItem()!);
          timers.pop();
        }
        for (let i = 0; i < due.length; i++) {
          const d = due[i]!;
          // Gone, or a second heap entry for a timer that already fired in this wakeup.
          if (!owned.has(d) || d.due === undefined || d.due > now) continue;
          d.fire();
          if (d.waiting) waitingOn.add(d);
        }
        due.length = 0;
        if (waiting || now - lastYield >= YIELD_EVERY_MS) {
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
    const was = [...this.owned];
    this.owned.clear();
    this.timers.clear();
    this.waitingOn.clear();
    for (const d of was) d.own(false);
  }

  private fail(message: string): void {
    this.broken = true;
    this.release();
    this.opts.onError?.(message);
  }
}

const nextTurn = () => new Promise<void>((r) => setImmediate(r));
