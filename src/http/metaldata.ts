// A metadata service for machines that ask one instead of fetching a per-machine file: LinuxKit's
// `metadata` package, and images that try the EC2 instance metadata paths. Routing and answers
// only; which machine asks is boot/machine-metadata.ts's question (the source address, never a
// header: X-Forwarded-For and Host change nothing).
//
// LinuxKit's metaldata provider (pkg/metadata/provider_metaldata.go) asks, on port 80:
//   GET http://metaldata/get/meta/hostname      must answer 200: it is also the probe; the body
//                                               goes to sethostname(2) as it is, so no newline
//   GET .../get/meta/{public-ipv4,private-ipv4,failure-domain,machine-id,machine-type}
//                                               each optional: any status but 200 only skips
//                                               /run/config/<key with "_"> (a log line)
//   GET .../get/meta/authorized-keys            written as it is to /run/config/ssh/authorized_keys
//   GET http://metaldata/get/user               optional; the body is /run/config/userdata (and,
//                                               if it is JSON, a tree of files under /run/config)
// Its AWS and OpenStack providers ask http://169.254.169.254/latest/meta-data/{hostname,
// public-ipv4,local-ipv4,placement/availability-zone,instance-type,instance-id,local-hostname,
// public-keys/0/openssh-key} and /latest/user-data, with the same "only hostname must work" rule.
// cloud-init's EC2 datasource first checks <version>/meta-data/instance-id for a dated version
// (2009-04-04, 2016-09-02, 2021-03-23), so any YYYY-MM-DD is answered like "latest".
//
// EC2's conventions are kept: values without a trailing newline, directory listings one entry a
// line with "/" after subdirectories, an entry that has no value is absent (404), not empty.
// public-ipv4 is such an entry: a machine on a provisioning network has no public address unless
// the operator says so (metaldata-public-ipv4); answering the private one would be a guess.

import type { Logger } from "../log/logger.ts";
import { rateLimited } from "../log/logger.ts";
import type { MachineMetadata, MetadataSource } from "../boot/machine-metadata.ts";

export interface MetaldataOrigin {
  /** The request's source address, from the socket. */
  remoteAddress: string;
}

export type MetaldataHandler = (req: Request, origin: MetaldataOrigin) => Promise<Response>;

export interface MetaldataHandlerOptions {
  source: MetadataSource;
  log: Logger;
}

const ALLOW = "GET, HEAD";
/** Longer than any path answered here by far; a longer one is refused before anything is looked up. */
const MAX_PATH = 256;
/** Characters of every answered path: nothing is percent-encoded, nothing is a dot segment. */
const PLAIN_PATH = /^\/[A-Za-z0-9._=/-]*$/;
const EC2_VERSION = /^(latest|\d{4}-\d{2}-\d{2})$/;

/** Whether `pathname` is one of the paths this service owns (the boot file server hands them over). */
export function isMetaldataPath(pathname: string): boolean {
  if (pathname === "/get/user" || pathname.startsWith("/get/meta/")) return true;
  const [, version = "", part] = pathname.split("/", 3);
  return EC2_VERSION.test(version) && (part === undefined || part === "" || part === "meta-data" || part === "user-data");
}

/** The path of a request URL as sent (no decoding: no answered path needs any). */
export function rawPathname(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0) return "/";
  let end = url.length;
  for (const stop of ["?", "#"]) {
    const i = url.indexOf(stop, start);
    if (i >= 0 && i < end) end = i;
  }
  return url.slice(start, end);
}

type Answer = string | undefined;

export function createMetaldataHandler(opts: MetaldataHandlerOptions): MetaldataHandler {
  const { source, log } = opts;
  const unknown = rateLimited(log, 60_000, 1);
  const failed = rateLimited(log, 60_000, 1);

  return async (req, origin) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return text(req, 405, `method ${req.method} not allowed\n`, { Allow: ALLOW });
    }
    const path = rawPathname(req.url);
    if (path.length > MAX_PATH) return text(req, 414, "request path too long\n");
    const route = PLAIN_PATH.test(path) && !/(^|\/)\.\.?(\/|$)/.test(path) ? routeOf(path) : undefined;
    if (!route) return notFound(req);
    let machine: MachineMetadata | undefined;
    try {
      machine = source.byAddress(origin.remoteAddress);
    } catch (err) {
      // A profile cycle, a sealed value without the key: the operator's to fix, named in the log.
      failed("lookup", "metadata: cannot describe the machine", { remote: origin.remoteAddress, error: (err as Error)?.message ?? String(err) });
      return text(req, 503, "metadata unavailable; see the server log\n");
    }
    if (!machine) {
      unknown(`unknown:${origin.remoteAddress}`, "metadata: request from an address no machine holds (answered as not found)", {
        remote: origin.remoteAddress,
        path,
        fix: "set the machine's Address, or let Socle's DHCP lease it the address",
      });
      return notFound(req);
    }
    let body: Answer;
    try {
      body = await route(machine);
    } catch (err) {
      failed("answer", "metadata: cannot answer", { remote: origin.remoteAddress, path, error: (err as Error)?.message ?? String(err) });
      return text(req, 503, "metadata unavailable; see the server log\n");
    }
    log.debug(req.method, { path, remote: origin.remoteAddress, machine: machine.uuid, status: body === undefined ? 404 : 200 });
    return body === undefined ? notFound(req) : text(req, 200, body, { "Cache-Control": "no-store" });
  };
}

/** The answer for `path`, or undefined for a path this service does not have. */
function routeOf(path: string): ((m: MachineMetadata) => Promise<Answer>) | undefined {
  if (path === "/get/user") return async (m) => m.userData;
  if (path.startsWith("/get/meta/")) {
    const key = path.slice("/get/meta/".length);
    const get = entryOf(METALDATA, key);
    return get && (async (m) => get(m));
  }
  const [, version = "", ...rest] = path.split("/");
  if (!EC2_VERSION.test(version)) return undefined;
  if (rest.length === 0 || (rest.length === 1 && rest[0] === "")) return async (m) => listing([["meta-data/", true], ["user-data", m.userData !== undefined]]);
  const [part, ...sub] = rest;
  if (part === "user-data" && sub.length === 0) return async (m) => m.userData;
  if (part !== "meta-data") return undefined;
  // "meta-data" and "meta-data/" both list; so does "public-keys" without its slash, as on EC2.
  const key = sub.join("/").replace(/\/$/, "");
  const get = entryOf(EC2, key);
  if (get) return get;
  const pk = /^public-keys\/(\d{1,4})(\/openssh-key)?$/.exec(key);
  if (!pk) return undefined;
  const index = Number(pk[1]);
  return async (m) => {
    const entry = m.accessKeys[index];
    if (!entry || String(index) !== pk[1]) return undefined;
    return pk[2] ? entry.key : "openssh-key";
  };
}

const METALDATA: Readonly<Record<string, (m: MachineMetadata) => Answer | Promise<Answer>>> = {
  hostname: (m) => m.hostname(),
  "public-ipv4": (m) => m.publicIpv4,
  "private-ipv4": (m) => m.address,
  "failure-domain": (m) => m.failureDomain,
  "machine-id": (m) => m.uuid,
  "machine-type": (m) => m.machineType,
  // One key a line, with the final newline an authorized_keys file has.
  "authorized-keys": (m) => (m.accessKeys.length === 0 ? undefined : m.accessKeys.map((k) => `${k.key}\n`).join("")),
};

/** EC2's host names are qualified: <short name>.<dns-domain>. */
async function fqdn(m: MachineMetadata): Promise<Answer> {
  const short = await m.hostname();
  return short === undefined || m.dnsDomain === "" ? short : `${short}.${m.dnsDomain}`;
}

const EC2: Readonly<Record<string, (m: MachineMetadata) => Promise<Answer>>> = {
  "": async (m) =>
    listing([
      ["hostname", true],
      ["instance-id", true],
      ["instance-type", m.machineType !== undefined],
      ["local-hostname", true],
      ["local-ipv4", true],
      ["placement/", m.failureDomain !== undefined],
      ["public-ipv4", m.publicIpv4 !== undefined],
      ["public-keys/", m.accessKeys.length > 0],
    ]),
  hostname: fqdn,
  "local-hostname": fqdn,
  "local-ipv4": async (m) => m.address,
  "public-ipv4": async (m) => m.publicIpv4,
  "instance-id": async (m) => m.uuid,
  "instance-type": async (m) => m.machineType,
  placement: async (m) => (m.failureDomain === undefined ? undefined : "availability-zone"),
  "placement/availability-zone": async (m) => m.failureDomain,
  // "<index>=<name>" a line; a label is the operator's, so control characters are dropped.
  "public-keys": async (m) => (m.accessKeys.length === 0 ? undefined : m.accessKeys.map((k, i) => `${i}=${k.label.replace(/[\x00-\x1f\x7f]/g, "")}`).join("\n")),
};

/** A table's own entry ("constructor" and "__proto__" are paths like any other, and not found). */
function entryOf<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

function listing(entries: Array<[string, boolean]>): string {
  return entries
    .filter(([, present]) => present)
    .map(([name]) => name)
    .join("\n");
}

function notFound(req: Request): Response {
  return text(req, 404, "not found\n");
}

function text(req: Request, status: number, body: string, extra: Record<string, string> = {}): Response {
  const bytes = new TextEncoder().encode(body);
  const headers = { "Content-Type": "text/plain; charset=utf-8", "Content-Length": String(bytes.length), ...extra };
  return new Response(req.method === "HEAD" ? null : bytes, { status, headers });
}
