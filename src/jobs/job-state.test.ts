import { describe, expect, test } from "bun:test";
import type { ModelObject } from "../model/object.ts";
import { SocleError } from "../model/errors.ts";
import { JOB_STATES } from "../model/schemas/jobs.ts";
import { EXIT_STATES_OF, NEXT_STATES, jobChange } from "./job-state.ts";

const NOW = "2026-12-06T12:00:00.000Z";
const job = (over: ModelObject = {}): ModelObject => ({
  Uuid: "8e0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
  Machine: "3f1c2a9e-5b7d-4e21-9c11-0a1b2c3d4e5f",
  Task: "inventory",
  Previous: "",
  Stage: "discover",
  Workflow: "",
  BootEnv: "discovery",
  State: "created",
  ExitState: "",
  StartTime: "",
  EndTime: "",
  Archived: false,
  Meta: {},
  Validated: true,
  Available: true,
  Errors: [],
  ...over,
});

function refusal(fn: () => unknown): SocleError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SocleError) return e;
    throw e;
  }
  throw new Error("not refused");
}

describe("jobChange", () => {
  test("created -> running sets StartTime; running -> finished sets EndTime and ExitState complete", () => {
    const running = jobChange(job(), job({ State: "running" }), NOW);
    expect(running).toEqual({ job: job({ State: "running", StartTime: NOW }), failed: false });
    const later = "2026-12-06T12:05:00.000Z";
    const done = jobChange(running.job, { ...running.job, State: "finished" }, later);
    expect(done.job).toMatchObject({ State: "finished", ExitState: "complete", StartTime: NOW, EndTime: later });
    expect(done.failed).toBe(false);
  });

  test("every move the table allows is accepted, every other refused with 409 naming the states", () => {
    for (const from of JOB_STATES) {
      for (const to of JOB_STATES) {
        if (to === from) continue;
        const before = job({ State: from, ExitState: EXIT_STATES_OF[from][0], StartTime: from === "created" ? "" : NOW });
        if (NEXT_STATES[from].includes(to)) {
          expect(jobChange(before, { ...before, State: to }, NOW).job.State).toBe(to);
        } else {
          const e = refusal(() => jobChange(before, { ...before, State: to }, NOW));
          expect(`${from}->${to} ${e.code}`).toBe(`${from}->${to} 409`);
          expect(e.messages[0]).toContain(from);
        }
      }
    }
  });

  test("failing reports failed, so the machine stops", () => {
    const running = job({ State: "running", StartTime: NOW });
    expect(jobChange(running, { ...running, State: "failed" }, NOW)).toMatchObject({ failed: true, job: { ExitState: "failed" } });
    // A job that could not start fails from created; it gets a StartTime too.
    expect(jobChange(job(), job({ State: "failed" }), NOW).job).toMatchObject({ StartTime: NOW, EndTime: NOW, ExitState: "failed" });
  });

  test("the same State again changes nothing (an agent resuming the job it ran)", () => {
    const running = job({ State: "running", StartTime: NOW });
    const r = jobChange(running, { ...running }, "2030-01-01T00:00:00.000Z");
    expect(r.job).toBe(running);
  });

  test("incomplete -> running clears ExitState and EndTime and keeps the first StartTime", () => {
    const inc = job({ State: "incomplete", ExitState: "reboot", StartTime: NOW, EndTime: NOW });
    const later = "2026-12-06T13:00:00.000Z";
    expect(jobChange(inc, { ...inc, State: "running" }, later).job).toMatchObject({ State: "running", ExitState: "", StartTime: NOW, EndTime: "" });
  });

  test("ExitState goes with the State: checked, defaulted, refused alone", () => {
    const running = job({ State: "running", StartTime: NOW });
    expect(jobChange(running, { ...running, State: "incomplete", ExitState: "reboot" }, NOW).job.ExitState).toBe("reboot");
    expect(jobChange(running, { ...running, State: "incomplete" }, NOW).job.ExitState).toBe("incomplete");
    expect(refusal(() => jobChange(running, { ...running, State: "finished", ExitState: "incomplete" }, NOW)).messages).toEqual([
      'ExitState: "incomplete" does not go with State "finished" ("complete", "stop", "poweroff", "reboot")',
    ]);
    const alone = refusal(() => jobChange(running, { ...running, ExitState: "reboot" }, NOW));
    expect(alone.code).toBe(422);
    const ended = job({ State: "finished", ExitState: "complete" });
    expect(refusal(() => jobChange(ended, { ...ended, ExitState: "reboot" }, NOW)).code).toBe(409);
  });

  test("any other field is the server's: 422 naming each; bad values named", () => {
    const e = refusal(() => jobChange(job(), job({ Machine: "x", Archived: true, Extra: 1 }), NOW));
    expect(e.code).toBe(422);
    expect(e.messages).toEqual([
      "Archived: set by the server; a client changes a job's State and ExitState only",
      "Extra: set by the server; a client changes a job's State and ExitState only",
      "Machine: set by the server; a client changes a job's State and ExitState only",
    ]);
    // Read-time status fields may differ (a client sends back what it read).
    expect(jobChange(job(), job({ Available: false, Errors: ["x"], State: "running" }), NOW).job.Available).toBe(true);
    expect(refusal(() => jobChange(job(), job({ State: "done" }), NOW)).messages[0]).toBe('State: "done" is not one of created, running, failed, finished, incomplete');
    expect(refusal(() => jobChange(job(), job({ State: "running", ExitState: 3 }), NOW)).messages[0]).toContain("ExitState: 3 is not one of");
  });
});
