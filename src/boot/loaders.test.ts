import { expect, test } from "bun:test";
import { isNetbootClient } from "./loaders.ts";

test("isNetbootClient: a lease takes option 93 alone as proof; a proxy reply asks for PXEClient, HTTPClient or iPXE", () => {
  const client = (arch: number | undefined, vendorClass = "", userClass = "") => ({ arch, vendorClass, userClass });
  const both = (c: ReturnType<typeof client>) => [isNetbootClient(c, "lease"), isNetbootClient(c, "proxy")];
  expect(both(client(undefined, "PXEClient:Arch:00000:UNDI:002001"))).toEqual([true, true]);
  expect(both(client(16, "HTTPClient:Arch:00016:UNDI:003001"))).toEqual([true, true]);
  expect(both(client(undefined, "", "iPXE"))).toEqual([true, true]);
  expect(both(client(7))).toEqual([true, false]);
  expect(both(client(undefined, "udhcp 1.35.0"))).toEqual([false, false]);
  expect(both(client(undefined, "MSFT 5.0", "iPXE-like"))).toEqual([false, false]);
});
