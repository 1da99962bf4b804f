// Pins finding 8 of the machine-trust issue, its part: "the login throttle is per user and IP, so
// spraying many user names from one IP is not slowed".
//
// Over the real HTTPS API, from 127.0.0.1: one password tried against many user names (some that
// exist, most that do not), each name only once, so that no (user, address) key ever fails twice.
// The address's own count must close the door (429 with Retry-After), for every name, even for a
// right password, until it has waited.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { ADMIN_PASSWORD, basic, startTestSocle, type TestSocle } from "../helpers/socle.ts";

let s: TestSocle;
beforeAll(async () => {
  s = await startTestSocle();
  for (const name of ["alice", "bob", "carol"]) {
    const r = await s.call("POST", "/api/v3/users", { body: { Name: name, Password: `${name}-real-password`, Roles: [] } });
    expect(r.status).toBe(201);
  }
});
afterAll(async () => {
  await s.stop();
});

test("spraying one password over many user names from one address is slowed down", async () => {
  const names = ["alice", "bob", "carol", ...Array.from({ length: 37 }, (_, i) => `user${i}`)];
  const statuses: number[] = [];
  let limited: Response | undefined;
  for (const name of names) {
    const r = await s.req("GET", "/api/v3/machines", { auth: basic(name, "Winter2026!") });
    statuses.push(r.status);
    await r.body?.cancel();
    if (r.status === 429) {
      limited = r;
      break;
    }
    expect(r.status).toBe(401);
  }
  expect(limited).toBeDefined();
  expect(limited!.headers.get("retry-after")).toBeTruthy();
  // The allowance is generous enough for an office behind one NAT to mistype.
  expect(statuses.filter((x) => x === 401).length).toBeGreaterThanOrEqual(10);
  // While the address waits, no name gets through, not even with the right password: otherwise
  // the 429 and the 200 would tell the sprayer which guess was right.
  const admin = await s.call("GET", "/api/v3/machines", { auth: basic("admin", ADMIN_PASSWORD) });
  expect(admin.status).toBe(429);
  expect(admin.body.Messages[0]).toContain("from this address");
  // Retry-After is the wait the message names, not a fixed guess.
  const said = /retry in (\d+) s/.exec(admin.body.Messages[0])?.[1];
  expect(said).toBeDefined();
  const again = await s.req("GET", "/api/v3/machines", { auth: basic("admin", ADMIN_PASSWORD) });
  await again.body?.cancel();
  expect(Number(again.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  expect(Number(again.headers.get("retry-after"))).toBeLessThanOrEqual(Number(said));
});
