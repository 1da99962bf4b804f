// Serves the web UI on the API port, outside /api/v3 and its authentication: the page itself holds
// nothing secret, and every call it makes is authenticated by the API.
//
//   GET /, /login and the app's pages (routes.ts)  index.html, Cache-Control: no-cache
//   GET /ui/<name>-<hash>.<ext>                   a bundle file, immutable for a year
//
// The bundle is built by build/ui.ts into assets/ui/; the compiled binary embeds it
// (Bun.embeddedFiles, "assets/ui/..."), a source checkout reads it from disk. A file is found by
// its exact name in the bundle's listing, never by joining a client's path onto a directory, so
// no spelling of ".." or of a slash reaches outside it.
//
// Every answer carries a Content-Security-Policy that allows the server's own scripts, styles and
// connections only: an injected <script> or inline handler does not run, no other site may frame
// the page, and a form may only post back here. No Strict-Transport-Security: appliances are often
// reached by name with a self-signed certificate, and HSTS would turn the browser's certificate
// warning into a wall the operator cannot click through.

import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { isClientRoute } from "./routes.ts";

export const UI_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export const UI_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": UI_CSP,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "X-Frame-Options": "DENY",
};

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  woff2: "font/woff2",
  json: "application/json",
};

/** A bundle file name as build/ui.ts writes them: no path, no leading dot. */
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export interface UiServeOptions {
  /** The embedded files to look through; default Bun.embeddedFiles. */
  embedded?: readonly Blob[];
  /** The source tree's assets/ directory, read when nothing is embedded. */
  assetsDir?: string;
}

type Entry = Blob | { path: string };

/** The bundle's files by name; re-read from disk (a source checkout may build it while running). */
class Bundle {
  private files: Map<string, Entry> | undefined;
  private readAt = 0;
  private readonly embedded: boolean;

  constructor(private readonly opts: UiServeOptions) {
    this.embedded = this.fromEmbedded().size > 0;
  }

  private fromEmbedded(): Map<string, Entry> {
    const out = new Map<string, Entry>();
    for (const blob of this.opts.embedded ?? (Bun.embeddedFiles as Blob[])) {
      const name = (blob as Blob & { name?: string }).name ?? "";
      if (!name.startsWith("assets/ui/")) continue;
      const rel = name.slice("assets/ui/".length);
      if (FILE_NAME.test(rel)) out.set(rel, blob);
    }
    return out;
  }

  async get(name: string): Promise<Entry | undefined> {
    if (this.embedded) {
      this.files ??= this.fromEmbedded();
      return this.files.get(name);
    }
    // From source: the listing is read again at most once a second, so that a rebuild is seen
    // and a stream of requests for names that are not there costs one readdir a second.
    if (this.files === undefined || (!this.files.has(name) && Date.now() - this.readAt > 1000)) {
      this.readAt = Date.now();
      const dir = join(this.opts.assetsDir ?? join(import.meta.dir, "../../assets"), "ui");
      const out = new Map<string, Entry>();
      for (const n of await readdir(dir).catch(() => [] as string[])) if (FILE_NAME.test(n)) out.set(n, { path: join(dir, n) });
      this.files = out;
    }
    return this.files.get(name);
  }
}

/** The entry's bytes; undefined for a file removed from disk since the listing was read. */
async function blobOf(e: Entry | undefined): Promise<Blob | undefined> {
  if (e === undefined || e instanceof Blob) return e;
  const f = Bun.file(e.path);
  return (await f.exists()) ? f : undefined;
}

function typeOf(name: string): string {
  const ext = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  return TYPES[ext] ?? "application/octet-stream";
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Socle: web UI not built</title></head>
<body><h1>The web UI is not built in this checkout</h1>
<p>Build it with <code>bun build/ui.ts</code> (<code>npm install</code>, <code>npm start</code> and
<code>npm run build</code> do it too), then reload this page. The API is at <code>/api/v3</code>.</p>
</body></html>
`;

/**
 * The UI's answer to a request, or undefined when the path is not the UI's (the API's 404 then
 * answers). Only GET and HEAD are served.
 */
export function createUiHandler(opts: UiServeOptions = {}): (req: Request) => Promise<Response | undefined> {
  const bundle = new Bundle(opts);
  return async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") return undefined;
    // The path as sent (percent escapes kept): a bundle name never needs one, and a page path is
    // compared decoded.
    const raw = new URL(req.url).pathname;
    const head = req.method === "HEAD";
    if (raw.startsWith("/ui/")) {
      const name = raw.slice("/ui/".length);
      if (!FILE_NAME.test(name) || name === "index.html") return undefined;
      const blob = await blobOf(await bundle.get(name));
      if (blob === undefined) return undefined;
      return new Response(head ? null : blob, {
        headers: { ...UI_SECURITY_HEADERS, "Content-Type": typeOf(name), "Content-Length": String(blob.size), "Cache-Control": "public, max-age=31536000, immutable" },
      });
    }
    let path: string;
    try {
      path = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (!isClientRoute(path)) return undefined;
    const index = await blobOf(await bundle.get("index.html"));
    if (index === undefined) {
      return new Response(head ? null : NOT_BUILT, { status: 503, headers: { ...UI_SECURITY_HEADERS, "Content-Type": TYPES.html!, "Cache-Control": "no-cache" } });
    }
    return new Response(head ? null : index, { headers: { ...UI_SECURITY_HEADERS, "Content-Type": TYPES.html!, "Cache-Control": "no-cache" } });
  };
}
