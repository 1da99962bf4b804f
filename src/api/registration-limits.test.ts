import { describe, expect, test } from "bun:test";
import { RegistrationLimiter } from "./registration-limits.ts";
import { SocleError } from "../model/errors.ts";

const refused = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SocleError);
    expect((err as SocleError).type).toBe("TooManyRequests");
    return (err as SocleError).messages[0]!;
  }
  throw new Error("not refused");
};

describe("RegistrationLimiter: per source", () => {
  test("a burst, then one request per refill period; sources are separate", () => {
    let now = 1_000_000;
    const l = new RegistrationLimiter({ sourceBurst: 3, sourceRefillSeconds: 10 }, () => now);
    for (let i = 0; i < 3; i++) l.admitSource("198.51.100.1");
    expect(refused(() => l.admitSource("198.51.100.1"))).toBe("register: too many registrations from this address; retry in 10 s");
    l.admitSource("198.51.100.2");
    now += 4_000;
    expect(refused(() => l.admitSource("198.51.100.1"))).toContain("retry in 6 s");
    now += 6_000;
    l.admitSource("198.51.100.1");
    expect(() => l.admitSource("198.51.100.1")).toThrow();
  });

  test("full of busy sources, a new one is refused; idle ones are dropped", () => {
    let now = 0;
    const l = new RegistrationLimiter({ sourceBurst: 1, sourceRefillSeconds: 10, maxTracked: 2 }, () => now);
    l.admitSource("a");
    l.admitSource("b");
    expect(refused(() => l.admitSource("c"))).toContain("too many sources");
    now += 10_000; // a and b are full again: forgetting them loses nothing
    l.admitSource("c");
    expect(l.size.sources).toBe(1);
  });
});

describe("RegistrationLimiter: per token", () => {
  test("one ticket per token, its requests counted; an expired token's ticket is dropped", () => {
    let now = 0;
    const l = new RegistrationLimiter({ tokenRequests: 2 }, () => now);
    const t = l.ticket("tok-1", 60_000);
    t.created = { uuid: "u", remote: "r", macs: [] };
    expect(l.ticket("tok-1", 60_000)).toBe(t);
    expect(refused(() => l.ticket("tok-1", 60_000))).toBe("register: this registration token has made its 2 requests; the next boot brings a new one; retry in 60 s");
    expect(l.ticket("tok-2", 60_000)).not.toBe(t);
    now = 60_000;
    const again = l.ticket("tok-1", 120_000);
    expect(again.created).toBeUndefined();
    expect(again.requests).toBe(1);
  });

  test("full of live tickets, a new token is refused rather than a live ticket forgotten", () => {
    let now = 0;
    const l = new RegistrationLimiter({ maxTracked: 2 }, () => now);
    l.ticket("a", 10_000);
    l.ticket("b", 20_000);
    expect(refused(() => l.ticket("c", 30_000))).toContain("too many registration tokens");
    now = 10_000; // a expired
    now += 1_000;
    l.ticket("c", 30_000);
    expect(l.size.tickets).toBe(2);
  });
});
