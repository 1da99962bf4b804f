// Strict views for templates: reading a field that does not exist is an error naming it, not a
// silent `undefined` rendered as the text "undefined" (`it.machine.Name` instead of
// `it.Machine.Name`). Optional data is spelled out as a field whose value is undefined
// (`it.Machine` for an unknown machine), so `it.Machine ? ... : ...` still works.

import { RenderError } from "./render-error.ts";

const STRICT = new WeakSet<object>();

/** Names some JavaScript machinery probes on any object; they read as undefined, never throw. */
const PROBES = new Set(["toJSON", "then", "asymmetricMatch", "$$typeof", "nodeType"]);

export function strictView<T extends object>(target: T, label: string): T {
  if (STRICT.has(target)) return target;
  const view = new Proxy(target, {
    get(obj, prop, receiver) {
      if (typeof prop === "symbol" || prop in obj || prop.startsWith("__") || PROBES.has(prop)) return Reflect.get(obj, prop, receiver);
      const known = Object.keys(obj).filter((k) => !k.startsWith("__"));
      throw new RenderError("runtime", `${label} has no field ${JSON.stringify(prop)}; known: ${known.join(", ")}`);
    },
  });
  STRICT.add(view);
  return view;
}
