// What `doctor` and `machines timeline` are pointed at: a MAC (of any machine, known or not), a
// machine's Uuid, an index key (Name:web1), or a bare machine name. MACs come in every spelling
// tools print: aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, Cisco's aabb.ccdd.eeff, bare aabbccddeeff,
// single-digit octets (a:b:c:d:e:f from some arp tables), and PXELINUX's 01-aa-bb-cc-dd-ee-ff
// (the ARP hardware type 1 in front, as in its pxelinux.cfg file names). Three or more short
// groups with separators are taken as a MAC attempt and refused clearly when they are not one (a
// typo must not become a search for a machine of that name); a machine whose name looks like
// that is reached as Name:<name>.

import { checkMac } from "../model/validate.ts";
import { UsageError } from "./cli-error.ts";

export type MachineRef = { kind: "mac"; mac: string } | { kind: "machine"; key: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * What a MAC looks like, right or wrong: three or more groups of hex digits with separators, or of
 * one or two letters and digits with colons (aa:bb:cc:dd:ee:gg). Two groups (cafe-01, Name:web1)
 * are a name or an index key, except Cisco's dotted groups of four hex digits.
 */
const MAC_LIKE = /^[0-9a-f]{1,4}(?:[:.-][0-9a-f]{1,4}){2,}$/i;
const COLON_OCTETS = /^[0-9a-z]{1,2}(?::[0-9a-z]{1,2}){2,}$/i;
/** Cisco's groups of four, however many. */
const DOTTED_QUADS = /^[0-9a-f]{4}(?:\.[0-9a-f]{4})+$/i;

/** An Ethernet MAC in lower-case colon form, or a UsageError that says what is wrong with it. */
export function parseMac(raw: string): string {
  let s = raw.trim();
  if (/^[0-9a-f]{12}$/i.test(s)) s = s.replace(/(..)(?!$)/g, "$1:");
  // PXELINUX's spelling: ARP hardware type 01 (Ethernet), then the six octets.
  const groups = s.split(/[:-]/);
  if (groups.length === 7 && groups[0] === "01" && !s.includes(".")) s = groups.slice(1).join(s.includes(":") ? ":" : "-");
  const r = checkMac(s);
  const hint = "; a machine whose name looks like this is Name:<name>";
  if (!r.ok) throw new UsageError(`${r.error}${hint}`);
  if (r.value.split(":").length !== 6) throw new UsageError(`invalid MAC "${raw}": the boot timeline is kept for 6-byte Ethernet addresses${hint}`);
  return r.value;
}

export function parseMachineRef(raw: string): MachineRef {
  const s = raw.trim();
  if (s === "") throw new UsageError("empty machine: expected a MAC, a machine's Uuid or its name");
  if (UUID.test(s)) return { kind: "machine", key: s.toLowerCase() };
  if (/^[0-9a-f]{12}$/i.test(s) || MAC_LIKE.test(s) || COLON_OCTETS.test(s) || DOTTED_QUADS.test(s)) return { kind: "mac", mac: parseMac(s) };
  return { kind: "machine", key: machineKey(s) };
}

/** A Uuid or an index key (Name:web1) as given; anything else is a machine's name. */
export function machineKey(raw: string): string {
  if (UUID.test(raw) || raw.includes(":")) return raw;
  return `Name:${raw}`;
}
