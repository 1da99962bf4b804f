// The names a server certificate must carry so that every way of reaching this host verifies:
// its host name, every local address, the loopback names, and what the operator adds.

import { hostname as osHostname, networkInterfaces } from "node:os";
import { SocleError } from "../model/errors.ts";
import { canonicalIp } from "./ip-bytes.ts";

export interface SubjectNames {
  /** DNS names, lower-case, de-duplicated, in a stable order. */
  dns: string[];
  /** IP addresses in canonical form (see canonicalIp), de-duplicated, in a stable order. */
  ips: string[];
}

// A DNS name as found on real hosts: labels of letters, digits, hyphens and (tolerated, since
// hosts do carry them) underscores; a leading "*." wildcard only for operator extras.
const LABEL = "[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?";
const DNS_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`);

export function isDnsName(name: string, allowWildcard = false): boolean {
  const n = allowWildcard && name.startsWith("*.") ? name.slice(2) : name;
  return n.length > 0 && n.length <= 253 && DNS_NAME.test(n);
}

export interface NameSources {
  hostname?: string;
  interfaces?: ReturnType<typeof networkInterfaces>;
}

/**
 * Names for the server certificate. Throws ValidationError naming the first bad operator extra.
 * An unusable os.hostname() is skipped and reported through `skipped`, not thrown: the machine's
 * name is not the operator's input.
 */
export function subjectNames(
  extraHostnames: readonly string[] = [],
  extraAddresses: readonly string[] = [],
  sources: NameSources = {},
): SubjectNames & { skipped: string[] } {
  const dns = new Set<string>();
  const ips = new Set<string>();
  const skipped: string[] = [];

  const host = (sources.hostname ?? osHostname()).toLowerCase().replace(/\.$/, "");
  if (isDnsName(host)) dns.add(host);
  else skipped.push(`host name "${host}" is not a DNS name`);
  dns.add("localhost");
  for (const h of extraHostnames) {
    const n = h.trim().toLowerCase().replace(/\.$/, "");
    if (!isDnsName(n, true)) {
      throw new SocleError("ValidationError", "pki", h, `add certificate host name "${h}": not a DNS name`);
    }
    dns.add(n);
  }

  ips.add("127.0.0.1");
  ips.add(canonicalIp("::1") as string);
  const ifaces = sources.interfaces ?? networkInterfaces();
  for (const list of Object.values(ifaces)) {
    for (const info of list ?? []) {
      const c = canonicalIp(info.address);
      if (c) ips.add(c);
      else skipped.push(`interface address "${info.address}" is not an IP address`);
    }
  }
  for (const a of extraAddresses) {
    const c = canonicalIp(a.trim());
    if (!c) throw new SocleError("ValidationError", "pki", a, `add certificate address "${a}": not an IPv4 or IPv6 address`);
    ips.add(c);
  }
  return { dns: [...dns].sort(), ips: [...ips].sort(), skipped };
}

/**
 * The DNS names and (canonical) addresses in a certificate's subjectAltName, from node's
 * X509Certificate.subjectAltName text ("DNS:a, IP Address:198.51.100.1, IP Address:FE80:0:...").
 */
export function parseSubjectAltName(text: string | undefined): SubjectNames {
  const dns: string[] = [];
  const ips: string[] = [];
  for (const entry of (text ?? "").split(", ")) {
    if (entry.startsWith("DNS:")) dns.push(entry.slice(4).toLowerCase());
    else if (entry.startsWith("IP Address:")) {
      const c = canonicalIp(entry.slice(11));
      if (c) ips.push(c);
    }
  }
  return { dns, ips };
}

/** Names `want` holds that `have` lacks, for the log line that says why a certificate is replaced. */
export function missingNames(want: SubjectNames, have: SubjectNames): string[] {
  const dns = new Set(have.dns);
  const ips = new Set(have.ips);
  return [...want.dns.filter((d) => !dns.has(d)), ...want.ips.filter((i) => !ips.has(i))];
}
