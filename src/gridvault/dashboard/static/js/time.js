// Time in a chosen IANA zone, without a library: instants are epoch milliseconds (UTC, as the
// API returns them); the zone only decides how they are labelled and where days begin.
//
// Why this matters here: European markets switch clocks twice a year, so a "day" has 23, 24 or
// 25 hours and local 02:00-03:00 is missing (March) or happens twice (October). Everything
// below works on real instants and asks Intl for the wall clock, so DST days come out right.

const partFormatters = new Map();

function partFormatter(tz) {
  let formatter = partFormatters.get(tz);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-GB", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      weekday: "short",
    });
    partFormatters.set(tz, formatter);
  }
  return formatter;
}

/** True when the browser knows the IANA zone `tz`. */
export function isValidZone(tz) {
  try {
    partFormatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** The wall clock in `tz` at instant `ms`: {year, month (1-12), day, hour, minute, second, weekday}. */
export function wallClock(ms, tz) {
  const parts = {};
  for (const { type, value } of partFormatter(tz).formatToParts(new Date(ms))) {
    parts[type] = value;
  }
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: parts.weekday,
  };
}

/** UTC offset of `tz` at instant `ms`, in milliseconds (e.g. +3 h for Helsinki in summer). */
export function offsetMs(ms, tz) {
  const w = wallClock(ms, tz);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - (ms - (((ms % 1000) + 1000) % 1000));
}

/**
 * The instant when the wall clock in `tz` shows the given local time. Two passes, because the
 * offset at the guess may differ from the offset at the answer near a clock change. A local
 * time that does not exist (skipped in spring) maps to the instant one offset-change later.
 */
export function instantOf(tz, year, month, day, hour = 0, minute = 0) {
  const naive = Date.UTC(year, month - 1, day, hour, minute);
  let guess = naive - offsetMs(naive, tz);
  guess = naive - offsetMs(guess, tz);
  return guess;
}

/** "YYYY-MM-DD" of the local day in `tz` that contains instant `ms`. */
export function localDate(ms, tz) {
  const w = wallClock(ms, tz);
  return `${w.year}-${pad(w.month)}-${pad(w.day)}`;
}

/** The instant local midnight starts the day "YYYY-MM-DD" in `tz`. */
export function dayStart(date, tz) {
  const [year, month, day] = date.split("-").map(Number);
  return instantOf(tz, year, month, day);
}

/** "YYYY-MM-DD" plus `days` calendar days (calendar arithmetic, no zone involved). */
export function addDays(date, days) {
  const [year, month, day] = date.split("-").map(Number);
  const shifted = new Date(Date.UTC(year, month - 1, day + days));
  return shifted.toISOString().slice(0, 10);
}

/** Every local day "YYYY-MM-DD" in `tz` overlapping [startMs, endMs), with its instants. */
export function localDays(startMs, endMs, tz) {
  const days = [];
  let date = localDate(startMs, tz);
  for (let start = dayStart(date, tz); start < endMs; ) {
    const next = addDays(date, 1);
    const end = dayStart(next, tz);
    days.push({ date, start, end });
    date = next;
    start = end;
  }
  return days;
}

export function pad(n) {
  return String(n).padStart(2, "0");
}

export const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "2024-09-02 14:15" in `tz` (seconds only when not zero). */
export function formatDateTime(ms, tz) {
  const w = wallClock(ms, tz);
  const seconds = w.second ? `:${pad(w.second)}` : "";
  return `${w.year}-${pad(w.month)}-${pad(w.day)} ${pad(w.hour)}:${pad(w.minute)}${seconds}`;
}

/** "+03:00"-style offset of `tz` at `ms`, for labels. */
export function formatOffset(ms, tz) {
  const minutes = Math.round(offsetMs(ms, tz) / 60000);
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** "3 h 20 min", "2 d 4 h", "45 s": a duration for people. */
export function formatDuration(ms) {
  const sign = ms < 0 ? "−" : "";
  let s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${sign}${s} s`;
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  if (d >= 30) return `${sign}${d} d`;
  if (d) return `${sign}${d} d${h ? ` ${h} h` : ""}`;
  if (h) return `${sign}${h} h${m ? ` ${m} min` : ""}`;
  return `${sign}${m} min`;
}

const HOUR = 3600e3;
const DAY = 24 * HOUR;

// Tick steps for a time axis, finest first. Sub-day steps are aligned to the local wall clock
// (ticks at 00:00, 06:00, 12:00 local), day steps to local midnights, months to the 1st.
const STEPS = [
  { unit: "minute", n: 15, approx: 15 * 60e3 },
  { unit: "minute", n: 30, approx: 30 * 60e3 },
  { unit: "hour", n: 1, approx: HOUR },
  { unit: "hour", n: 2, approx: 2 * HOUR },
  { unit: "hour", n: 3, approx: 3 * HOUR },
  { unit: "hour", n: 6, approx: 6 * HOUR },
  { unit: "hour", n: 12, approx: 12 * HOUR },
  { unit: "day", n: 1, approx: DAY },
  { unit: "day", n: 2, approx: 2 * DAY },
  { unit: "week", n: 1, approx: 7 * DAY },
  { unit: "week", n: 2, approx: 14 * DAY },
  { unit: "month", n: 1, approx: 30 * DAY },
  { unit: "month", n: 3, approx: 91 * DAY },
  { unit: "month", n: 6, approx: 182 * DAY },
  { unit: "year", n: 1, approx: 365 * DAY },
  { unit: "year", n: 2, approx: 730 * DAY },
  { unit: "year", n: 5, approx: 1826 * DAY },
];

/**
 * Axis ticks for the window [minMs, maxMs] labelled in `tz`: about `target` of them, on
 * "round" local times. Returns {values: [ms…], step} for formatTick.
 */
export function timeTicks(minMs, maxMs, tz, target = 8) {
  const span = Math.max(maxMs - minMs, 1);
  const step = STEPS.find((s) => span / s.approx <= target) ?? STEPS[STEPS.length - 1];
  const values = [];
  const first = wallClock(minMs, tz);
  if (step.unit === "minute" || step.unit === "hour") {
    // Walk the local days; inside each, the local hours that are multiples of the step.
    const stepMinutes = step.unit === "minute" ? step.n : step.n * 60;
    let date = `${first.year}-${pad(first.month)}-${pad(first.day)}`;
    for (let guard = 0; guard < 400; guard += 1) {
      const [y, mo, d] = date.split("-").map(Number);
      if (instantOf(tz, y, mo, d) > maxMs) break;
      for (let minutes = 0; minutes < 24 * 60; minutes += stepMinutes) {
        const t = instantOf(tz, y, mo, d, Math.floor(minutes / 60), minutes % 60);
        const w = wallClock(t, tz);
        // A skipped local time (spring DST gap) lands on another wall time: leave it out.
        if (w.hour * 60 + w.minute !== minutes) continue;
        if (t >= minMs && t <= maxMs) values.push(t);
      }
      date = addDays(date, 1);
    }
  } else if (step.unit === "day" || step.unit === "week") {
    let date = `${first.year}-${pad(first.month)}-${pad(first.day)}`;
    if (step.unit === "week") {
      // Weeks start on Monday (ISO 8601, as European market weeks do).
      const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
      date = addDays(date, -((weekday + 6) % 7));
    }
    const days = step.unit === "week" ? 7 * step.n : step.n;
    for (let guard = 0; guard < 2000; guard += 1) {
      const t = dayStart(date, tz);
      if (t > maxMs) break;
      if (t >= minMs) values.push(t);
      date = addDays(date, days);
    }
  } else {
    const months = step.unit === "year" ? 12 * step.n : step.n;
    let year = first.year;
    let month = step.unit === "year" ? 1 : first.month - ((first.month - 1) % step.n);
    if (step.unit === "year") year -= year % step.n;
    for (let guard = 0; guard < 2000; guard += 1) {
      const t = instantOf(tz, year, month, 1);
      if (t > maxMs) break;
      if (t >= minMs) values.push(t);
      month += months;
      while (month > 12) {
        month -= 12;
        year += 1;
      }
    }
  }
  return { values, step };
}

/** The label of tick `ms` for a step from timeTicks: the coarsest part that changed. */
export function formatTick(ms, tz, step) {
  const w = wallClock(ms, tz);
  const dayLabel = `${w.day} ${MONTHS[w.month - 1]}`;
  switch (step.unit) {
    case "minute":
    case "hour":
      return w.hour === 0 && w.minute === 0
        ? `{day|${dayLabel}}`
        : `${pad(w.hour)}:${pad(w.minute)}`;
    case "day":
    case "week":
      return w.day === 1 && w.month === 1 ? `{day|${w.year}}\n${dayLabel}` : dayLabel;
    case "month":
      return w.month === 1 ? `{day|${w.year}}` : `${MONTHS[w.month - 1]}`;
    default:
      return `${w.year}`;
  }
}
