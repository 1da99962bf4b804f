// Fixtures for the CLI's socket tests: a throw-away CA with server certificates (made with
// node:crypto keys and node-forge certificates, in memory), and a tiny in-memory /api/v3 served by
// Bun.serve on 127.0.0.1:0. Just enough API to check what the CLI sends over real TLS; it is not
// the real server (src/api) and does not try to be.

import { generateKeyPairSync } from "node:crypto";
import forge from "node-forge";

export interface TestCert {
  cert: string;
  key: string;
}

export interface TestPki {
  ca: TestCert;
  /** Issue a server certificate signed by this CA. */
  issue(opts: { ips?: string[]; dns?: string[]; notBefore?: Date; notAfter?: Date }): TestCert;
}

function rsaKey() {
  const { privateKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  const key = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { pem: privateKey, key, pub: forge.pki.setRsaPublicKey(key.n, key.e) };
}

let serial = 1;

export function makeTestPki(commonName = "Socle Test CA"): TestPki {
  const caKey = rsaKey();
  const caCert = forge.pki.createCertificate();
  caCert.publicKey = caKey.pub;
  caCert.serialNumber = String(serial++).padStart(2, "0");
  caCert.validity.notBefore = new Date(Date.now() - 3600_000);
  caCert.validity.notAfter = new Date(Date.now() + 86400_000);
  const caName = [{ name: "commonName", value: commonName }];
  caCert.setSubject(caName);
  caCert.setIssuer(caName);
  caCert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  caCert.sign(caKey.key, forge.md.sha256.create());

  return {
    ca: { cert: forge.pki.certificateToPem(caCert), key: caKey.pem },
    issue({ ips = ["127.0.0.1"], dns = [], notBefore, notAfter }) {
      const k = rsaKey();
      const c = forge.pki.createCertificate();
      c.publicKey = k.pub;
      c.serialNumber = String(serial++).padStart(2, "0");
      c.validity.notBefore = notBefore ?? new Date(Date.now() - 3600_000);
      c.validity.notAfter = notAfter ?? new Date(Date.now() + 86400_000);
      c.setSubject([{ name: "commonName", value: dns[0] ?? ips[0] ?? "server" }]);
      c.setIssuer(caCert.subject.attributes);
      c.setExtensions([
        { name: "basicConstraints", cA: false },
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
        { name: "extKeyUsage", serverAuth: true },
        { name: "subjectAltName", altNames: [...ips.map((ip) => ({ type: 7, ip })), ...dns.map((value) => ({ type: 2, value }))] },
      ]);
      c.sign(caKey.key, forge.md.sha256.create());
      return { cert: forge.pki.certificateToPem(c), key: k.pem };
    },
  };
}

export interface SeenRequest {
  method: string;
  path: string;
  search: string;
  authorization: string | null;
  contentType: string | null;
  body: unknown;
}

export interface FakeApi {
  url: string;
  port: number;
  requests: SeenRequest[];
  /** Objects by type and key. */
  objects: Map<string, Map<string, Record<string, unknown>>>;
  stop(): void;
}

const KEYS: Record<string, string> = { machines: "Uuid", profiles: "Name", bootenvs: "Name", reservations: "Addr" };

function apiError(type: string, code: number, model: string, key: string, msg: string): Response {
  return Response.json({ Model: model, Key: key, Type: type, Messages: [msg], Code: code }, { status: code });
}

/** A test's own answers, asked before the fake's (undefined: not handled): event streams, timelines. */
export type FakeRoutes = (req: Request, url: URL) => Response | undefined | Promise<Response | undefined>;

/**
 * A fake /api/v3: CRUD on a few types (machines keyed by Uuid, with Name:<name> index keys),
 * `info`, and basic auth admin/secret-pw or bearer "good-token" when `requireAuth`.
 */
export function startFakeApi(opts: { tls?: TestCert; requireAuth?: boolean; routes?: FakeRoutes } = {}): FakeApi {
  const requests: SeenRequest[] = [];
  const objects = new Map<string, Map<string, Record<string, unknown>>>();
  let uuid = 0;

  const find = (type: string, key: string) => {
    const store = objects.get(type);
    if (!store) return undefined;
    if (key.startsWith("Name:")) return [...store.values()].find((o) => o.Name === key.slice(5));
    return store.get(key);
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    ...(opts.tls ? { tls: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
    async fetch(req) {
      const url = new URL(req.url);
      const text = await req.text();
      requests.push({
        method: req.method,
        path: url.pathname,
        search: url.search,
        authorization: req.headers.get("authorization"),
        contentType: req.headers.get("content-type"),
        body: text ? JSON.parse(text) : undefined,
      });
      if (opts.requireAuth) {
        const auth = req.headers.get("authorization");
        if (auth !== `Basic ${btoa("admin:secret-pw")}` && auth !== "Bearer good-token") {
          return apiError("Unauthorized", 401, "", "", "authentication required");
        }
      }
      const own = await opts.routes?.(req, url);
      if (own) return own;
      const parts = url.pathname.split("/").slice(3).map(decodeURIComponent); // ["", "api", "v3", ...]
      const [type = "", key, sub] = parts;
      if (type === "info" && req.method === "GET") return Response.json({ Version: "fake", Id: "test" });
      if (!(type in KEYS)) return apiError("NotFound", 404, type, "", `no such type "${type}"`);
      const keyField = KEYS[type] as string;
      const store = objects.get(type) ?? new Map();
      objects.set(type, store);
      if (key === undefined) {
        if (req.method === "GET") {
          let list = [...store.values()];
          for (const [f, v] of url.searchParams) {
            const m = /^Eq\((.*)\)$/.exec(v);
            if (m) list = list.filter((o) => String(o[f]) === m[1]);
          }
          return Response.json(list);
        }
        if (req.method === "POST") {
          const obj = JSON.parse(text) as Record<string, unknown>;
          if (type === "machines") obj.Uuid = `00000000-0000-4000-8000-${String(++uuid).padStart(12, "0")}`;
          const k = String(obj[keyField] ?? "");
          if (store.has(k)) return apiError("Conflict", 409, type, k, `${type} "${k}" already exists`);
          store.set(k, obj);
          return Response.json(obj, { status: 201 });
        }
      }
      const obj = key === undefined ? undefined : find(type, key);
      if (!obj) return apiError("NotFound", 404, type, key ?? "", `${type} "${key}" not found`);
      if (sub === "params") return Response.json(obj.Params ?? {});
      if (req.method === "GET") return Response.json(obj);
      if (req.method === "DELETE") {
        store.delete(String(obj[keyField]));
        return Response.json(obj);
      }
      return apiError("BadRequest", 400, type, key ?? "", `method ${req.method} not supported by the fake`);
    },
  });
  const port = server.port as number;
  return {
    url: `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    requests,
    objects,
    stop: () => server.stop(true),
  };
}
