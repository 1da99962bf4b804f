// The web UI in a real browser (Debian's chromium, driven by playwright-core) against a real Socle
// on loopback: login, every page, a live update, a render preview, an upload with progress,
// logout, and the attacks the session design is meant to stop. Screenshots of each page go to
// .cache/ui-shots/. Skips, saying why, when chromium is not installed.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN_PASSWORD, startTestSocle, type TestSocle } from "../helpers/socle.ts";
import { buildUi } from "../../build/ui.ts";
import { checkMachineTimelinePage, chromiumPath, launchBrowser, login, newPage, shot, type LaunchedBrowser } from "./browser.ts";

// Functions passed to page.evaluate run in the page; the root tsconfig has no DOM types (Bun's
// own would clash), so the page's globals are declared here, for this file only, as loosely as used.
interface PageElement {
  textContent: string | null;
  value: number;
  setAttribute(name: string, value: string): void;
}
declare const document: {
  cookie: string;
  activeElement: PageElement | null;
  body: { appendChild(e: unknown): void };
  createElement(tag: string): PageElement;
  querySelector(sel: string): PageElement | null;
  getElementById(id: string): PageElement | null;
};
declare const window: Record<string, unknown>;
declare const localStorage: Record<string, string>;
declare const sessionStorage: Record<string, string>;
declare function requestAnimationFrame(fn: () => void): number;

const ROOT = join(import.meta.dir, "../..");
const available = chromiumPath() !== undefined;
if (!available) console.log("skip: test/ui/ui.test.ts needs chromium (apt install chromium)");

let s: TestSocle;
let b: LaunchedBrowser | undefined;
let base = "";

beforeAll(async () => {
  if (!available) return;
  await buildUi(ROOT);
  s = await startTestSocle();
  base = s.base;
  b = await launchBrowser();
});
afterAll(async () => {
  await b?.close();
  await s?.stop();
});

const browser = () => b!.browser;
const maybe = available ? test : test.skip;

/** The session cookie the browser holds for the server. */
async function sessionCookieOf(context: import("playwright-core").BrowserContext): Promise<string | undefined> {
  return (await context.cookies(base)).find((c) => c.name === "__Host-socle-session")?.value;
}

describe("web UI in chromium", () => {
  maybe("login: a wrong password is refused on the page; the right one shows the app", async () => {
    const { context, page, errors } = await newPage(browser());
    await page.goto(`${base}/`);
    await page.getByLabel("User name").fill("admin");
    await page.getByLabel("Password").fill("not-the-password");
    await shot(page, "login");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").filter({ hasText: "authentication failed" }).waitFor();
    expect(await sessionCookieOf(context)).toBeUndefined();
    await login(page, base, "admin", ADMIN_PASSWORD);
    errors.splice(0); // the app's probe of the session before login answers 401
    const cookie = (await context.cookies(base)).find((c) => c.name === "__Host-socle-session");
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.secure).toBe(true);
    expect(cookie?.sameSite).toBe("Strict");
    await page.getByRole("heading", { name: /Machines/ }).waitFor();
    // Nothing the page's scripts can read holds the token.
    const stored = await page.evaluate(() => ({ cookie: document.cookie, local: JSON.stringify({ ...localStorage }), session: JSON.stringify({ ...sessionStorage }) }));
    expect(stored.cookie).toBe("");
    expect(stored.local).not.toContain(cookie!.value.slice(0, 20));
    expect(stored.session).not.toContain(cookie!.value.slice(0, 20));
    expect(stored.local).toBe("{}");
    expect(page.url()).not.toContain(cookie!.value.slice(0, 20));
    expect(errors).toEqual([]);
    await context.close();
  });

  maybe("machines: a machine created through the API appears without a reload, and the filters apply", async () => {
    const { context, page, errors } = await newPage(browser());
    await login(page, base, "admin", ADMIN_PASSWORD);
    errors.splice(0); // the app's probe of the session before login answers 401
    await page.goto(`${base}/machines`);
    await page.getByText("live", { exact: true }).waitFor();
    // A marker a reload would wipe.
    await page.evaluate(() => ((window as unknown as { __sameDocument: number }).__sameDocument = 1));
    const made = await s.call("POST", "/api/v3/machines", { body: { Name: "live-one", HardwareAddrs: ["52:54:00:10:00:01"], Address: "198.51.100.21" } });
    expect(made.status).toBe(201);
    await page.getByRole("link", { name: "live-one" }).waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: number }).__sameDocument)).toBe(1);
    await s.call("POST", "/api/v3/machines", { body: { Name: "other-two", HardwareAddrs: ["52:54:00:10:00:02"] } });
    await page.getByRole("link", { name: "other-two" }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill("Re(live-.*)");
    await page.getByRole("link", { name: "other-two" }).waitFor({ state: "detached" });
    expect(await page.getByRole("link", { name: "live-one" }).isVisible()).toBe(true);
    await page.getByLabel("Name", { exact: true }).fill("");
    await page.getByLabel("Address").fill("198.51.100.21");
    await page.getByRole("link", { name: "other-two" }).waitFor({ state: "detached" });
    await page.getByLabel("Address").fill("");
    await page.getByRole("link", { name: "other-two" }).waitFor();
    await shot(page, "machines");
    expect(errors).toEqual([]);
    await context.close();
  });

  maybe("machine: facts, parameters with the layer each comes from, jobs, and the timeline section", async () => {
    expect((await s.call("POST", "/api/v3/profiles", { body: { Name: "ui-rack", Params: { "ui-rack": "r12" } } })).status).toBe(201);
    const m = await s.call("POST", "/api/v3/machines", { body: { Name: "param-one", HardwareAddrs: ["52:54:00:10:00:03"], Profiles: ["ui-rack"], Params: { "ui-own": "mine" } } });
    expect(m.status).toBe(201);
    const { context, page, errors } = await newPage(browser());
    await login(page, base, "admin", ADMIN_PASSWORD);
    errors.splice(0); // the app's probe of the session before login answers 401
    await page.getByRole("link", { name: "param-one" }).click();
    await page.getByRole("heading", { name: /param-one/ }).waitFor();
    const params = page.getByRole("table", { name: /Parameters, as the machine/ });
    await params.getByRole("row", { name: /ui-rack r12 profile:ui-rack/ }).waitFor();
    await params.getByRole("row", { name: /ui-own mine machine/ }).waitFor();
    await page.getByRole("region", { name: "Jobs" }).getByText("No jobs.").waitFor();
    // The timeline: creating the machine was its first step (the lab checks a real boot's).
    const seen = await checkMachineTimelinePage(page, base, m.body.Uuid);
    expect(seen.steps).toBeGreaterThanOrEqual(1);
    const timeline = page.getByRole("region", { name: /Boot timeline/ });
    await timeline.getByRole("cell", { name: /registered \(new machine\) as param-one/ }).waitFor();
    // A job for the machine: its row arrives live in the jobs table, and its start in the timeline.
    await params.getByRole("row", { name: /ui-own mine machine/ }).waitFor();
    expect((await s.call("POST", "/api/v3/tasks", { body: { Name: "ui-task", Templates: [{ Name: "run", Contents: "echo ui task\n" }] } })).status).toBe(201);
    expect((await s.call("POST", "/api/v3/stages", { body: { Name: "ui-stage", Tasks: ["ui-task"] } })).status).toBe(201);
    const staged = await s.call("PATCH", `/api/v3/machines/${m.body.Uuid}`, { raw: JSON.stringify([{ op: "replace", path: "/Stage", value: "ui-stage" }]), type: "application/json-patch+json" });
    expect(staged.status).toBe(200);
    const job = await s.call("POST", "/api/v3/jobs", { body: { Machine: m.body.Uuid, BootEnv: "local" } });
    expect(job.status).toBe(201);
    // The stage's recorded step, then the job's start, arrive on the timeline live ("timeline"
    // notices on the event stream).
    await timeline.getByRole("cell", { name: "job finished: stage:ui-stage (stage ui-stage)" }).waitFor({ timeout: 10_000 });
    const running = await s.call("PATCH", `/api/v3/jobs/${job.body.Uuid}`, { raw: JSON.stringify([{ op: "replace", path: "/State", value: "running" }]), type: "application/json-patch+json" });
    expect(running.status).toBe(200);
    await timeline.getByRole("cell", { name: "job started: ui-task (stage ui-stage)" }).waitFor({ timeout: 10_000 });
    const jobs = page.getByRole("region", { name: "Jobs" });
    await jobs.getByRole("button", { name: "ui-task" }).click({ timeout: 10_000 });
    await page.getByRole("heading", { name: /Log of ui-task/ }).waitFor();
    // Its log, followed while the job is open: what the agent appends appears without a reload.
    const appended = await s.req("PUT", `/api/v3/jobs/${job.body.Uuid}/log`, { raw: "hello from ui-task\n", type: "application/octet-stream" });
    expect(appended.status).toBe(200);
    await page.getByLabel(`Log of job ${job.body.Uuid}`).getByText("hello from ui-task").waitFor({ timeout: 10_000 });
    // A change to the machine reaches the open page.
    await s.call("PATCH", `/api/v3/machines/${m.body.Uuid}`, { raw: JSON.stringify([{ op: "replace", path: "/Params", value: { "ui-own": "changed" } }]), type: "application/json-patch+json" });
    await params.getByRole("row", { name: /ui-own changed machine/ }).waitFor({ timeout: 10_000 });
    await shot(page, "machine");
    expect(errors).toEqual([]);
    await context.close();
  });

  maybe("boot environments: a render preview shows the output and where each parameter came from", async () => {
    const envs = (await s.call("GET", "/api/v3/bootenvs")).body as { Name: string; Templates?: { Name: string }[] }[];
    const env = envs.find((e) => e.Name === "discovery" && (e.Templates ?? []).length > 0) ?? envs.find((e) => (e.Templates ?? []).length > 0);
    expect(env).toBeDefined();
    const template = env!.Templates![0]!.Name;
    const { context, page, errors } = await newPage(browser());
    await login(page, base, "admin", ADMIN_PASSWORD);
    errors.splice(0); // the app's probe of the session before login answers 401
    await page.getByRole("link", { name: "Boot environments" }).click();
    await page.getByRole("table", { name: "Boot environments" }).getByRole("cell", { name: env!.Name, exact: true }).first().waitFor();
    const form = page.getByRole("form", { name: "Render preview" });
    await form.getByLabel("Boot environment").selectOption(env!.Name);
    await form.getByLabel("Template").fill(template);
    await form.getByRole("button", { name: "Render" }).click();
    const out = page.getByLabel("Rendered output");
    await out.waitFor({ timeout: 15_000 });
    expect((await out.innerText()).length).toBeGreaterThan(10);
    const used = page.getByRole("table", { name: /Parameters the template used/ });
    await used.waitFor();
    // A missing template is an error on the page, naming it.
    await form.getByLabel("Template").fill("no-such-template.tmpl");
    await form.getByRole("button", { name: "Render" }).click();
    await page.getByRole("alert").filter({ hasText: "no-such-template.tmpl" }).waitFor();
    await form.getByLabel("Template").fill(template);
    await form.getByRole("button", { name: "Render" }).click();
    await out.waitFor();
    await shot(page, "bootenvs");
    expect(errors.filter((e) => !/status of 4\d\d/.test(e))).toEqual([]);
    await context.close();
  });

  maybe("files: an upload shows its progress and lands in the file tree", async () => {
    const { context, page, errors } = await newPage(browser());
    await login(page, base, "admin", ADMIN_PASSWORD);
    errors.splice(0); // the app's probe of the session before login answers 401
    await page.getByRole("link", { name: "Files and ISOs" }).click();
    const form = page.getByRole("form", { name: "Upload a file" });
    const bytes = Buffer.alloc(24 * 1024 * 1024, 7);
    await form.getByLabel("File", { exact: true }).setInputFiles({ name: "big.bin", mimeType: "application/octet-stream", buffer: bytes });
    // Every value the progress bar takes, sampled each frame.
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { __progress: number[] }).__progress = seen;
      const tick = () => {
        const p = document.querySelector("progress");
        if (p && seen.at(-1) !== p.value) seen.push(p.value);
        requestAnimationFrame(tick);
      };
      tick();
    });
    await form.getByRole("button", { name: "Upload" }).click();
    await page.getByText(/Uploaded big\.bin \(24\.0 MiB/).waitFor({ timeout: 30_000 });
    const seen = await page.evaluate(() => (window as unknown as { __progress: number[] }).__progress);
    expect(seen.at(-1)).toBe(100);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    await form.getByText(/100% · 24\.0 MiB of 24\.0 MiB/).waitFor();
    await page.getByRole("table", { name: "Files in /" }).getByText("big.bin").waitFor();
    const head = await s.req("HEAD", "/api/v3/files/big.bin");
    expect(head.headers.get("content-length")).toBe(String(bytes.length));
    await shot(page, "files");
    expect(errors).toEqual([]);
    await context.close();
  });

  const XORRISO = Bun.which("xorriso");
  (available && XORRISO ? test : test.skip)("ISOs: an uploaded image is exploded for the environment naming it, its progress shown live", async () => {
    const work = mkdtempSync(join(tmpdir(), "socle-ui-iso-"));
    try {
      mkdirSync(join(work, "tree", "images", "pxeboot"), { recursive: true });
      writeFileSync(join(work, "tree", "images", "pxeboot", "vmlinuz"), new Uint8Array(200_000).fill(3));
      writeFileSync(join(work, "tree", "images", "pxeboot", "initrd.img"), new Uint8Array(100_000).fill(4));
      const made = Bun.spawnSync([XORRISO!, "-as", "mkisofs", "-quiet", "-R", "-J", "-o", join(work, "ui.iso"), join(work, "tree")], { stderr: "pipe" });
      expect(made.exitCode).toBe(0);
      const env = { Name: "ui-iso-env", OS: { Name: "ui-iso-env", IsoFile: "ui.iso" }, Kernel: "ui-iso-env/install/images/pxeboot/vmlinuz", Initrds: ["ui-iso-env/install/images/pxeboot/initrd.img"], BootParams: "" };
      expect((await s.call("POST", "/api/v3/bootenvs", { body: env })).status).toBe(201);
      const { context, page, errors } = await newPage(browser());
      await login(page, base, "admin", ADMIN_PASSWORD);
      errors.splice(0); // the app's probe of the session before login answers 401
      await page.getByRole("link", { name: "Files and ISOs" }).click();
      await page.getByRole("region", { name: /ISO imports/ }).getByText("live", { exact: true }).waitFor();
      const form = page.getByRole("form", { name: "Upload an ISO" });
      await form.getByLabel("ISO image").setInputFiles(join(work, "ui.iso"));
      await form.getByRole("button", { name: "Upload" }).click();
      await form.getByText(/Uploaded ui\.iso .*exploded for ui-iso-env/).waitFor({ timeout: 20_000 });
      const row = page.getByRole("table", { name: /ISO fetches and explodes/ }).getByRole("row", { name: /ui\.iso ui-iso-env done/ });
      await row.waitFor({ timeout: 10_000 });
      expect(await row.innerText()).toContain("100%");
      expect((await s.call("GET", "/api/v3/bootenvs/ui-iso-env")).body.Available).toBe(true);
      await shot(page, "isos");
      expect(errors).toEqual([]);
      await context.close();
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  maybe("events, subnets, workflows and system pages show their data; events arrive live", async () => {
    const { context, page, errors } = await newPage(browser());
    await login(page, base, "admin", ADMIN_PASSWORD);
    errors.splice(0); // the app's probe of the session before login answers 401
    await page.getByRole("link", { name: "Events" }).click();
    await page.getByText("live", { exact: true }).waitFor();
    await s.call("POST", "/api/v3/machines", { body: { Name: "event-three", HardwareAddrs: ["52:54:00:10:00:04"] } });
    await page.getByRole("table", { name: /Events since/ }).getByText("event-three", { exact: true }).waitFor({ timeout: 10_000 });
    await shot(page, "events");
    await s.call("POST", "/api/v3/subnets", { body: { Name: "ui-net", Subnet: "203.0.113.0/24", ActiveStart: "203.0.113.10", ActiveEnd: "203.0.113.99" } });
    await page.getByRole("link", { name: "Subnets and leases" }).click();
    await page.getByRole("table", { name: "Subnets" }).getByText("203.0.113.10 – 203.0.113.99").waitFor();
    await shot(page, "subnets");
    await page.getByRole("link", { name: "Workflows" }).click();
    await page.getByRole("table", { name: "Stages" }).getByRole("cell", { name: "local", exact: true }).first().waitFor();
    await shot(page, "workflows");
    await page.getByRole("link", { name: "System" }).click();
    await page.getByRole("table", { name: "Services" }).getByRole("cell", { name: "Api", exact: true }).waitFor();
    await page.getByText("Not paired (no HA).").waitFor();
    await shot(page, "system");
    // Keyboard: the skip link is the first stop and leads to the page's content.
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    expect(errors).toEqual([]);
    await context.close();
  });

  maybe("logout: back to the login form, and the old cookie is refused afterwards", async () => {
    const { context, page, errors } = await newPage(browser());
    await login(page, base, "admin", ADMIN_PASSWORD);
    errors.splice(0); // the app's probe of the session before login answers 401
    const old = await sessionCookieOf(context);
    expect(old).toBeDefined();
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("button", { name: "Log in" }).waitFor();
    expect(await sessionCookieOf(context)).toBeUndefined();
    // Replay: the cookie put back by hand, and the token sent by another client.
    await context.addCookies([{ name: "__Host-socle-session", value: old!, url: base, secure: true, httpOnly: true, sameSite: "Strict" }]);
    const status = await page.evaluate(async () => (await fetch("/api/v3/machines", { headers: { "X-Socle-UI": "1" } })).status);
    expect(status).toBe(401);
    expect((await s.req("GET", "/api/v3/machines", { auth: null, headers: { Cookie: `__Host-socle-session=${old}` } })).status).toBe(401);
    await page.reload();
    await page.getByRole("button", { name: "Log in" }).waitFor();
    await context.close();
  });
});

describe("web UI under attack", () => {
  maybe("a cross-site form cannot write: refused for coming from another site (403, whatever credentials the browser has), and nothing is created", async () => {
    const { context, page, errors } = await newPage(browser());
    await login(page, base, "admin", ADMIN_PASSWORD);
    errors.splice(0); // the app's probe of the session before login answers 401
    const apiPort = new URL(base).port;
    // The attacker's page, served from another site (localhost is not 127.0.0.1's site) and from
    // the same site on another port. Its form posts JSON-looking text/plain, the one body a form
    // can shape like JSON.
    // Over HTTPS (the server's own certificate will do: the browser ignores certificate errors
    // here), since a plain http page is another site than https://127.0.0.1 (schemeful SameSite).
    const evil = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: Bun.file(join(s.dir, "pki", "server.pem")), key: Bun.file(join(s.dir, "pki", "server-key.pem")) },
      fetch: () =>
        new Response(
          `<!doctype html><form id="f" method="POST" enctype="text/plain" action="https://127.0.0.1:${apiPort}/api/v3/machines"><input name='{"Name":"evil-form","x":"' value='"}'></form><script>document.getElementById("f").submit()</script>`,
          { headers: { "Content-Type": "text/html" } },
        ),
    });
    try {
      const seen: number[] = [];
      page.on("response", (r) => {
        if (r.url().endsWith("/api/v3/machines") && r.request().method() === "POST") seen.push(r.status());
      });
      const posted = () => page.waitForResponse((r) => r.url().endsWith("/api/v3/machines") && r.request().method() === "POST", { timeout: 10_000 });
      let answer = posted();
      await page.goto(`https://localhost:${evil.port}/`);
      await answer;
      answer = posted();
      await page.goto(`https://127.0.0.1:${evil.port}/`);
      await answer;
      // Both refused for their Origin before any credential is looked at (SameSite also kept the
      // cookie off the first; the second would have lacked X-Socle-UI).
      expect(seen).toEqual([403, 403]);
      expect((await s.call("GET", "/api/v3/machines?Name=evil-form")).body).toEqual([]);
    } finally {
      evil.stop(true);
      await context.close();
    }
  });

  maybe("a machine's token in the cookie is refused (401), with no Basic dialog", async () => {
    const m = await s.call("POST", "/api/v3/machines", { body: { Name: "cookie-machine", HardwareAddrs: ["52:54:00:10:00:05"] } });
    const token = (await s.call("GET", `/api/v3/machines/${m.body.Uuid}/token`)).body.Token as string;
    const { context, page, errors } = await newPage(browser());
    await page.goto(`${base}/login`);
    await context.addCookies([{ name: "__Host-socle-session", value: token, url: base, secure: true, httpOnly: true, sameSite: "Strict" }]);
    const r = await page.evaluate(async (uuid) => {
      const res = await fetch(`/api/v3/machines/${uuid}`, { headers: { "X-Socle-UI": "1" } });
      return { status: res.status, challenge: res.headers.get("www-authenticate") };
    }, String(m.body.Uuid));
    expect(r).toEqual({ status: 401, challenge: null });
    // The app itself lands on its login form.
    await page.goto(`${base}/machines`);
    await page.getByRole("button", { name: "Log in" }).waitFor();
    await context.close();
  });

  maybe("the CSP stops an injected inline script and inline handler", async () => {
    const { context, page, errors } = await newPage(browser());
    await login(page, base, "admin", ADMIN_PASSWORD);
    errors.splice(0); // the app's probe of the session before login answers 401
    const ran = await page.evaluate(async () => {
      const w = window as unknown as { __injected?: number };
      const s = document.createElement("script");
      s.textContent = "window.__injected = 1";
      document.body.appendChild(s);
      const img = document.createElement("img");
      img.setAttribute("src", "data:,x");
      img.setAttribute("onerror", "window.__injected = 2");
      document.body.appendChild(img);
      await new Promise((r) => setTimeout(r, 300));
      return w.__injected ?? 0;
    });
    expect(ran).toBe(0);
    expect(errors.some((e) => e.includes("Content Security Policy"))).toBe(true);
    await context.close();
  });

  maybe("the login form is throttled like every login", async () => {
    const { context, page, errors } = await newPage(browser());
    await page.goto(`${base}/login`);
    let text = "";
    for (let i = 0; i < 10; i++) {
      await page.getByLabel("User name").fill("throttle-target");
      await page.getByLabel("Password").fill(`guess-${i}`);
      await page.getByRole("button", { name: "Log in" }).click();
      const alert = page.getByRole("alert");
      await alert.waitFor();
      text = await alert.innerText();
      if (text.includes("too many failed logins")) break;
      await page.getByRole("button", { name: "Log in" }).and(page.locator(":enabled")).waitFor();
    }
    expect(text).toContain("too many failed logins");
    await shot(page, "login-throttled");
    await context.close();
  });
});
