// Helpers for the schema tests: the messages of a rejected prepare.

import { SocleError } from "../errors.ts";
import type { ModelDef } from "../model-def.ts";
import type { ModelObject } from "../object.ts";

export function rejection(def: ModelDef, input: unknown, existing?: ModelObject): SocleError {
  try {
    def.prepare(input, existing);
  } catch (e) {
    if (e instanceof SocleError) return e;
    throw e;
  }
  throw new Error(`expected ${def.prefix} to reject ${JSON.stringify(input)}`);
}

export const messagesOf = (def: ModelDef, input: unknown, existing?: ModelObject) => rejection(def, input, existing).messages;
