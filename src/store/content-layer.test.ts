import { describe, expect, test } from "bun:test";
import { SocleError } from "../model/errors.ts";
import { parseContentFile } from "./content-layer.ts";

function failure(file: string, text: string): SocleError {
  try {
    parseContentFile(file, text);
  } catch (e) {
    expect(e).toBeInstanceOf(SocleError);
    return e as SocleError;
  }
  throw new Error("expected a failure");
}

describe("parseContentFile", () => {
  test("parses YAML and JSON mappings", () => {
    expect(parseContentFile("a/bootenv.yaml", "Name: a\nOnlyUnknown: true\n")).toEqual({ Name: "a", OnlyUnknown: true });
    expect(parseContentFile("a/params/p.json", '{"Name":"p"}')).toEqual({ Name: "p" });
  });

  test("a YAML syntax error names the file and line", () => {
    const e = failure("x/bootenv.yaml", "Name: x\nOS: [unclosed\n");
    expect(e.messages[0]).toContain("x/bootenv.yaml");
    expect(e.messages[0]).toMatch(/line \d+/);
  });

  test("a JSON syntax error names the file, line and column", () => {
    const e = failure("x/params/p.json", '{\n  "Name": "p",\n  oops\n}');
    expect(e.messages[0]).toContain("x/params/p.json");
    expect(e.messages[0]).toContain("line 3");
  });

  test("a top level that is not a mapping is refused", () => {
    expect(failure("x/bootenv.yaml", "- a\n- b\n").messages[0]).toContain("a list");
    expect(failure("x/bootenv.yaml", "").messages[0]).toContain("nothing");
  });
});
