// Drives Debian's chromium with playwright-core (no browser download) for the web UI's tests, and
// for the QEMU lab, which checks a machine's timeline page after a real boot.
//
//   const b = await launchBrowser();            // undefined (and why) when chromium is absent
//   const { context, page } = await newPage(b.browser);
//   await login(page, base, "admin", password);
//   await shot(page, "machines");               // .cache/ui-shots/machines.png
//   await checkMachineTimelinePage(page, base, uuid);

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const SHOTS_DIR = resolve(import.meta.dir, "../../.cache/ui-shots");

/** Debian's chromium binary; the /usr/bin one is a shell wrapper that prints warnings. */
export function chromiumPath(): string | undefined {
  for (const p of ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]) if (existsSync(p)) return p;
  return undefined;
}

export interface LaunchedBrowser {
  browser: Browser;
  close(): Promise<void>;
}

/**
 * Chromium, headless, with a fresh profile directory, and nothing that reaches the network on its
 * own (component updates, sync, background fetches). Undefined, with the reason printed, when it
 * is not installed. The profile: playwright's launch() refuses --user-data-dir (it makes a fresh
 * temporary profile itself and removes it on close), so TMPDIR points it into a directory of ours,
 * removed by close() whatever the browser left there.
 */
export async function launchBrowser(opts: { netns?: string } = {}): Promise<LaunchedBrowser | undefined> {
  const found = chromiumPath();
  if (!found) {
    console.log("skip: chromium is not installed (apt install chromium; test/lab/install-deps.sh --extras)");
    return undefined;
  }
  const profile = mkdtempSync(join(tmpdir(), "socle-chromium-"));
  let exe = found;
  if (opts.netns) {
    // A server only reachable inside a namespace (the QEMU lab's): the browser runs there too.
    // Playwright talks to it over pipes, which `ip netns exec` passes through.
    exe = join(profile, "chromium-in-netns");
    writeFileSync(exe, `#!/bin/sh\nexec ip netns exec '${opts.netns.replace(/'/g, "")}' '${found}' "$@"\n`, { mode: 0o755 });
  }
  const browser = await chromium.launch({
    executablePath: exe,
    headless: true,
    env: { ...process.env, TMPDIR: profile },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface PageWithLog {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors, CSP reports among them. */
  errors: string[];
}

/** A new context (own cookies) and page, at a laptop's screen size; the test CA is not trusted, so certificate errors are ignored. */
export async function newPage(browser: Browser): Promise<PageWithLog> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  return { context, page, errors };
}

/** Log in through the form; resolves once the app shows the logged-in navigation. */
export async function login(page: Page, baseUrl: string, name: string, password: string): Promise<void> {
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel("User name").fill(name);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor({ timeout: 10_000 });
}

/** A full-page screenshot into .cache/ui-shots/<name>.png; returns its path. */
export async function shot(page: Page, name: string): Promise<string> {
  mkdirSync(SHOTS_DIR, { recursive: true });
  const path = join(SHOTS_DIR, `${name.replace(/[^A-Za-z0-9._-]/g, "_")}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Open a machine's page (logged in already) and check its boot timeline: the timeline section is
 * there with recorded steps, not "not available", and each diagnosis is shown with its severity.
 * Returns what it read (steps and diagnosis codes) and the screenshot's path, for the lab's report.
 */
export async function checkMachineTimelinePage(
  page: Page,
  baseUrl: string,
  machineUuid: string,
): Promise<{ steps: number; diagnoses: string[]; screenshot: string }> {
  await page.goto(`${baseUrl}/machines/${encodeURIComponent(machineUuid)}`);
  const section = page.getByRole("region", { name: /Boot timeline/ });
  await section.waitFor({ timeout: 10_000 });
  const table = section.getByRole("table", { name: /Steps recorded for/ });
  const absent = section.getByText("Timeline not available for this machine.");
  await Promise.race([table.waitFor({ timeout: 10_000 }), absent.waitFor({ timeout: 10_000 })]);
  if (await absent.isVisible()) throw new Error(`the timeline of machine ${machineUuid} is not available (GET /api/v3/machines/${machineUuid}/timeline answered 404)`);
  // A real boot records at least DISCOVER, OFFER, REQUEST and ACK.
  const rows = table.locator("tbody tr");
  await page.waitForFunction(
    (el) => (el?.querySelectorAll("tbody tr td:not(.muted)").length ?? 0) > 0,
    await table.elementHandle(),
    { timeout: 10_000 },
  );
  const steps = await rows.count();
  const diagnoses = await section.locator(".diagnosis code").allInnerTexts();
  const screenshot = await shot(page, `machine-timeline-${machineUuid}`);
  return { steps, diagnoses, screenshot };
}
