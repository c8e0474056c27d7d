// "Load": actual total load of the first area against its day-ahead forecast, and the
// forecast error (actual − forecast) below, interval by interval.

import { TOOLBOX, escapeHtml, formatValue, timeAxis, zoomControls } from "../charts.js";
import { resolutionLabel } from "../domain.js";
import { formatDateTime } from "../time.js";
import { EmptyState, drawTimeChart, fetchAreas, groupRows, noDataInRange, panel } from "./common.js";

export const title = "Load";
export const controls = {};
export const ACTUAL = "load_actual";
export const FORECAST = "load_forecast_day_ahead";
const BUCKET_OF = { PT15M: "15min", PT30M: "30min", PT60M: "1h", PT1H: "1h", P1D: "1d" };

export function mount(el) {
  return { main: panel(el, { title: "Load and its day-ahead forecast", id: "chart-load", height: 540 }) };
}

async function fetchPair(ctx, area, resample) {
  const extra = resample === undefined ? {} : { resample };
  const actual = await fetchAreas(ctx, ACTUAL, [area], extra);
  const forecastStored = (await ctx.detail(FORECAST)).areas.some((a) => a.area === area);
  const forecast = forecastStored
    ? await fetchAreas(ctx, FORECAST, [area], { resample: actual.resample.resample })
    : null;
  return { actual, forecast };
}

export async function render(ctx, parts) {
  const area = ctx.state.areas[0];
  let { actual, forecast } = await fetchPair(ctx, area);
  if (!actual.rows.length) throw noDataInRange(ctx, actual.detail, [area]);
  // Actual load and forecast may come at different resolutions (15-minute actuals, hourly
  // forecast): compare them on the coarser one, or no interval would match.
  const resolutionOf = (answer) => answer?.rows[0]?.resolution;
  if (forecast?.rows.length && resolutionOf(actual) !== resolutionOf(forecast) && !actual.resample.resample) {
    const coarser = [resolutionOf(actual), resolutionOf(forecast)].sort().at(-1);
    ({ actual, forecast } = await fetchPair(ctx, area, BUCKET_OF[coarser] ?? "1h"));
  }
  const [actualSeries] = groupRows(actual.rows);
  const forecastSeries = forecast?.rows.length ? groupRows(forecast.rows)[0] : null;
  if (!forecastSeries) ctx.notice(`No day-ahead load forecast stored for ${area} in this range: actual load only.`);
  if (!actualSeries) throw new EmptyState(`No actual load for ${area} in this range.`);

  const forecastAt = new Map((forecastSeries?.points ?? []).map(([t, v]) => [t, v]));
  const error = actualSeries.points.map(([t, v]) => {
    const f = forecastAt.get(t);
    return [t, v === null || f === undefined || f === null ? null : v - f];
  });
  const errors = error.map(([, e]) => e).filter((e) => e !== null);
  const actualAt = new Map(actualSeries.points);
  const mae = errors.reduce((s, e) => s + Math.abs(e), 0) / (errors.length || 1);
  const bias = errors.reduce((s, e) => s + e, 0) / (errors.length || 1);
  const mape =
    (100 *
      error.reduce((s, [t, e]) => (e === null || !actualAt.get(t) ? s : s + Math.abs(e / actualAt.get(t))), 0)) /
    (errors.length || 1);
  const unit = actual.rows[0].unit;
  const { tz } = ctx;
  parts.main.setTitle(`Load and its day-ahead forecast — ${area}`);
  parts.main.setSubtitle(
    errors.length
      ? `Forecast error (actual − forecast) over ${errors.length.toLocaleString("en-GB")} intervals: ` +
          `mean ${formatValue(bias, 0)} ${unit}, mean absolute ${formatValue(mae, 0)} ${unit} (MAPE ${formatValue(mape, 1)} %)` +
          ` · ${actual.resample.resample ? actual.resample.label : resolutionLabel(actualSeries.resolution)}`
      : `Actual load · ${resolutionLabel(actualSeries.resolution)} · no forecast to compare with`,
  );
  // The two charts share their time axis: only the lower one is labelled.
  const upperAxis = timeAxis(tz, ctx.range.startMs, ctx.range.endMs, { gridIndex: 0, name: "" });
  upperAxis.axisLabel.show = false;
  const option = {
    animation: false,
    color: ["#2f6fdf", "#f3a712", "#e4572e"],
    axisPointer: { link: [{ xAxisIndex: "all" }] },
    legend: { top: 4, left: 8 },
    toolbox: TOOLBOX,
    tooltip: {
      trigger: "axis",
      axisPointer: { type: "line" },
      confine: true,
      formatter: (params) => {
        const list = Array.isArray(params) ? params : [params];
        if (!list.length) return "";
        const t = list[0].value[0];
        const lines = [`<b>${formatDateTime(t, tz)}</b> <span class="muted">${tz}</span>`];
        for (const p of list) {
          if (p.value[1] === null || p.value[1] === undefined) continue;
          lines.push(`${p.marker}${escapeHtml(p.seriesName)}: <b>${formatValue(p.value[1], 0)}</b> ${unit}`);
        }
        return lines.join("<br>");
      },
    },
    grid: [
      { left: 72, right: 28, top: 64, height: "50%" },
      { left: 72, right: 28, top: "70%", bottom: 72 },
    ],
    xAxis: [
      upperAxis,
      timeAxis(tz, ctx.range.startMs, ctx.range.endMs, { gridIndex: 1 }),
    ],
    yAxis: [
      { type: "value", name: unit, scale: true, gridIndex: 0 },
      { type: "value", name: `error, ${unit}`, gridIndex: 1, splitNumber: 3 },
    ],
    dataZoom: zoomControls([0, 1]),
    series: [
      { name: "Actual load", type: "line", data: actualSeries.points, showSymbol: false, sampling: "lttb", lineStyle: { width: 1.5 } },
      ...(forecastSeries
        ? [
            { name: "Day-ahead forecast", type: "line", data: forecastSeries.points, showSymbol: false, sampling: "lttb", lineStyle: { width: 1.5, type: "dashed" } },
            { name: "Error (actual − forecast)", type: "bar", xAxisIndex: 1, yAxisIndex: 1, data: error, barMaxWidth: 6, large: true },
          ]
        : []),
    ],
  };
  await drawTimeChart(ctx, parts.main.chartEl, option, 2);
}
