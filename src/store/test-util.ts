// Helpers shared by the store's tests.

import { expect } from "bun:test";
import { SocleError } from "../model/errors.ts";

/** The SocleError `p` rejects with (fails the test if it resolves or rejects with anything else). */
export async function refusal(p: Promise<unknown>): Promise<SocleError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(SocleError);
  return e as SocleError;
}
