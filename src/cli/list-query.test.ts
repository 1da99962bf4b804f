import { expect, test } from "bun:test";
import { UsageError } from "./cli-error.ts";
import { listQuery } from "./list-query.ts";

test("filters and paging become the API query", () => {
  const q = listQuery("machines", ["Name=Eq(n1)", "Address=In(a,b)", "--sort", "Name", "--limit=5", "--offset", "10", "--reverse"]);
  expect([...q]).toEqual([
    ["Name", "Eq(n1)"],
    ["Address", "In(a,b)"],
    ["sort", "Name"],
    ["limit", "5"],
    ["offset", "10"],
    ["reverse", "true"],
  ]);
  expect(q.toString()).toBe("Name=Eq%28n1%29&Address=In%28a%2Cb%29&sort=Name&limit=5&offset=10&reverse=true");
});

test("bare Field=value passes through; --reverse=false is off", () => {
  expect([...listQuery("machines", ["Name=n1", "--reverse=false"])]).toEqual([["Name", "n1"]]);
});

test("bad arguments are usage errors with the usage line", () => {
  const bad: [string[], string][] = [
    [["n1"], 'invalid filter "n1"'],
    [["--limit", "x"], '--limit: invalid number "x"'],
    [["--offset=-1"], '--offset: invalid number "-1"'],
    [["--sort", "a b"], '--sort: invalid field "a b"'],
    [["--bogus"], 'unknown flag "--bogus"'],
  ];
  for (const [args, msg] of bad) {
    let err: unknown;
    try {
      listQuery("machines", args);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain(msg);
    expect((err as Error).message).toContain("usage: socle machines list");
  }
});
