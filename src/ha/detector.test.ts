import { describe, expect, test } from "bun:test";
import { HeartbeatBook, ipxeWaitedSeconds, UnackedTracker } from "./detector.ts";

const MAC = "52:54:00:e2:61:01";
const MAC2 = "52:54:00:e2:61:02";
/** iPXE's secs: (transmission count << 2) | offer-seen << 1 | proxy-offer-seen. */
const ipxeSecs = (count: number, offer = false, proxy = false) => (count << 2) | (offer ? 2 : 0) | (proxy ? 1 : 0);

describe("HeartbeatBook", () => {
  test("a path is up until haHeartbeatTimeout without a frame; silent = every path down", () => {
    const b = new HeartbeatBook(["peer", "lan"], 1000);
    expect(b.peerSilent(0)).toBe(true); // never heard
    b.heard("peer", 100);
    b.heard("lan", 300);
    expect(b.pathUp("peer", 1099)).toBe(true);
    expect(b.pathUp("peer", 1100)).toBe(false);
    expect(b.pathUp("lan", 1100)).toBe(true);
    expect(b.peerSilent(1100)).toBe(false);
    expect(b.peerSilent(1299)).toBe(false);
    expect(b.peerSilent(1300)).toBe(true);
    expect(b.lastHeard()).toBe(300);
  });

  test("cutting one path leaves the peer heard on the other", () => {
    const b = new HeartbeatBook(["peer", "lan"], 1000);
    for (let t = 0; t <= 5000; t += 250) {
      if (t < 1000) b.heard("peer", t);
      b.heard("lan", t);
    }
    expect(b.pathUp("peer", 5000)).toBe(false);
    expect(b.peerSilent(5000)).toBe(false);
    expect(b.status(5000)).toEqual([
      { path: "peer", up: false, ageMs: 4250, rttMs: undefined },
      { path: "lan", up: true, ageMs: 0, rttMs: undefined },
    ]);
  });

  test("a frame out of order never moves a path back in time; unknown paths are added; rtt kept", () => {
    const b = new HeartbeatBook(["peer"], 1000);
    b.heard("peer", 500, 2);
    b.heard("peer", 400);
    expect(b.lastHeard()).toBe(500);
    b.heard("extra", 700, 1);
    expect(b.lastHeard()).toBe(700);
    expect(b.status(800).map((s) => [s.path, s.rttMs])).toEqual([
      ["peer", 2],
      ["extra", 1],
    ]);
  });

  test("a nonsensical timeout is refused", () => {
    expect(() => new HeartbeatBook([], 0)).toThrow("invalid heartbeat timeout 0 ms");
  });
});

describe("ipxeWaitedSeconds", () => {
  test.each([
    [ipxeSecs(1), undefined], // the first DISCOVER carries count 1: nothing waited yet
    [ipxeSecs(2), 1], // DISC timeouts 1, 2, 4, 8, 10, 10 s
    [ipxeSecs(3), 3],
    [ipxeSecs(4), 7],
    [ipxeSecs(5), 15],
    [ipxeSecs(6), 25],
    [ipxeSecs(7), 35],
    [ipxeSecs(3, false, true), 3], // a ProxyDHCPOFFER alone does not answer the client
    [ipxeSecs(3, true), undefined], // a DHCPOFFER was seen: the count mixes answered exchanges
    [0, undefined],
  ])("secs %p -> %p", (secs, waited) => {
    expect(ipxeWaitedSeconds(secs)).toBe(waited);
  });
});

function tracker(maxAckDelayMs = 1000, extra: { maxClients?: number; entryTtlMs?: number } = {}) {
  return new UnackedTracker({ maxAckDelayMs, ...extra });
}

describe("UnackedTracker", () => {
  test("two transmissions of one exchange >= haMaxAckDelay apart with no reply: unacked", () => {
    const t = tracker();
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 0 });
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 999 });
    expect(t.unackedCount(999, 0)).toBe(0);
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 1000 });
    expect(t.unacked(1000, 0)).toEqual([{ mac: MAC, atMs: 1000, why: "retransmitted" }]);
  });

  test("a reply between the transmissions restarts the wait", () => {
    const t = tracker();
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 0 });
    t.noteReply({ mac: MAC, xid: 7, now: 10 });
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 1500 }); // the REQUEST after the OFFER
    expect(t.unackedCount(1500, 0)).toBe(0);
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 2499 });
    expect(t.unackedCount(2499, 0)).toBe(0);
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 2500 });
    expect(t.unackedCount(2500, 0)).toBe(1);
  });

  test("a reply after the client became unacked clears it", () => {
    const t = tracker();
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 0 });
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 1200 });
    expect(t.unackedCount(1200, 0)).toBe(1);
    t.noteReply({ mac: MAC, xid: 7, now: 1300 });
    expect(t.unackedCount(1300, 0)).toBe(0);
  });

  test("a reply to no exchange seen here (another xid, an unknown client) neither answers one nor counts as the active's reply", () => {
    const t = tracker();
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 0 });
    t.noteReply({ mac: MAC, xid: 8, now: 500 });
    t.noteReply({ mac: MAC2, xid: 9, now: 600 });
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 1000 });
    expect(t.unackedCount(1000, 0)).toBe(1);
    // A forged or foreign reply must not hold a takeover back.
    expect(t.lastReplyAt()).toBeUndefined();
  });

  test("a new xid starts a new exchange", () => {
    const t = tracker();
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 0 });
    t.noteRequest({ mac: MAC, xid: 8, secs: 0, isIpxe: false, now: 1500 });
    expect(t.unackedCount(1500, 0)).toBe(0);
  });

  test("only clients unacked at or after `since` (the peer's last frame) count", () => {
    const t = tracker();
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 0 });
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 1000 }); // unacked while the peer was alive
    expect(t.unackedCount(5000, 2000)).toBe(0);
    t.noteRequest({ mac: MAC, xid: 7, secs: 0, isIpxe: false, now: 3000 }); // again, after it went silent
    expect(t.unackedCount(5000, 2000)).toBe(1);
  });

  test("secs of an RFC 2131 client: seconds waited, against haMaxAckDelay rounded up", () => {
    const t = tracker(1500);
    t.noteRequest({ mac: MAC, xid: 1, secs: 1, isIpxe: false, now: 0 });
    expect(t.unackedCount(0, 0)).toBe(0);
    t.noteRequest({ mac: MAC2, xid: 2, secs: 2, isIpxe: false, now: 0 });
    expect(t.unacked(0, 0)).toEqual([{ mac: MAC2, atMs: 0, why: "secs" }]);
  });

  test("iPXE's secs is a counter: a first DISCOVER (secs 4) is not unacked, a second one (secs 8) is", () => {
    const t = tracker();
    t.noteRequest({ mac: MAC, xid: 1, secs: ipxeSecs(1), isIpxe: true, now: 0 });
    expect(t.unackedCount(0, 0)).toBe(0);
    // Read as RFC 2131 seconds, 4 would already exceed 1 s: the decoding is what prevents that.
    const naive = tracker();
    naive.noteRequest({ mac: MAC, xid: 1, secs: ipxeSecs(1), isIpxe: false, now: 0 });
    expect(naive.unackedCount(0, 0)).toBe(1);
    // The standby missed the first DISCOVER (it had just started): secs says one came before.
    t.noteRequest({ mac: MAC2, xid: 2, secs: ipxeSecs(2), isIpxe: true, now: 10 });
    expect(t.unacked(10, 0)).toEqual([{ mac: MAC2, atMs: 10, why: "secs" }]);
  });

  test("iPXE with an offer seen: secs says nothing, retransmissions decide", () => {
    const t = tracker();
    t.noteRequest({ mac: MAC, xid: 1, secs: ipxeSecs(5, true), isIpxe: true, now: 0 });
    expect(t.unackedCount(0, 0)).toBe(0);
  });

  test("once a reply to the exchange was seen, secs is no longer trusted", () => {
    const t = tracker();
    t.noteRequest({ mac: MAC, xid: 1, secs: 0, isIpxe: false, now: 0 });
    t.noteReply({ mac: MAC, xid: 1, now: 5 });
    t.noteRequest({ mac: MAC, xid: 1, secs: 4, isIpxe: false, now: 4000 }); // REQUEST after a 4 s proxy wait
    expect(t.unackedCount(4000, 0)).toBe(0);
  });

  test("haMaxAckDelay 0: the second transmission suffices, the first never does", () => {
    const t = tracker(0);
    t.noteRequest({ mac: MAC, xid: 1, secs: 0, isIpxe: false, now: 100 });
    expect(t.unackedCount(100, 0)).toBe(0);
    t.noteRequest({ mac: MAC, xid: 1, secs: 0, isIpxe: false, now: 101 });
    expect(t.unackedCount(101, 0)).toBe(1);
  });

  test("last request and last reply are remembered for the idle and cut-link rules", () => {
    const t = tracker();
    expect(t.lastRequestAt()).toBeUndefined();
    expect(t.lastReplyAt()).toBeUndefined();
    t.noteRequest({ mac: MAC, xid: 1, secs: 0, isIpxe: false, now: 40 });
    t.noteReply({ mac: MAC, xid: 1, now: 50 });
    expect(t.lastRequestAt()).toBe(40);
    expect(t.lastReplyAt()).toBe(50);
  });

  test("entries expire entryTtlMs after their client's last transmission", () => {
    const t = tracker(1000, { entryTtlMs: 10_000 });
    t.noteRequest({ mac: MAC, xid: 1, secs: 0, isIpxe: false, now: 0 });
    t.noteRequest({ mac: MAC2, xid: 1, secs: 0, isIpxe: false, now: 5000 });
    expect(t.size).toBe(2);
    t.unacked(10_000, 0);
    expect(t.size).toBe(1);
    t.unacked(15_000, 0);
    expect(t.size).toBe(0);
    expect(t.evicted).toBe(0);
  });

  test("a storm of 10,000 clients stays bounded and still finds the unacked ones", () => {
    const t = tracker(1000, { maxClients: 4096 });
    const mac = (i: number) => `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, "0")}:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
    // Every client sends a first DISCOVER within 2 s ...
    for (let i = 0; i < 10_000; i++) t.noteRequest({ mac: mac(i), xid: i, secs: ipxeSecs(1), isIpxe: true, now: Math.floor(i / 5) });
    expect(t.size).toBe(4096);
    expect(t.evicted).toBe(10_000 - 4096);
    expect(t.unackedCount(2000, 0)).toBe(0);
    // ... and the newest 100 retransmit unanswered one second later.
    for (let i = 9900; i < 10_000; i++) t.noteRequest({ mac: mac(i), xid: i, secs: ipxeSecs(2), isIpxe: true, now: 3000 + (i - 9900) });
    expect(t.size).toBe(4096);
    expect(t.unackedCount(3100, 2500)).toBe(100);
    // A second wave of new clients pushes out the oldest, never beyond the cap.
    for (let i = 10_000; i < 20_000; i++) t.noteRequest({ mac: mac(i), xid: i, secs: 0, isIpxe: false, now: 3100 + Math.floor((i - 10_000) / 10) });
    expect(t.size).toBe(4096);
    expect(t.unackedCount(4200, 2500)).toBe(0); // the 100 were the oldest by then
    // After the TTL everything is gone.
    t.unacked(4200 + 60_000, 0);
    expect(t.size).toBe(0);
  });

  test("bad options are refused", () => {
    expect(() => new UnackedTracker({ maxAckDelayMs: -1 })).toThrow("invalid maxAckDelayMs -1");
    expect(() => new UnackedTracker({ maxAckDelayMs: 1000, maxClients: 0 })).toThrow("invalid maxClients 0");
    expect(() => new UnackedTracker({ maxAckDelayMs: 1000, entryTtlMs: 1000 })).toThrow("entryTtlMs 1000 must be longer than maxAckDelayMs 1000");
  });
});
