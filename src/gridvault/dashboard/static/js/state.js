// The view's state lives in the URL, so a link shows someone else the same thing:
//   ?view=prices&dataset=day_ahead_prices&area=FI,SE_1&range=30d&tz=Europe/Helsinki
//   range: today | 7d | 30d | YYYY-MM-DD..YYYY-MM-DD (whole local days, both included)
//   tz:    area (the first area's own zone) or an IANA zone; area: codes or EICs, first is primary
//   to:    the other area of the flows view

import { addDays, dayStart, localDate } from "./time.js";

export const VIEWS = ["series", "prices", "generation", "load", "flows", "coverage", "status"];
export const PRESETS = { today: "Today", "7d": "Last 7 days", "30d": "Last 30 days" };
const CUSTOM = /^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$/;

/** What the URL asks for; missing parts are null (the app fills defaults from the store). */
export function readState(search = window.location.search) {
  const params = new URLSearchParams(search);
  const list = (name) =>
    (params.get(name) ?? "")
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean);
  return {
    view: params.get("view"),
    dataset: params.get("dataset"),
    areas: list("area"),
    to: params.get("to"),
    range: params.get("range"),
    tz: params.get("tz"),
  };
}

/** The query string of a complete state, in a stable order. */
export function stateQuery(state) {
  const params = new URLSearchParams();
  params.set("view", state.view);
  if (state.dataset) params.set("dataset", state.dataset);
  if (state.areas.length) params.set("area", state.areas.join(","));
  if (state.to) params.set("to", state.to);
  params.set("range", state.range);
  params.set("tz", state.tz);
  // Commas and slashes stay readable in a shared link.
  return `?${params.toString().replaceAll("%2C", ",").replaceAll("%2F", "/")}`;
}

/** Problems with the URL's range ("" when fine). */
export function checkRange(range) {
  if (range in PRESETS) return "";
  const match = CUSTOM.exec(range ?? "");
  if (!match) return `“${range}” is not a time range; use today, 7d, 30d or YYYY-MM-DD..YYYY-MM-DD`;
  const [, from, to] = match;
  if (Number.isNaN(Date.parse(from)) || Number.isNaN(Date.parse(to))) return `“${range}” has an invalid date`;
  if (to < from) return `the range ${range} ends before it starts`;
  return "";
}

export function customRange(from, to) {
  return `${from}..${to}`;
}

/**
 * The instants of a range in zone `tz`: [startMs, endMs) from local midnight of the first day
 * to local midnight after the last (so a day across a DST change is 23 or 25 hours long).
 */
export function resolveRange(range, tz, now = Date.now()) {
  const today = localDate(now, tz);
  let from;
  let to;
  if (range === "today") [from, to] = [today, today];
  else if (range === "7d") [from, to] = [addDays(today, -6), today];
  else if (range === "30d") [from, to] = [addDays(today, -29), today];
  else [, from, to] = CUSTOM.exec(range);
  return {
    from,
    to,
    startMs: dayStart(from, tz),
    endMs: dayStart(addDays(to, 1), tz),
    label: PRESETS[range] ?? `${from} – ${to}`,
  };
}

/** An instant as the API wants it (RFC 3339 in UTC, no milliseconds). */
export function apiTime(ms) {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}
