// "Prices": day-ahead prices of the chosen areas as a line, and the first area's prices as an
// hour-by-day heatmap in the chosen time zone (days across, hours of the local clock down),
// the picture traders use to see daily shapes, weekends and spikes at a glance.

import { TOOLBOX, escapeHtml, formatValue } from "../charts.js";
import { resolutionLabel } from "../domain.js";
import { apiTime } from "../state.js";
import { MONTHS, localDays, pad, wallClock } from "../time.js";
import { EmptyState, drawTimeChart, fetchAreas, groupRows, lineOption, noDataInRange, panel } from "./common.js";

export const title = "Prices";
export const controls = { compare: true };
export const DATASET = "day_ahead_prices";
// An hour-by-day heatmap of more than a year has cells too thin to read.
const HEATMAP_MAX_DAYS = 366;

export function mount(el) {
  return {
    line: panel(el, { title: "Day-ahead prices", id: "chart-prices", height: 380 }),
    heatmap: panel(el, { title: "Hour by day", id: "chart-price-heatmap", height: 420 }),
  };
}

export async function render(ctx, parts) {
  const { detail, rows, missing, resample, areas } = await fetchAreas(ctx, DATASET, ctx.state.areas);
  if (!rows.length) throw noDataInRange(ctx, detail, areas);
  if (missing.length) ctx.notice(`No day-ahead prices stored for ${missing.join(", ")}.`);
  const groups = groupRows(rows);
  const unit = rows[0].unit;
  parts.line.setTitle(`Day-ahead prices — ${areas.join(", ")}`);
  parts.line.setSubtitle(
    (resample.resample ? resample.label : `${[...new Set(groups.map((g) => resolutionLabel(g.resolution)))].join(", ")} prices`) +
      ` · ${ctx.range.label} · ${unit}`,
  );
  const heatmapArea = areas[0];
  const [, heatmap] = await Promise.all([
    drawTimeChart(ctx, parts.line.chartEl, lineOption(ctx, groups, { unit, step: true })),
    heatmapOption(ctx, heatmapArea, unit),
  ]);
  parts.heatmap.setTitle(`Hour by day — ${heatmapArea} (${ctx.tz})`);
  parts.heatmap.setSubtitle(heatmap.subtitle);
  await ctx.draw(ctx.chart(parts.heatmap.chartEl), heatmap.option);
}

/** The p-th percentile of sorted numbers (for a colour scale that spikes do not wash out). */
function percentile(sorted, p) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))))];
}

async function heatmapOption(ctx, area, unit) {
  const { tz } = ctx;
  let days = localDays(ctx.range.startMs, ctx.range.endMs, tz);
  let note = "";
  if (days.length > HEATMAP_MAX_DAYS) {
    days = days.slice(-HEATMAP_MAX_DAYS);
    note = ` · the last ${HEATMAP_MAX_DAYS} days of the range`;
  }
  // Hourly means bucketed by the API in the chosen zone, so 15-minute prices become one cell
  // per local hour.
  const answer = await ctx.data(DATASET, {
    area,
    start: apiTime(days[0].start),
    end: apiTime(days[days.length - 1].end),
    resample: "1h",
  });
  // Several auctions (EXAA sequence 2 beside SDAC sequence 1): the heatmap shows the first.
  const groups = groupRows(answer.data);
  if (!groups.length) throw new EmptyState(`No day-ahead prices for ${area} in this range.`);
  const group = groups.find((g) => (g.dims.sequence ?? "1") === "1") ?? groups[0];

  const dayIndex = new Map(days.map((d, i) => [d.date, i]));
  const cells = new Map(); // "x|hour" -> {sum, n}
  for (const [t, value] of group.points) {
    if (value === null) continue;
    const w = wallClock(t, tz);
    const x = dayIndex.get(`${w.year}-${pad(w.month)}-${pad(w.day)}`);
    if (x === undefined) continue;
    // When clocks go back, one local hour happens twice: both land in the same cell, which
    // shows their mean (the tooltip says so).
    const key = `${x}|${w.hour}`;
    const cell = cells.get(key) ?? { sum: 0, n: 0 };
    cell.sum += value;
    cell.n += 1;
    cells.set(key, cell);
  }
  const data = [];
  const values = [];
  for (const [key, cell] of cells) {
    const [x, hour] = key.split("|").map(Number);
    const mean = cell.sum / cell.n;
    data.push({ value: [x, hour, mean], repeated: cell.n > 1 });
    values.push(mean);
  }
  values.sort((a, b) => a - b);
  // Days of 23 hours (clocks went forward) have a local hour that never happened.
  const shortDays = days.filter((d) => d.end - d.start < 24 * 3600e3).map((d) => d.date);
  const subtitle =
    `${days.length} days × 24 local hours · hourly means in ${unit}${note}` +
    ` · blank: no value stored` +
    (shortDays.length ? `, or an hour skipped when clocks went forward (${shortDays.join(", ")})` : "");
  const option = {
    animation: false,
    tooltip: {
      position: "top",
      formatter: (p) => {
        const day = days[p.value[0]];
        const hour = p.value[1];
        const repeated = p.data.repeated
          ? `<br><span class="muted">mean of the two ${pad(hour)}:00 hours (clocks went back)</span>`
          : "";
        return (
          `<b>${day.date} ${pad(hour)}:00–${pad((hour + 1) % 24)}:00</b> <span class="muted">${escapeHtml(tz)}</span>` +
          `<br>${escapeHtml(area)}: <b>${formatValue(p.value[2])}</b> ${escapeHtml(unit)}${repeated}`
        );
      },
    },
    grid: { left: 56, right: 24, top: 30, bottom: 88, show: true, backgroundColor: "#f1f2f4", borderWidth: 0 },
    toolbox: { ...TOOLBOX, feature: { saveAsImage: TOOLBOX.feature.saveAsImage }, top: 0 },
    xAxis: {
      type: "category",
      data: days.map((d) => d.date),
      splitArea: { show: false },
      axisLabel: {
        formatter: (date) => {
          const [, month, day] = date.split("-").map(Number);
          return `${day} ${MONTHS[month - 1]}`;
        },
        hideOverlap: true,
      },
    },
    yAxis: {
      type: "category",
      inverse: true,
      data: Array.from({ length: 24 }, (_, h) => `${pad(h)}:00`),
      axisLabel: { interval: 2 },
    },
    visualMap: {
      type: "continuous",
      min: Math.floor(percentile(values, 2)),
      max: Math.ceil(percentile(values, 98)),
      calculable: true,
      orient: "horizontal",
      left: "center",
      bottom: 8,
      itemHeight: 240,
      text: [`${unit}`, ""],
      inRange: {
        color: ["#313695", "#4575b4", "#74add1", "#abd9e9", "#fee090", "#fdae61", "#f46d43", "#d73027", "#a50026"],
      },
    },
    series: [{ type: "heatmap", name: area, data, progressive: 0, emphasis: { itemStyle: { borderColor: "#111", borderWidth: 1 } } }],
  };
  return { option, subtitle };
}
