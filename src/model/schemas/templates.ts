// Templates: reusable Eta snippets, included by boot environments and by each other.

import { defineModel } from "../define.ts";
import { zName, zText } from "./fields.ts";

export const templates = defineModel({
  prefix: "templates",
  key: "ID",
  shape: {
    ID: zName(),
    Description: zText().default(""),
    Contents: zText().default("").describe("Eta template text"),
  },
});
