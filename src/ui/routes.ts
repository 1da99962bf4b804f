// The pages of the web UI, by the path the browser shows. The server answers these paths (and
// the machine pages below /machines/) with the app's index.html, so a reload or a bookmark lands
// on the same page; everything else outside /api/ and /ui/ stays a 404.

export interface Page {
  path: string;
  title: string;
}

export const PAGES: readonly Page[] = [
  { path: "/machines", title: "Machines" },
  { path: "/bootenvs", title: "Boot environments" },
  { path: "/subnets", title: "Subnets and leases" },
  { path: "/workflows", title: "Workflows" },
  { path: "/files", title: "Files and ISOs" },
  { path: "/events", title: "Events" },
  { path: "/system", title: "System" },
];

export const LOGIN_PATH = "/login";

/** Whether `path` (already decoded, as the URL bar shows it) is a page of the app. */
export function isClientRoute(path: string): boolean {
  if (path === "/" || path === LOGIN_PATH) return true;
  if (PAGES.some((p) => p.path === path)) return true;
  // One machine: /machines/<uuid>. A single segment of the characters a Uuid or Name uses.
  return /^\/machines\/[A-Za-z0-9._:-]{1,200}$/.test(path);
}
