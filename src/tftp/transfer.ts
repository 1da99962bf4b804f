// One read transfer as a state machine with no sockets or timers of its own: the host sends,
// keeps one wake-up timer and hears the outcome, so every branch is testable with a fake host.
//
// Folklore it encodes:
// - Block numbers are 16 bits; files over 65535 blocks roll over to 0 (what tftp-hpa, atftp,
//   curl, iPXE and EDK2 expect). The machine counts absolute blocks and compares modulo 65536.
// - A duplicate ACK is never answered with data (Sorcerer's Apprentice, RFC 1350 errata): only the
//   retransmission timer resends, with exponential backoff.
// - RFC 7440 windows: the whole window is sent, the client ACKs its last block; an ACK inside the
//   window means "lost after this one": the next window starts right after it.
// - EDK2 asks with tsize=0 only to learn the size and abandons the transfer after the OACK, with
//   ERROR 8 or silence, then asks again from a new port; the OACK is retransmitted a few times at
//   most, and reading starts only after ACK 0, so such probes cost no I/O and expire quickly.

import { ERROR_CODES, formatError, OPCODES, writeDataHeader } from "./packet.ts";
import type { BlockData } from "./stream-buffer.ts";

export interface TransferHost {
  send(packet: Uint8Array, port: number, address: string): void;
  /** Milliseconds, monotonic. */
  now(): number;
  /** Call the transfer's onTimer() after `ms`; the transfer keeps at most one wake-up pending. */
  wake(ms: number): void;
  /** A packet from the client that was ignored (rate-limited log line). */
  dropped(reason: string): void;
  /** Called exactly once. */
  finished(outcome: TransferOutcome): void;
}

export interface TransferOutcome {
  ok: boolean;
  /** Why it ended, for the log ("complete", "client sent ERROR 8 ...", "no ACK after 5 retransmissions"). */
  reason: string;
  /** The client abandoned the transfer right after the OACK (the EDK2 tsize probe). */
  probe: boolean;
  bytes: number;
  blocks: number;
  retransmits: number;
}

export interface TransferParams {
  peerAddress: string;
  peerPort: number;
  blksize: number;
  windowsize: number;
  /** The formatted OACK, when options were accepted; the transfer then waits for ACK 0. */
  oack: Uint8Array | undefined;
  /** First retransmission timeout; doubled on each retransmission up to maxTimeoutMs. */
  timeoutMs: number;
  maxTimeoutMs: number;
  /** Retransmissions of one window before giving up. */
  maxRetries: number;
  /**
   * Retransmissions of the OACK. Kept low: EDK2's tsize probe never acknowledges its OACK, and a
   * new request from the same host cannot be told apart from another client behind the same
   * address, so an abandoned probe simply expires.
   */
  maxOackRetries: number;
  data: BlockData;
}

const UNKNOWN_TID = formatError(ERROR_CODES.UNKNOWN_TID, "unknown transfer ID");

type State = "oack" | "data" | "done";

export class ReadTransfer {
  private state: State;
  /** Absolute number of the oldest block not yet acknowledged. */
  private windowStart = 1;
  private lastSent = 0;
  private finalBlock: number | undefined;
  private finalLength = 0;
  private retries = 0;
  private retransmits = 0;
  private timeout: number;
  private deadline = 0;
  private timerArmed = false;
  private filling: Promise<void> | undefined;
  private readonly packet: Uint8Array;
  private readonly p: TransferParams;

  constructor(
    params: TransferParams,
    private readonly host: TransferHost,
  ) {
    this.p = params;
    this.state = params.oack ? "oack" : "data";
    this.timeout = params.timeoutMs;
    // Its own ArrayBuffer: the storage never moves, so an FFI sender can keep its address.
    this.packet = new Uint8Array(new ArrayBuffer(4 + params.blksize));
  }

  get active(): boolean {
    return this.state !== "done";
  }

  /** While the data source is being read: settles once the transfer has moved on (sent or failed). */
  get waitingForData(): Promise<void> | undefined {
    return this.filling;
  }

  start(): void {
    if (this.state === "oack") {
      this.host.send(this.p.oack!, this.p.peerPort, this.p.peerAddress);
      this.arm();
    } else this.sendWindow();
  }

  onDatagram(buf: Uint8Array, port: number, address: string): void {
    if (this.state === "done") return;
    const op = buf.length >= 2 && buf[0] === 0 ? buf[1] : -1;
    if (port !== this.p.peerPort || address !== this.p.peerAddress) {
      // RFC 1350: a packet from a stranger gets ERROR 5 and the transfer goes on. An ERROR is
      // never answered (two servers could otherwise ping-pong errors forever).
      if (op !== OPCODES.ERROR) this.host.send(UNKNOWN_TID, port, address);
      this.host.dropped(`packet from unknown transfer ID ${address}:${port}`);
      return;
    }
    if (op === OPCODES.ACK && buf.length >= 4) return this.onAck((buf[2]! << 8) | buf[3]!);
    if (op === OPCODES.ERROR && buf.length >= 4) {
      const code = (buf[2]! << 8) | buf[3]!;
      const end = buf.indexOf(0, 4);
      const message = new TextDecoder("latin1").decode(buf.subarray(4, end < 0 ? buf.length : end));
      return this.finish(false, `client sent ERROR ${code} ${JSON.stringify(message)}`, this.state === "oack");
    }
    this.host.dropped(op === -1 || op === undefined || buf.length < 4 ? `malformed ${buf.length}-byte packet` : `unexpected opcode ${op} during a read transfer`);
  }

  onTimer(): void {
    this.timerArmed = false;
    if (this.state === "done") return;
    const now = this.host.now();
    if (now < this.deadline) return this.wakeAt(this.deadline - now);
    this.retries++;
    const limit = this.state === "oack" ? this.p.maxOackRetries : this.p.maxRetries;
    if (this.retries > limit) {
      const what = this.state === "oack" ? "OACK" : `block ${this.windowStart}`;
      return this.finish(false, `no ACK for ${what} after ${limit} retransmissions`, this.state === "oack");
    }
    this.retransmits++;
    this.timeout = Math.min(this.timeout * 2, this.p.maxTimeoutMs);
    if (this.state === "oack") {
      this.host.send(this.p.oack!, this.p.peerPort, this.p.peerAddress);
      this.arm();
    } else this.sendWindow();
  }

  /** Ends the transfer from outside (server stopping). */
  abort(reason: string, notify: boolean): void {
    if (this.state === "done") return;
    if (notify) this.host.send(formatError(ERROR_CODES.NOT_DEFINED, reason), this.p.peerPort, this.p.peerAddress);
    this.finish(false, reason, this.state === "oack");
  }

  private onAck(wire: number): void {
    if (this.state === "oack") {
      if (wire !== 0) return this.host.dropped(`ACK ${wire} while waiting for ACK 0 of the OACK`);
      this.state = "data";
      this.retries = 0;
      this.timeout = this.p.timeoutMs;
      return this.sendWindow();
    }
    // The newest block sent whose number is `wire` modulo 65536.
    const abs = this.lastSent - ((this.lastSent - wire) & 0xffff);
    if (abs < this.windowStart) return; // duplicate or stale: the timer handles real loss
    this.windowStart = abs + 1;
    this.retries = 0;
    this.timeout = this.p.timeoutMs;
    if (this.finalBlock !== undefined && abs >= this.finalBlock) return this.finish(true, "complete", false);
    this.sendWindow();
  }

  private sendWindow(): void {
    const { blksize, windowsize, data } = this.p;
    const from = this.windowStart;
    const offset = (from - 1) * blksize;
    data.release(offset);
    if (!data.has(offset, windowsize * blksize)) {
      // Our source is slow, not the client: wait for it, the timer still bounds the wait.
      this.arm();
      if (this.filling) return;
      this.filling = data.fill(offset, windowsize * blksize).then(
        () => {
          this.filling = undefined;
          if (this.state === "data") this.sendWindow();
        },
        (e: unknown) => {
          this.filling = undefined;
          if (this.state === "done") return;
          const why = `read failed: ${e instanceof Error ? e.message : String(e)}`;
          this.host.send(formatError(ERROR_CODES.NOT_DEFINED, why), this.p.peerPort, this.p.peerAddress);
          this.finish(false, why, false);
        },
      );
      return;
    }
    const pkt = this.packet;
    for (let b = from; b < from + windowsize; b++) {
      const n = data.copy((b - 1) * blksize, blksize, pkt, 4);
      writeDataHeader(pkt, 0, b);
      this.host.send(n === blksize ? pkt : pkt.subarray(0, 4 + n), this.p.peerPort, this.p.peerAddress);
      if (b > this.lastSent) this.lastSent = b;
      if (n < blksize) {
        this.finalBlock = b;
        this.finalLength = n;
        break;
      }
    }
    this.arm();
  }

  private arm(): void {
    this.deadline = this.host.now() + this.timeout;
    if (!this.timerArmed) this.wakeAt(this.timeout);
  }

  private wakeAt(ms: number): void {
    this.timerArmed = true;
    this.host.wake(ms);
  }

  private finish(ok: boolean, reason: string, probe: boolean): void {
    if (this.state === "done") return;
    this.state = "done";
    this.p.data.cancel();
    const blocks = ok ? this.finalBlock ?? 0 : Math.max(0, this.windowStart - 1);
    const bytes = ok ? (blocks - 1) * this.p.blksize + this.finalLength : blocks * this.p.blksize;
    this.host.finished({ ok, reason, probe, bytes, blocks, retransmits: this.retransmits });
  }
}
