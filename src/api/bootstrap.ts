// First start: with no users at all, create `admin` (superuser) with the password from
// SOCLE_ADMIN_PASSWORD, or a random one written once to <data-dir>/initial-admin-password
// (mode 0600). There is no fixed default password, ever; the password is never logged.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../log/logger.ts";
import { writeFileAtomic } from "../files/atomic-write.ts";
import type { ObjectService } from "./objects.ts";
import { generatePassword, generateSecret, hashPassword } from "../auth/passwords.ts";
import { MIN_PASSWORD_LENGTH } from "./input-hooks.ts";

export const INITIAL_PASSWORD_FILE = "initial-admin-password";

export interface BootstrapOptions {
  objects: ObjectService;
  dataDir: string;
  password: string | undefined;
  log: Logger;
}

export async function bootstrapAdmin(opts: BootstrapOptions): Promise<"created" | "exists"> {
  if (opts.objects.store.count("users") > 0) return "exists";
  let password = opts.password;
  const file = join(opts.dataDir, INITIAL_PASSWORD_FILE);
  if (password !== undefined) {
    if (password.length < MIN_PASSWORD_LENGTH) {
      throw new Error(`SOCLE_ADMIN_PASSWORD: must be at least ${MIN_PASSWORD_LENGTH} characters`);
    }
  } else {
    // A file left by a start that died before saving the user still holds the announced password.
    password = (await readFile(file, "utf8").catch(() => "")).trim();
    if (password.length < MIN_PASSWORD_LENGTH) {
      password = generatePassword();
      await writeFileAtomic(file, password + "\n", 0o600);
    }
  }
  const def = opts.objects.def("users");
  const user = def.prepare({
    Name: "admin",
    Description: "Created at first start",
    Roles: ["superuser"],
    PasswordHash: await hashPassword(password),
    Secret: generateSecret(),
  });
  await opts.objects.save("users", user);
  if (opts.password !== undefined) {
    opts.log.info("created user admin (superuser) with the password from SOCLE_ADMIN_PASSWORD");
  } else {
    opts.log.info(`created user admin (superuser); its password is in ${file} (mode 0600): read it, then delete the file`);
  }
  return "created";
}
