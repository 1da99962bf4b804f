import { expect, test } from "bun:test";
import { AF_INET, errnoName, libcCandidates, loadSocketLibc, sockaddrAny } from "./socket-libc.ts";

test("libc names per target: glibc first, musl's first where the musl loader is", () => {
  expect(libcCandidates("x64", false)).toEqual(["libc.so.6", "libc.musl-x86_64.so.1"]);
  expect(libcCandidates("arm64", true)).toEqual(["libc.musl-aarch64.so.1", "libc.so.6"]);
});

test("sockaddr_in for 0.0.0.0:67: family in host order, port in network order", () => {
  const sa = sockaddrAny(67);
  expect(sa.length).toBe(16);
  expect(new Uint16Array(sa.buffer, 0, 1)[0]).toBe(AF_INET);
  expect([...sa.subarray(2, 8)]).toEqual([0, 67, 0, 0, 0, 0]);
});

test("errno names", () => {
  expect(errnoName(13)).toBe("EACCES");
  expect(errnoName(19)).toBe("ENODEV");
  expect(errnoName(4242)).toBe("errno 4242");
});

test("libc loads here and reports errno of a failed call", async () => {
  const libc = await loadSocketLibc();
  if (!libc) throw new Error("expected bun:ffi and libc to load on this Linux test host");
  expect(libc.close(-1)).toBe(-1);
  expect(errnoName(libc.errno())).toBe("errno 9"); // EBADF
});
