import { describe, expect, test } from "bun:test";
import { LoginLimiter, LoginThrottle, addressKey } from "./throttle.ts";

const K = LoginThrottle.key("admin", "192.0.2.7");

describe("LoginThrottle", () => {
  test("the first failures are free; then delays double from 1 s up to 30 s", () => {
    const t = new LoginThrottle();
    let now = 1_000_000;
    for (let i = 0; i < 4; i++) {
      expect(t.check(K, now)).toEqual({ allowed: true, retryAfterMs: 0 });
      t.fail(K, now);
    }
    expect(t.check(K, now).allowed).toBe(true);
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      t.fail(K, now);
      const c = t.check(K, now);
      expect(c.allowed).toBe(false);
      delays.push(c.retryAfterMs);
      expect(t.check(K, now + c.retryAfterMs - 1).allowed).toBe(false);
      now += c.retryAfterMs;
      expect(t.check(K, now)).toEqual({ allowed: true, retryAfterMs: 0 });
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  test("a success forgets the failures", () => {
    const t = new LoginThrottle({ maxFailures: 2 });
    t.fail(K, 0);
    t.fail(K, 0);
    expect(t.check(K, 0).allowed).toBe(false);
    t.succeed(K);
    expect(t.check(K, 0).allowed).toBe(true);
    t.fail(K, 0);
    expect(t.check(K, 0).allowed).toBe(true);
    expect(t.size).toBe(1);
  });

  test("keys are independent: another address or user is not slowed", () => {
    const t = new LoginThrottle({ maxFailures: 1 });
    t.fail(K, 0);
    expect(t.check(K, 0).allowed).toBe(false);
    expect(t.check(LoginThrottle.key("admin", "192.0.2.8"), 0).allowed).toBe(true);
    expect(t.check(LoginThrottle.key("bob", "192.0.2.7"), 0).allowed).toBe(true);
  });

  test("failures are forgotten after a quiet window", () => {
    const t = new LoginThrottle({ maxFailures: 3, windowMs: 60_000 });
    t.fail(K, 0);
    t.fail(K, 59_000);
    t.fail(K, 118_000); // within a window of the previous failure: counts
    expect(t.check(K, 118_000).allowed).toBe(false);
    t.succeed(K);
    t.fail(K, 0);
    t.fail(K, 1000);
    expect(t.check(K, 61_000).allowed).toBe(true); // window passed: entry dropped
    expect(t.size).toBe(0);
    t.fail(K, 61_000);
    expect(t.check(K, 61_000).allowed).toBe(true); // counting restarted at 1
  });

  test("memory is bounded: the stalest key is evicted", () => {
    const t = new LoginThrottle({ maxEntries: 3, maxFailures: 1 });
    t.fail("a", 0);
    t.fail("b", 1);
    t.fail("c", 2);
    t.fail("a", 3); // refreshes "a": "b" is now the stalest
    t.fail("d", 4);
    expect(t.size).toBe(3);
    expect(t.check("b", 4).allowed).toBe(true);
    expect(t.check("a", 4).allowed).toBe(false);
    expect(t.check("c", 4).allowed).toBe(false);
    expect(t.check("d", 4).allowed).toBe(false);
    for (let i = 0; i < 1000; i++) t.fail(`k${i}`, 10 + i);
    expect(t.size).toBe(3);
  });

  test("a clock stepped backwards never asks for more than the cap", () => {
    const t = new LoginThrottle({ maxFailures: 1, maxDelayMs: 30_000 });
    t.fail(K, 1_000_000);
    expect(t.check(K, 0).retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  test("thousands of failures stay at the cap", () => {
    const t = new LoginThrottle();
    for (let i = 0; i < 5000; i++) t.fail(K, i);
    expect(t.check(K, 4999).retryAfterMs).toBe(30_000);
  });

  test("bad options are refused with the option named", () => {
    expect(() => new LoginThrottle({ maxFailures: 0 })).toThrow('throttle maxFailures "0"');
    expect(() => new LoginThrottle({ windowMs: 1.5 })).toThrow('throttle windowMs "1.5"');
    expect(() => new LoginThrottle({ baseDelayMs: 5000, maxDelayMs: 1000 })).toThrow("below baseDelayMs");
  });
});

describe("LoginLimiter", () => {
  const IP = "192.0.2.7";

  test("spraying many user names from one address is slowed after the address's allowance", () => {
    const l = new LoginLimiter({ perAddress: { maxFailures: 10 } });
    for (let i = 0; i < 9; i++) {
      expect(l.check(`user${i}`, IP, 0).allowed).toBe(true);
      l.fail(`user${i}`, IP, 0);
    }
    l.fail("user9", IP, 0);
    const c = l.check("someone-new", IP, 0);
    expect(c).toEqual({ allowed: false, retryAfterMs: 1000, by: "address" });
    // Another address is not slowed.
    expect(l.check("someone-new", "192.0.2.8", 0).allowed).toBe(true);
  });

  test("one user from one address is still slowed after its own five", () => {
    const l = new LoginLimiter();
    for (let i = 0; i < 5; i++) l.fail("admin", IP, 0);
    expect(l.check("admin", IP, 0)).toEqual({ allowed: false, retryAfterMs: 1000, by: "user" });
    expect(l.check("bob", IP, 0).allowed).toBe(true);
  });

  test("the longer of the two waits is given", () => {
    const l = new LoginLimiter({ perAddress: { maxFailures: 1, baseDelayMs: 5000, maxDelayMs: 5000 } });
    l.fail("admin", IP, 0);
    expect(l.check("admin", IP, 0)).toEqual({ allowed: false, retryAfterMs: 5000, by: "address" });
  });

  test("a success forgets the user's failures but not the address's", () => {
    const l = new LoginLimiter({ perAddress: { maxFailures: 3 } });
    l.fail("a", IP, 0);
    l.fail("b", IP, 0);
    l.succeed("mine", IP);
    l.fail("c", IP, 0);
    expect(l.check("mine", IP, 0).by).toBe("address");
  });

  test("the default address allowance is 20 failures", () => {
    const l = new LoginLimiter();
    for (let i = 0; i < 19; i++) l.fail(`u${i}`, IP, 0);
    expect(l.check("x", IP, 0).allowed).toBe(true);
    l.fail("u19", IP, 0);
    expect(l.check("x", IP, 0).allowed).toBe(false);
  });

  test("IPv6 addresses count per /64: a host cannot rotate its way out", () => {
    const l = new LoginLimiter({ perAddress: { maxFailures: 2 } });
    l.fail("a", "2001:db8:1:2::10", 0);
    l.fail("b", "2001:db8:1:2:ffff::7", 0);
    expect(l.check("c", "2001:db8:1:2::99", 0).allowed).toBe(false);
    expect(l.check("c", "2001:db8:1:3::99", 0).allowed).toBe(true);
  });
});

describe("addressKey", () => {
  test("IPv4 as it is, IPv4-mapped IPv6 as the IPv4 address", () => {
    expect(addressKey("192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("::FFFF:192.0.2.7")).toBe("192.0.2.7");
  });

  test("IPv6 as its /64, however it is spelt", () => {
    expect(addressKey("2001:db8:1:2::10")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:0DB8:0001:0002:aaaa:bbbb:cccc:dddd")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("1:2:3::4.5.6.7")).toBe("1:2:3:0::/64");
  });

  test("anything else as it is", () => {
    expect(addressKey("")).toBe("");
    expect(addressKey("not an address")).toBe("not an address");
  });
});
