// Two connected HaConnections in one process, for the replication tests: frames go through a
// JSON round trip (what the wire does to them) and arrive asynchronously, in order. The link can
// be cut (frames vanish, as on a dead cable) or paused (frames wait, as on a slow peer).

import type { HaMessage } from "./protocol.ts";
import type { HaConnection } from "./transport.ts";

type Handler = (msg: HaMessage, body: Uint8Array | undefined) => void;

class End implements HaConnection {
  readonly peerName: string;
  readonly remoteAddress = "test-link";
  other!: End;
  link!: TestLink;
  #handlers: Handler[] = [];
  #closeHandlers: Array<(reason: string) => void> = [];
  #closed = false;
  bufferedBytes = 0;

  constructor(peerName: string) {
    this.peerName = peerName;
  }

  send(msg: HaMessage, body?: Uint8Array): boolean {
    if (this.#closed) return false;
    if (this.link.cut) return true;
    const text = JSON.stringify(msg);
    this.bufferedBytes += text.length;
    const deliver = () => {
      this.bufferedBytes -= text.length;
      this.link.frames++;
      this.other.receive(JSON.parse(text) as HaMessage, body);
    };
    if (this.link.paused) this.link.held.push(deliver);
    else queueMicrotask(deliver);
    return true;
  }

  receive(msg: HaMessage, body: Uint8Array | undefined): void {
    if (this.#closed) return;
    for (const h of this.#handlers) h(msg, body);
  }

  onMessage(fn: Handler): void {
    this.#handlers.push(fn);
  }

  onClose(fn: (reason: string) => void): void {
    this.#closeHandlers.push(fn);
  }

  close(reason = "closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const fn of this.#closeHandlers) fn(reason);
    this.other.close(`peer closed: ${reason}`);
  }
}

export class TestLink {
  readonly a: HaConnection;
  readonly b: HaConnection;
  cut = false;
  paused = false;
  held: Array<() => void> = [];
  frames = 0;

  constructor(nameA = "node-a", nameB = "node-b") {
    const a = new End(nameB);
    const b = new End(nameA);
    a.other = b;
    b.other = a;
    a.link = this;
    b.link = this;
    this.a = a;
    this.b = b;
  }

  /** Deliver the frames held while paused, in order. */
  resume(): void {
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const d of held) queueMicrotask(d);
  }
}
