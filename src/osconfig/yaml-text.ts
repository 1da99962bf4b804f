// The one YAML spelling of the renderers in this folder: deterministic (keys in insertion order),
// no anchors or aliases (a repeated key list is written out twice, as cloud-init and Talos read
// it), no line folding (a PEM or a key line stays one line per line).

import YAML from "yaml";
import { ProfileError } from "./read.ts";

export function yamlText(value: unknown): string {
  return YAML.stringify(value, { version: "1.1", aliasDuplicateObjects: false, lineWidth: 0, minContentWidth: 0 });
}

/** Parses a YAML (or JSON) param value; errors name the param and quote the parser's reason. */
export function parseYamlParam(param: string, text: string): unknown {
  const doc = YAML.parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new ProfileError(param, `not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}`);
  return doc.toJS({ maxAliasCount: 100 });
}
