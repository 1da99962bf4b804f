// The e2e disk image's config area (the GPT partition named "socle-config", the second; no
// filesystem): what a deploy step writes there with dd and what the image's socle-image-config
// reads back. Plain text so a shell can write it and a person can read it with `dd | strings`:
//
//   RS_ENDPOINT=https://198.51.100.1:8092
//   RS_UUID=5b0f...
//   RS_TOKEN=...
//   RS_BOOTENV=local
//   -----CA-----
//   -----BEGIN CERTIFICATE-----
//   ...
//   -----END CERTIFICATE-----
//   <NUL bytes to the end of the 1 MiB area>
//
// Values are limited to [A-Za-z0-9_.:/@%+,=~-] (URLs, UUIDs, tokens): the reader writes them to
// /etc/socle/agent.env unquoted, and leaves out anything else.

export const CONFIG_AREA = {
  /** GPT partition name: how the image finds it (socle-image-config). */
  name: "socle-config",
  /** GPT partition type: Socle's own, so no tool takes it for a filesystem. */
  type: "5FDA9EF4-6DE9-4863-BBB5-BD0BF719BFE4",
  partition: 2,
  bytes: 1024 * 1024,
  caMarker: "-----CA-----",
} as const;

const KEY = /^[A-Z_][A-Z0-9_]*$/;
const VALUE = /^[A-Za-z0-9_.:/@%+,=~-]*$/;

/** The 1 MiB the deploy step writes: KEY=value lines, the CA after its marker, NUL padding. */
export function configBlob(values: Readonly<Record<string, string>>, caPem = ""): Uint8Array {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (!KEY.test(k)) throw new Error(`config area: key "${k}" is not [A-Z_][A-Z0-9_]*`);
    if (!VALUE.test(v)) throw new Error(`config area: ${k}: value "${v}" has characters outside [A-Za-z0-9_.:/@%+,=~-]`);
    lines.push(`${k}=${v}`);
  }
  if (caPem !== "") {
    if (caPem.includes("\0")) throw new Error("config area: the CA PEM holds a NUL byte");
    lines.push(CONFIG_AREA.caMarker, caPem.trimEnd());
  }
  const text = new TextEncoder().encode(lines.join("\n") + "\n");
  if (text.length > CONFIG_AREA.bytes) throw new Error(`config area: ${text.length} bytes do not fit its ${CONFIG_AREA.bytes}`);
  const out = new Uint8Array(CONFIG_AREA.bytes);
  out.set(text, 0);
  return out;
}
