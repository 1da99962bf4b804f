// Builds the read-only layer from the shipped content tree (embedded bootenvs/) and the
// read-only built-ins. Layout, one folder per boot environment:
//   <name>/bootenv.yaml|json      a BootEnv object
//   <name>/templates/<ID>         a Template object (ID = file name, Contents = file text)
//   <name>/params/*.yaml|json     Param objects
//   <name>/profiles/*.yaml|json   Profile objects
//   <name>/tasks/*.yaml|json      Task objects (likewise stages/, workflows/)
// Every object is validated by its model; a bad shipped file stops the start with a message
// naming the file, because shipping broken content is a build error, not a runtime condition.

import type { ReadOnlyLayer } from "../store/store.ts";
import type { ModelObject } from "../model/object.ts";
import { SocleError } from "../model/errors.ts";
import { modelFor } from "../model/registry.ts";
import { READ_ONLY_BUILTINS } from "./builtins.ts";
import { parseContentFile } from "../store/content-layer.ts";

export class ContentError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`shipped content ${file}: ${detail}`);
    this.name = "ContentError";
  }
}

/** Folders of named objects, one file each, the folder being the object type. */
const NAMED_FOLDERS: ReadonlySet<string> = new Set(["params", "profiles", "tasks", "stages", "workflows"]);

export function buildContentLayer(files: Readonly<Record<string, string>>): ReadOnlyLayer {
  const objects = new Map<string, Map<string, ModelObject>>();
  const add = (type: string, raw: unknown, file: string) => {
    const def = modelFor(type);
    if (!def) throw new ContentError(file, `unknown type "${type}"`);
    let obj: ModelObject;
    try {
      obj = def.prepare(raw);
    } catch (err) {
      const detail = err instanceof SocleError ? err.messages.join("; ") : String(err);
      throw new ContentError(file, detail);
    }
    const key = String(obj[def.key]);
    let m = objects.get(type);
    if (!m) objects.set(type, (m = new Map()));
    if (m.has(key)) throw new ContentError(file, `${type} "${key}" is defined twice`);
    m.set(key, { ...obj, ReadOnly: true });
  };

  for (const { type, obj } of READ_ONLY_BUILTINS) add(type, obj, `(built-in ${type}/${String(obj.Name)})`);

  for (const file of Object.keys(files).sort()) {
    const parts = file.split("/");
    const text = files[file]!;
    if (parts.length === 2 && /^bootenv\.(ya?ml|json)$/.test(parts[1]!)) {
      add("bootenvs", named(parseDoc(file, text), parts[0]!, file), file);
    } else if (parts.length === 3 && parts[1] === "templates") {
      add("templates", { ID: parts[2], Contents: text }, file);
    } else if (parts.length === 3 && NAMED_FOLDERS.has(parts[1]!) && /\.(ya?ml|json)$/.test(parts[2]!)) {
      add(parts[1]!, named(parseDoc(file, text), parts[2]!.replace(/\.(ya?ml|json)$/, ""), file), file);
    } else if (!/(^|\/)README(\.md)?$/.test(file)) {
      throw new ContentError(file, `not part of the content layout (bootenv.yaml, templates/, ${[...NAMED_FOLDERS].map((f) => `${f}/`).join(", ")})`);
    }
  }
  return { objects };
}

function parseDoc(file: string, text: string): ModelObject {
  try {
    return parseContentFile(file, text);
  } catch (err) {
    throw new ContentError(file, err instanceof SocleError ? err.messages.join("; ") : String(err));
  }
}

/** An object's Name defaults to its folder or file name and must agree with it. */
function named(obj: ModelObject, want: string, file: string): ModelObject {
  if (obj.Name === undefined) return { ...obj, Name: want };
  if (obj.Name !== want) throw new ContentError(file, `Name ${JSON.stringify(obj.Name)} does not match its place "${want}"`);
  return obj;
}
