// A Swagger UI page for the OpenAPI document, served from assets embedded in the binary
// (swagger-ui-dist), so it works on an appliance with no Internet access.

import bundlePath from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import cssPath from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import { notFound } from "../model/errors.ts";

const ASSETS: Record<string, { path: string; type: string }> = {
  "swagger-ui-bundle.js": { path: bundlePath, type: "text/javascript; charset=utf-8" },
  "swagger-ui.css": { path: cssPath, type: "text/css; charset=utf-8" },
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Socle API</title>
<link rel="stylesheet" href="/api/v3/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/v3/swagger-ui/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({ url: "/api/v3/openapi.json", dom_id: "#swagger-ui", withCredentials: true });
</script>
</body>
</html>
`;

export function swaggerPage(): Response {
  return new Response(PAGE, { headers: { "Content-Type": "text/html; charset=utf-8" } });
}

export function swaggerAsset(name: string): Response {
  const asset = ASSETS[name];
  if (!asset) throw notFound("swagger-ui", name);
  return new Response(Bun.file(asset.path), {
    headers: { "Content-Type": asset.type, "Cache-Control": "public, max-age=86400" },
  });
}
