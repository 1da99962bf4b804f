// The shipped content (bootenvs/), embedded at build time by a Bun macro.

import { readContentTree } from "./embed-macro.ts" with { type: "macro" };

export const SHIPPED_FILES: Readonly<Record<string, string>> = readContentTree();
