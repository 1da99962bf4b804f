// One machine: its facts, its parameters and where each comes from, its jobs with a live log, and
// its boot timeline ("PXE doctor") with the diagnoses drawn from it.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, api, apiText, enc, useApi, useDebounced, useEvents, type StreamMessage } from "../api.ts";
import { Badge, ErrorBox, Link, LiveState, Table, When, show, str } from "../components.tsx";

type Obj = Record<string, unknown>;

export interface TimelineEvent {
  Seq: number;
  Time: string;
  Mac: string;
  Kind: string;
  Summary: string;
  Detail?: unknown;
}

export interface Diagnosis {
  Code: string;
  Severity: "error" | "warning" | "info";
  Message: string;
  Fix?: string;
  Evidence: number[];
}

export interface Timeline {
  Mac: string;
  Machine?: string;
  Name?: string;
  Events: TimelineEvent[];
  Diagnoses: Diagnosis[];
}

/** Job states whose log may still grow (model/schemas/jobs.ts OPEN_JOB_STATES). */
const OPEN_STATES = ["created", "running", "incomplete"];

const names = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

function Params(props: { machine: Obj; version: number }) {
  const uuid = str(props.machine.Uuid);
  const [rows, setRows] = useState<{ Name: string; Value: unknown; Source: string }[] | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  useEffect(() => {
    let live = true;
    // The server resolves the layers (the same walk a render does) and says where each comes from.
    api<Record<string, { Value: unknown; Source: string }>>("GET", `/api/v3/machines/${enc(uuid)}/params?aggregate=true&sources=true`)
      .then((values) => {
        if (!live) return;
        setRows(Object.entries(values).map(([Name, v]) => ({ Name, Value: v.Value, Source: v.Source })));
        setError(undefined);
      })
      .catch((e: unknown) => live && setError(e instanceof ApiError ? e : new ApiError(0, [String(e)])));
    return () => {
      live = false;
    };
  }, [uuid, props.version]);
  return (
    <section aria-labelledby="params-h">
      <h2 id="params-h">Parameters</h2>
      <ErrorBox error={error} />
      <Table
        caption="Parameters, as the machine's templates see them, with the layer each comes from"
        rows={rows}
        rowKey={(r) => r.Name}
        empty="No parameters."
        columns={[
          { title: "Name", cell: (r) => <code>{r.Name}</code> },
          { title: "Value", cell: (r) => <code>{show(r.Value)}</code> },
          { title: "From", cell: (r) => r.Source },
        ]}
      />
    </section>
  );
}

/** A job's log, followed while the job runs: the bytes past what is shown, asked with Range. */
function JobLog(props: { job: Obj }) {
  const uuid = str(props.job.Uuid);
  const running = OPEN_STATES.includes(str(props.job.State));
  const [text, setText] = useState("");
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const length = useRef(0);
  useEffect(() => {
    length.current = 0;
    setText("");
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const res = await fetch(`/api/v3/jobs/${enc(uuid)}/log`, { headers: { "X-Socle-UI": "1", ...(length.current > 0 ? { Range: `bytes=${length.current}-` } : {}) }, credentials: "same-origin", cache: "no-store" });
        if (res.status === 416) {
          // Nothing new.
        } else if (!res.ok) {
          throw new ApiError(res.status, [((await res.json().catch(() => ({}))) as { Messages?: string[] }).Messages?.join("; ") ?? `HTTP ${res.status}`]);
        } else {
          const chunk = await res.text();
          if (!live) return;
          length.current = Number(res.headers.get("Socle-Log-Length") ?? length.current + chunk.length);
          if (chunk) setText((t) => t + chunk);
        }
        setError(undefined);
      } catch (e) {
        if (live) setError(e instanceof ApiError ? e : new ApiError(0, [String(e)]));
      }
      if (live && running) timer = setTimeout(poll, 1500);
    };
    void poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [uuid, running]);
  return (
    <div>
      <ErrorBox error={error} />
      <pre aria-live={running ? "polite" : "off"} aria-label={`Log of job ${uuid}`} tabIndex={0}>
        {text || "(empty log)"}
      </pre>
    </div>
  );
}

function Jobs(props: { uuid: string; version: number }) {
  const list = useApi<Obj[]>(`/api/v3/jobs?Machine=${enc(props.uuid)}`);
  const [picked, setPicked] = useState<string | undefined>(undefined);
  useEffect(() => {
    if (props.version > 0) list.reload();
  }, [props.version]);
  // Open jobs first (a created one has no StartTime yet), then the newest.
  const open = (j: Obj) => (OPEN_STATES.includes(str(j.State)) ? 0 : 1);
  const jobs = useMemo(() => [...(list.data ?? [])].sort((a, b) => open(a) - open(b) || str(b.StartTime).localeCompare(str(a.StartTime))), [list.data]);
  const current = jobs.find((j) => j.Uuid === picked) ?? jobs[0];
  return (
    <section aria-labelledby="jobs-h">
      <h2 id="jobs-h">Jobs</h2>
      <ErrorBox error={list.error} />
      <Table<Obj>
        caption="Jobs of this machine, open ones first, then the newest"
        rows={list.data === undefined ? undefined : jobs.slice(0, 50)}
        rowKey={(j) => str(j.Uuid)}
        empty="No jobs."
        columns={[
          {
            title: "Task",
            cell: (j) => (
              <button type="button" class="linkish" aria-pressed={current?.Uuid === j.Uuid} onClick={() => setPicked(str(j.Uuid))}>
                {str(j.Task)}
              </button>
            ),
          },
          { title: "State", cell: (j) => str(j.State) + (str(j.ExitState) ? ` (${str(j.ExitState)})` : "") },
          { title: "Stage", cell: (j) => str(j.Stage) },
          { title: "Started", cell: (j) => <When t={j.StartTime} /> },
          { title: "Ended", cell: (j) => <When t={j.EndTime} /> },
        ]}
      />
      {current && (
        <>
          <h3>
            Log of {str(current.Task)} ({str(current.State)})
          </h3>
          <JobLog job={current} />
        </>
      )}
    </section>
  );
}

function TimelineView(props: { uuid: string }) {
  const [tl, setTl] = useState<Timeline | undefined>(undefined);
  const [absent, setAbsent] = useState(false);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    api<Timeline>("GET", `/api/v3/machines/${enc(props.uuid)}/timeline`)
      .then((t) => {
        if (!live) return;
        setTl(t);
        setAbsent(false);
        setError(undefined);
      })
      .catch((e: unknown) => {
        if (!live) return;
        if (e instanceof ApiError && e.status === 404) setAbsent(true);
        else setError(e instanceof ApiError ? e : new ApiError(0, [String(e)]));
      });
    return () => {
      live = false;
    };
  }, [props.uuid, tick]);
  // New steps arrive as notices; the diagnoses are the server's, so a burst of them reloads it.
  const reload = useDebounced(() => setTick((t) => t + 1), 500);
  const onEvent = (m: StreamMessage) => {
    if (m.Type !== "timeline") return;
    const ev = m.Object as unknown as TimelineEvent;
    setTl((t) => (t && !t.Events.some((e) => e.Seq === ev.Seq) ? { ...t, Events: [...t.Events, ev] } : t));
    reload();
  };
  const state = useEvents(tl ? `type=timeline&key=${enc(tl.Mac)}` : undefined, onEvent);
  const evidence = new Set((tl?.Diagnoses ?? []).flatMap((d) => d.Evidence));
  return (
    <section aria-labelledby="timeline-h">
      <h2 id="timeline-h">
        Boot timeline {tl && <LiveState state={state} />}
      </h2>
      <ErrorBox error={error} />
      {absent && <p class="muted">Timeline not available for this machine.</p>}
      {tl && (
        <>
          <div aria-live="polite" aria-label="Diagnoses">
            {tl.Diagnoses.length === 0 ? (
              <p class="muted">No problem found in the recorded steps.</p>
            ) : (
              tl.Diagnoses.map((d, i) => (
                <div class={`diagnosis ${d.Severity}`} key={`${d.Code}-${i}`} role={d.Severity === "error" ? "alert" : undefined}>
                  <span class={`sev-${d.Severity}`}>{d.Severity}</span> <code>{d.Code}</code>: {d.Message}
                  {d.Fix && <div>Fix: {d.Fix}</div>}
                  {d.Evidence.length > 0 && <div class="muted">Evidence: steps {d.Evidence.join(", ")}</div>}
                </div>
              ))
            )}
          </div>
          <Table<TimelineEvent>
            caption={`Steps recorded for ${tl.Mac}`}
            rows={[...tl.Events].sort((a, b) => a.Seq - b.Seq)}
            rowKey={(e) => String(e.Seq)}
            empty="No steps recorded yet."
            columns={[
              { title: "#", cell: (e) => <span class={evidence.has(e.Seq) ? "sev-warning" : ""}>{e.Seq}</span> },
              { title: "Time", cell: (e) => <When t={e.Time} /> },
              { title: "Kind", cell: (e) => <code>{e.Kind}</code> },
              { title: "Step", cell: (e) => e.Summary },
              { title: "Detail", cell: (e) => (e.Detail === undefined ? "" : <code>{show(e.Detail)}</code>) },
            ]}
          />
        </>
      )}
    </section>
  );
}

export function MachinePage(props: { id: string }) {
  const m = useApi<Obj>(`/api/v3/machines/${enc(props.id)}`);
  const [version, setVersion] = useState(0);
  const uuid = str(m.data?.Uuid);
  const reload = useDebounced(() => {
    m.reload();
    setVersion((v) => v + 1);
  }, 300);
  const state = useEvents(uuid ? "type=machines,jobs" : undefined, (ev) => {
    if ((ev.Type === "machines" && ev.Key === uuid) || (ev.Type === "jobs" && ev.Object.Machine === uuid)) reload();
  });
  if (m.error) {
    return (
      <section>
        <h1>Machine {props.id}</h1>
        <ErrorBox error={m.error} />
        <Link href="/machines">Back to the machines</Link>
      </section>
    );
  }
  const mc = m.data;
  if (!mc) return <p class="muted">Loading…</p>;
  const errors = names(mc.Errors);
  return (
    <section aria-labelledby="machine-h">
      <h1 id="machine-h">
        {str(mc.Name) || uuid} <LiveState state={state} />
      </h1>
      <p>
        <Link href="/machines">All machines</Link>
      </p>
      <dl class="facts">
        <dt>Uuid</dt>
        <dd>
          <code>{uuid}</code>
        </dd>
        <dt>Address</dt>
        <dd>{str(mc.Address)}</dd>
        <dt>MACs</dt>
        <dd>{show(mc.HardwareAddrs)}</dd>
        <dt>Boot environment</dt>
        <dd>{str(mc.BootEnv)}</dd>
        <dt>Workflow / stage</dt>
        <dd>
          {str(mc.Workflow) || "—"} / {str(mc.Stage) || "—"}
        </dd>
        <dt>Profiles</dt>
        <dd>{show(mc.Profiles) || "—"}</dd>
        <dt>Runnable</dt>
        <dd>
          <Badge ok={mc.Runnable as boolean | undefined} />
        </dd>
        <dt>Available</dt>
        <dd>
          <Badge ok={mc.Available !== false} />
        </dd>
      </dl>
      {errors.length > 0 && <ErrorBox error={errors.join("\n")} />}
      <TimelineView uuid={uuid} />
      <div class="cols">
        <Params machine={mc} version={version} />
        <Jobs uuid={uuid} version={version} />
      </div>
    </section>
  );
}
