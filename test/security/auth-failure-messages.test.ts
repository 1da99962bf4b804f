// Pins finding 8 of the machine-trust issue, its part: "'unknown token subject' and 'bad
// signature' tell apart names that exist from names that don't".
//
// Over the real HTTPS API: an unknown user, a wrong password, a token whose user was deleted
// (unknown token subject), a token with a bad signature and an expired token must all get the
// same answer: the same status, the same body, the same headers. Basic failures all cost an
// argon2id check (the same timing class); the server log keeps the real reason.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { basic, startTestSocle, type TestSocle } from "../helpers/socle.ts";

let s: TestSocle;
beforeAll(async () => {
  s = await startTestSocle();
});
afterAll(async () => {
  await s.stop();
});

async function answer(auth: string) {
  const started = performance.now();
  const r = await s.req("GET", "/api/v3/machines", { auth });
  const ms = performance.now() - started;
  return { status: r.status, body: await r.text(), challenge: r.headers.get("www-authenticate"), type: r.headers.get("content-type"), ms };
}

test("every authentication failure gets one and the same answer", async () => {
  expect((await s.call("POST", "/api/v3/users", { body: { Name: "exists", Password: "exists-password-1", Roles: [] } })).status).toBe(201);
  expect((await s.call("POST", "/api/v3/users", { body: { Name: "leaver", Password: "leaver-password-1", Roles: [] } })).status).toBe(201);

  const live = (await s.call("GET", "/api/v3/users/exists/token?ttl=600")).body.Token as string;
  const orphan = (await s.call("GET", "/api/v3/users/leaver/token?ttl=600")).body.Token as string;
  const shortLived = (await s.call("GET", "/api/v3/users/exists/token?ttl=1")).body.Token as string;
  expect((await s.call("DELETE", "/api/v3/users/leaver")).status).toBe(200);
  const [h, p, sig] = live.split(".") as [string, string, string];
  const badSignature = `${h}.${p}.${sig.slice(0, -3)}${sig.endsWith("AAA") ? "BBB" : "AAA"}`;
  // Expiry is checked in whole seconds: wait until the one-second token is past it.
  await Bun.sleep(2100);

  const cases = {
    "unknown user": await answer(basic("no-such-user", "exists-password-1")),
    "bad password": await answer(basic("exists", "wrong-password-1")),
    "unknown token subject": await answer(`Bearer ${orphan}`),
    "bad signature": await answer(`Bearer ${badSignature}`),
    "expired token": await answer(`Bearer ${shortLived}`),
  };
  const shape = (a: (typeof cases)[keyof typeof cases]) => ({ status: a.status, body: a.body, challenge: a.challenge, type: a.type });
  const first = shape(cases["unknown user"]);
  expect(first.status).toBe(401);
  for (const [what, a] of Object.entries(cases)) expect({ what, ...shape(a) }).toEqual({ what, ...first });
  // Nothing in the answer names the user or the reason.
  for (const word of ["exists", "leaver", "no-such-user", "signature", "subject", "expired at"]) expect(first.body).not.toContain(word);

  // Same timing class for the two Basic cases: an unknown name costs an argon2id check too.
  const unknown: number[] = [];
  const wrong: number[] = [];
  for (let i = 0; i < 3; i++) {
    unknown.push((await answer(basic(`nobody-${i}`, "exists-password-1"))).ms);
    wrong.push((await answer(basic("exists", `wrong-password-${i}`))).ms);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[1]!;
  expect(median(unknown)).toBeGreaterThan(median(wrong) / 3);

  // The operator still learns why, from the log.
  const log = s.lines.join("\n");
  for (const reason of ["unknown user", "wrong password", "unknown token subject", "bad signature", "token expired"]) expect(log).toContain(reason);
});
