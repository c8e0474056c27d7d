// Energy-market knowledge the dashboard needs: production type names and colours, how far
// behind a dataset may be before it counts as late, how to name a series, and which
// resampling keeps a chart fast for a range.

// ENTSO-E production types (PsrType, code list of the Transparency Platform).
export const PSR_TYPES = {
  B01: "Biomass",
  B02: "Lignite",
  B03: "Coal-derived gas",
  B04: "Gas",
  B05: "Hard coal",
  B06: "Oil",
  B07: "Oil shale",
  B08: "Peat",
  B09: "Geothermal",
  B10: "Hydro pumped storage",
  B11: "Hydro run-of-river",
  B12: "Hydro reservoir",
  B13: "Marine",
  B14: "Nuclear",
  B15: "Other renewable",
  B16: "Solar",
  B17: "Waste",
  B18: "Wind offshore",
  B19: "Wind onshore",
  B20: "Other",
  B25: "Energy storage",
};

// Colours people recognise (solar yellow, wind teal, nuclear purple, gas orange, coal dark).
export const PSR_COLORS = {
  B01: "#5b8c2a",
  B02: "#6b4f2a",
  B03: "#8f6d48",
  B04: "#f28e2b",
  B05: "#3b3b3b",
  B06: "#a0522d",
  B07: "#7a4b2a",
  B08: "#a68b5b",
  B09: "#c0392b",
  B10: "#2c6fbb",
  B11: "#6cb4e4",
  B12: "#1f4e9c",
  B13: "#17becf",
  B14: "#9467bd",
  B15: "#8fbc8f",
  B16: "#f2c81b",
  B17: "#8c8c8c",
  B18: "#1b7f79",
  B19: "#43b59a",
  B20: "#c7c7c7",
  B25: "#e377c2",
};

// Stacking order of a generation mix: inflexible baseload at the bottom, weather-driven
// renewables on top, so the top edge shows how wind and solar move the total.
export const PSR_STACK_ORDER = [
  "B14", "B02", "B05", "B03", "B07", "B08", "B06", "B04", "B09", "B01", "B17", "B11",
  "B12", "B10", "B13", "B15", "B20", "B25", "B18", "B19", "B16",
];

export function psrName(code) {
  return PSR_TYPES[code] ? PSR_TYPES[code] : code;
}

/** Milliseconds of an ISO 8601 resolution (PT15M, PT60M, P1D, P7D, P1M, P1Y; months ≈ 30 d). */
export function resolutionMs(resolution) {
  const match = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(
    resolution ?? "",
  );
  if (!match) return 15 * 60e3;
  const [, y, mo, w, d, h, mi, s] = match.map((part) => Number(part ?? 0));
  return ((((y * 365 + mo * 30 + w * 7 + d) * 24 + h) * 60 + mi) * 60 + s) * 1000;
}

/** "15-minute", "hourly", "daily" for a resolution or bucket. */
export function resolutionLabel(resolution) {
  const labels = {
    PT1M: "1-minute",
    PT15M: "15-minute",
    PT30M: "30-minute",
    PT60M: "hourly",
    PT1H: "hourly",
    P1D: "daily",
    P7D: "weekly",
    P1M: "monthly",
    P1Y: "yearly",
  };
  return labels[resolution] ?? resolution;
}

// Resampling buckets of the API, finest first, with their length.
const BUCKETS = [
  ["15min", 15 * 60e3, "15-minute means"],
  ["30min", 30 * 60e3, "30-minute means"],
  ["1h", 3600e3, "hourly means"],
  ["2h", 2 * 3600e3, "2-hour means"],
  ["3h", 3 * 3600e3, "3-hour means"],
  ["6h", 6 * 3600e3, "6-hour means"],
  ["12h", 12 * 3600e3, "12-hour means"],
  ["1d", 86400e3, "daily means"],
  ["1w", 7 * 86400e3, "weekly means"],
  ["1mo", 30 * 86400e3, "monthly means"],
];

// A chart line is readable and fast up to a few thousand points: a month of 15-minute values
// (2,976) is drawn raw; longer ranges are averaged by the API into the finest bucket that
// stays within the budget. Zooming into a resampled chart shows the means, not the raw values.
export const POINTS_PER_SERIES = 3000;

/**
 * The API `resample` bucket for a range (null = raw values) and a label of what is shown.
 * `resolution` is the dataset's typical resolution; raw when the range needs no averaging.
 */
export function chooseResample(startMs, endMs, resolution, budget = POINTS_PER_SERIES) {
  const span = endMs - startMs;
  const native = resolutionMs(resolution);
  if (span / native <= budget) return { resample: null, label: null };
  for (const [bucket, length, label] of BUCKETS) {
    if (length > native && span / length <= budget) return { resample: bucket, label };
  }
  const [bucket, , label] = BUCKETS[BUCKETS.length - 1];
  return { resample: bucket, label };
}

// How late a dataset may be before it is shown as behind. Forecasts and auction results are
// published ahead of delivery, so they should reach the present; actual values are published
// after the fact (ENTSO-E: actual load and generation within about an hour), so some lag is
// normal. A heuristic for an operator's first look, not an SLA.
const ACTUAL_GRACE_MS = 3 * 3600e3;
const BEHIND_MS = 2 * 86400e3;

/**
 * Freshness of one /v1/updates row: {lag (ms the data ends before now; negative = reaches
 * into the future), status: "current" | "behind" | "stale" | "empty"}.
 */
export function freshness(update, dataset, now = Date.now()) {
  if (!update.latest) return { lag: null, status: "empty" };
  const step = resolutionMs(dataset?.resolution ?? "PT60M");
  const end = Date.parse(update.latest) + step;
  const lag = now - end;
  const ahead = dataset ? dataset.forecast || dataset.kind === "auction" : false;
  const grace = ahead ? step : Math.max(ACTUAL_GRACE_MS, step);
  if (lag <= grace) return { lag, status: "current" };
  if (lag <= BEHIND_MS + grace) return { lag, status: "behind" };
  return { lag, status: "stale" };
}

// Dimension values that read better with a word than as a bare code.
function formatDimension(name, value) {
  if (name === "psr_type") return psrName(value);
  if (name === "area_to") return `→ ${value}`;
  if (name === "sequence") return `sequence ${value}`;
  if (name === "flow") return value;
  return `${name} ${value}`;
}

const NOT_DIMENSIONS = new Set([
  "interval_start",
  "interval_end",
  "value",
  "open",
  "high",
  "low",
  "close",
  "count",
  "publish_time",
  "flags",
  "dataset",
  "area",
  "unit",
  "resolution",
]);

/** The dimension fields of a data row (psr_type, area_to, sequence, …), nulls left out. */
export function dimensionsOf(row) {
  const dims = {};
  for (const [name, value] of Object.entries(row)) {
    if (!NOT_DIMENSIONS.has(name) && value !== null && value !== undefined) dims[name] = value;
  }
  return dims;
}

/**
 * Names for series {area, dims}: the area plus only the dimensions that tell them apart
 * ("AT", or "NL · Solar", "NL · Solar · consumption").
 */
export function seriesNames(series) {
  const varying = new Set();
  const names = new Set(series.flatMap((s) => Object.keys(s.dims)));
  for (const name of names) {
    const values = new Set(series.map((s) => s.dims[name] ?? ""));
    if (values.size > 1) varying.add(name);
  }
  const areas = new Set(series.map((s) => s.area));
  return series.map((s) => {
    const parts = [];
    if (areas.size > 1 || varying.size === 0) parts.push(s.area);
    for (const name of [...varying].sort()) {
      if (s.dims[name] !== undefined) parts.push(formatDimension(name, s.dims[name]));
    }
    return parts.join(" · ") || s.area;
  });
}

/**
 * The rows of a /data answer in the series layout (`layout=series`: each series named once,
 * its rows as arrays of `columns`), as the rows layout writes them: one object per row with
 * its columns, then the series' attributes. Returns the answer with `data` set to the rows.
 */
export function rowsOfSeries(answer) {
  const data = [];
  for (const series of answer.series) {
    const { columns, values, ...attributes } = series;
    for (const row of values) {
      const item = {};
      for (let i = 0; i < columns.length; i++) item[columns[i]] = row[i];
      data.push(Object.assign(item, attributes));
    }
  }
  return { ...answer, data };
}

/**
 * Rows of /data (ordered by series, then time) grouped into series:
 * [{key, area, dims, unit, resolution, points: [[ms, value], …]}]. A null point is put
 * where intervals are missing, so lines break at gaps instead of bridging them.
 */
export function groupRows(rows, valueField = "value") {
  const byKey = new Map();
  // All rows of one answer have the same fields: work out which are dimensions once per
  // area (answers are per area), not per row (a month of 15-minute data is 3,000 rows).
  let fields = [];
  let fieldsArea = null;
  for (const row of rows) {
    if (row.area !== fieldsArea) {
      fields = Object.keys(row).filter((name) => !NOT_DIMENSIONS.has(name));
      fieldsArea = row.area;
    }
    let key = row.area;
    for (const name of fields) key += `|${row[name] ?? ""}`;
    let series = byKey.get(key);
    if (!series) {
      series = { key, area: row.area, dims: dimensionsOf(row), unit: row.unit, resolution: row.resolution, points: [], lastEnd: null };
      byKey.set(key, series);
    }
    const start = Date.parse(row.interval_start);
    if (series.lastEnd !== null && start > series.lastEnd) series.points.push([series.lastEnd, null]);
    series.points.push([start, row[valueField]]);
    series.lastEnd = Date.parse(row.interval_end);
  }
  return [...byKey.values()];
}
