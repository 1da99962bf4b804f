import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UI_CSP, createUiHandler } from "./serve.ts";
import { isClientRoute } from "./routes.ts";

const dir = mkdtempSync(join(tmpdir(), "socle-ui-serve-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const get = (h: ReturnType<typeof createUiHandler>, path: string, method = "GET") => h(new Request(`https://socle.test${path}`, { method }));

/** An embedded file as Bun.embeddedFiles gives it: a Blob with the path it was embedded under. */
const embedded = (name: string, text: string) => Object.assign(new Blob([text]), { name });

describe("ui handler", () => {
  test("from source without a build: the pages say how to build it, with the CSP", async () => {
    const h = createUiHandler({ embedded: [], assetsDir: join(dir, "empty") });
    const r = (await get(h, "/"))!;
    expect(r.status).toBe(503);
    expect(r.headers.get("content-security-policy")).toBe(UI_CSP);
    expect(await r.text()).toContain("bun build/ui.ts");
    expect(await get(h, "/ui/main-abc.js")).toBeUndefined();
  });

  test("from source, a build made after start is seen", async () => {
    const assets = join(dir, "late");
    const h = createUiHandler({ embedded: [], assetsDir: assets });
    expect((await get(h, "/machines"))!.status).toBe(503);
    mkdirSync(join(assets, "ui"), { recursive: true });
    writeFileSync(join(assets, "ui", "index.html"), "<!doctype html><title>t</title>");
    writeFileSync(join(assets, "ui", "main-1234.js"), "console.log(1)");
    await Bun.sleep(1100);
    expect((await get(h, "/ui/main-1234.js"))!.status).toBe(200);
    const page = (await get(h, "/machines"))!;
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>t</title>");
  });

  test("embedded files are served by exact name, and only under assets/ui/", async () => {
    const h = createUiHandler({
      embedded: [embedded("assets/ui/index.html", "<p>index</p>"), embedded("assets/ui/app-x1.js", "js"), embedded("assets/boot/ipxe.efi", "efi")],
      assetsDir: join(dir, "ignored"),
    });
    expect(await (await get(h, "/ui/app-x1.js"))!.text()).toBe("js");
    expect((await get(h, "/ui/app-x1.js"))!.headers.get("content-type")).toContain("text/javascript");
    expect(await (await get(h, "/system"))!.text()).toBe("<p>index</p>");
    expect((await get(h, "/ui/app-x1.js", "HEAD"))!.status).toBe(200);
    for (const p of ["/ui/ipxe.efi", "/ui/../boot/ipxe.efi", "/ui/%2e%2e%2fboot%2fipxe.efi", "/ui/index.html", "/ui/app-x1.js%00", "/ui/.hidden", "/boot/ipxe.efi"]) {
      expect(await get(h, p)).toBeUndefined();
    }
    expect(await get(h, "/", "POST")).toBeUndefined();
  });

  test("client routes: the pages and one machine, nothing else", () => {
    for (const p of ["/", "/login", "/machines", "/machines/0b6a1c1e-0000-4000-8000-000000000001", "/machines/Name:n1", "/files", "/system"]) expect(isClientRoute(p)).toBe(true);
    for (const p of ["/machines/a/b", "/machines/", "/api/v3/machines", "/ui/x.js", "/machines/../x", "/favicon.ico", "/etc/passwd"]) expect(isClientRoute(p)).toBe(false);
  });
});
