// Small building blocks shared by the pages: links that stay in the app, tables, errors.

import type { ComponentChildren, TargetedMouseEvent } from "preact";
import type { ApiError } from "./api.ts";

type Listener = () => void;
const listeners = new Set<Listener>();

/** Go to another page of the app without reloading it. */
export function navigate(path: string): void {
  if (path === location.pathname + location.search) return;
  history.pushState(null, "", path);
  for (const l of listeners) l();
}

export function onNavigate(fn: Listener): () => void {
  listeners.add(fn);
  const pop = () => fn();
  window.addEventListener("popstate", pop);
  return () => {
    listeners.delete(fn);
    window.removeEventListener("popstate", pop);
  };
}

export function Link(props: { href: string; children: ComponentChildren; class?: string; current?: boolean }) {
  const click = (e: TargetedMouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href);
  };
  return (
    <a href={props.href} onClick={click} class={props.class} aria-current={props.current ? "page" : undefined}>
      {props.children}
    </a>
  );
}

export function ErrorBox(props: { error: ApiError | string | undefined }) {
  if (props.error === undefined) return null;
  const text = typeof props.error === "string" ? props.error : props.error.message;
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

export interface Column<T> {
  title: string;
  cell: (row: T) => ComponentChildren;
}

export function Table<T>(props: { caption: string; columns: Column<T>[]; rows: T[] | undefined; rowKey: (row: T) => string; empty?: string }) {
  const rows = props.rows ?? [];
  return (
    <div class="table-wrap">
      <table>
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col" key={c.title}>
                {c.title}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={props.columns.length} class="muted">
                {props.rows === undefined ? "Loading…" : (props.empty ?? "None.")}
              </td>
            </tr>
          ) : (
            rows.map((r) => (
              <tr key={props.rowKey(r)}>
                {props.columns.map((c) => (
                  <td key={c.title}>{c.cell(r)}</td>
                ))}
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}

/** A value as short text: lists joined, objects as JSON. */
export function show(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((x) => typeof x !== "object")) return v.join(", ");
  return JSON.stringify(v);
}

export function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

export function Badge(props: { ok: boolean | undefined; yes?: string; no?: string }) {
  if (props.ok === undefined) return null;
  return <span class={props.ok ? "badge ok" : "badge bad"}>{props.ok ? (props.yes ?? "yes") : (props.no ?? "no")}</span>;
}

export function LiveState(props: { state: string }) {
  return (
    <span class={`live live-${props.state}`} title="event stream">
      {props.state === "open" ? "live" : props.state === "connecting" ? "connecting…" : "not live"}
    </span>
  );
}

/** An ISO time, short (the time of day with milliseconds; the date in a tooltip). */
export function When(props: { t: unknown }) {
  const t = typeof props.t === "string" ? props.t : "";
  if (!t) return null;
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?)/.exec(t);
  return (
    <time dateTime={t} title={t} class="nowrap">
      {m ? `${m[1]} ${m[2]}` : t}
    </time>
  );
}
