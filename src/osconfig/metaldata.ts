// What LinuxKit's metaldata provider gets for a machine (http://metaldata/get/meta/<key> and
// /get/user), as one JSON document: the render preview's "metaldata" format. The service itself
// (http/metaldata.ts over boot/machine-metadata.ts) answers key by key from the request's source
// address; test/metaldata.test.ts checks that this preview and the service agree.

import type { OsProfile } from "./profile.ts";

/** The params the answers read, beside the profile's host name and admin keys. */
export const METALDATA_PARAMS = {
  publicIpv4: "metaldata-public-ipv4",
  failureDomain: "failure-domain",
  machineType: "machine-type",
  userData: "linuxkit-user-data",
} as const;

export interface MetaldataFacts {
  uuid: string;
  /** The machine's Address (the service answers the address the request came from). */
  address: string;
  arch: string;
  /** A param's value, or undefined when unset. */
  param(name: string): unknown;
}

const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);

/** Each /get/meta/<key> answer (absent: the service's 404) and the /get/user answer. */
export function metaldataAnswers(profile: OsProfile, f: MetaldataFacts): { meta: Record<string, string>; user?: string } {
  const meta: Record<string, string | undefined> = {
    hostname: profile.hostname,
    "public-ipv4": text(f.param(METALDATA_PARAMS.publicIpv4)),
    "private-ipv4": text(f.address),
    "failure-domain": text(f.param(METALDATA_PARAMS.failureDomain)),
    "machine-id": f.uuid,
    "machine-type": text(f.param(METALDATA_PARAMS.machineType)) ?? text(f.arch),
    // One key a line, with the final newline an authorized_keys file has.
    "authorized-keys": profile.adminKeys.length === 0 ? undefined : profile.adminKeys.map((k) => `${k}\n`).join(""),
  };
  const user = text(f.param(METALDATA_PARAMS.userData));
  return {
    meta: Object.fromEntries(Object.entries(meta).filter((e): e is [string, string] => e[1] !== undefined)),
    ...(user !== undefined ? { user } : {}),
  };
}
