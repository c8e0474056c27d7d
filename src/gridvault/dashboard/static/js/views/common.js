// Pieces the views share: an "empty" outcome with a way out, fetching one dataset for several
// areas, and a line chart of grouped series.

import { LEGEND, PALETTE, TOOLBOX, followZoom, timeAxis, timeTooltip, zoomControls } from "../charts.js";
import { chooseResample, groupRows, seriesNames } from "../domain.js";
import { apiTime } from "../state.js";
import { formatDateTime, localDate } from "../time.js";

/**
 * Nothing to show, and why: "no data for the range", "not stored for this area". `actions`
 * are buttons that change the state to something that has data: [{label, patch}].
 */
export class EmptyState extends Error {
  constructor(message, actions = []) {
    super(message);
    this.actions = actions;
  }
}

export function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A panel: a heading, a one-line subtitle and a chart box, appended to `parent`. */
export function panel(parent, { title, id, height = 420 }) {
  const section = document.createElement("section");
  section.className = "panel";
  section.innerHTML = `<h2></h2><p class="subtitle"></p><div class="chart"></div>`;
  section.querySelector("h2").textContent = title;
  const chart = section.querySelector(".chart");
  chart.id = id;
  chart.style.height = `${height}px`;
  parent.append(section);
  return {
    section,
    chartEl: chart,
    setTitle: (text) => {
      section.querySelector("h2").textContent = text;
    },
    setSubtitle: (text) => {
      section.querySelector(".subtitle").textContent = text;
    },
  };
}

/** The stored span of `area` in a dataset detail, as a sentence part ("2015-01-01 to 2022-09-26"). */
export function storedSpan(detail, area, tz) {
  const stats = detail.areas.find((a) => a.area === area);
  if (!stats || !stats.earliest) return null;
  return `${localDate(Date.parse(stats.earliest), tz)} to ${localDate(Date.parse(stats.latest), tz)}`;
}

/** A button that shows the last 30 days of stored data of `area` (when it has any). */
export function jumpToData(detail, area, tz) {
  const stats = detail.areas.find((a) => a.area === area);
  if (!stats || !stats.latest) return [];
  const to = localDate(Date.parse(stats.latest), tz);
  const earliest = localDate(Date.parse(stats.earliest), tz);
  const monthBefore = new Date(Date.parse(`${to}T00:00:00Z`) - 29 * 86400e3).toISOString().slice(0, 10);
  const from = monthBefore < earliest ? earliest : monthBefore;
  return [{ label: `Show ${area}'s latest stored month (${from} – ${to})`, patch: { range: `${from}..${to}` } }];
}

/**
 * Rows of `datasetId` for each area of `areas` that stores it, over the context's range,
 * one request per area (in parallel, cached). Returns {rows, missing: areas not stored,
 * resample: {resample, label}}. Throws EmptyState when no area stores the dataset.
 */
export async function fetchAreas(ctx, datasetId, areas, extra = {}) {
  const detail = await ctx.detail(datasetId);
  const stored = new Set(detail.areas.map((a) => a.area));
  const wanted = areas.filter((a) => stored.has(a));
  const missing = areas.filter((a) => !stored.has(a));
  const label = ctx.datasetLabel(datasetId);
  if (!wanted.length) {
    const list = [...stored].slice(0, 12);
    throw new EmptyState(
      `No ${label} stored for ${areas.join(", ")}.` + (list.length ? ` Stored areas: ${list.join(", ")}.` : ""),
      list.slice(0, 4).map((area) => ({ label: `Show ${area}`, patch: { areas: [area] } })),
    );
  }
  const resample = extra.resample !== undefined
    ? { resample: extra.resample, label: extra.resample ? `${extra.resample} means` : null }
    : chooseResample(ctx.range.startMs, ctx.range.endMs, detail.resolution);
  const params = { ...extra, resample: resample.resample };
  const answers = await Promise.all(wanted.map((area) => ctx.data(datasetId, { area, ...params })));
  return { detail, rows: answers.flatMap((answer) => answer.data), missing, resample, areas: wanted };
}

/** The "no data in this range" outcome for a dataset in `areas`, with a way to stored data. */
export function noDataInRange(ctx, detail, areas) {
  const label = ctx.datasetLabel(detail.id);
  const spans = areas
    .map((area) => {
      const span = storedSpan(detail, area, ctx.tz);
      return span ? `${area}: ${span}` : null;
    })
    .filter(Boolean);
  return new EmptyState(
    `No ${label} for ${areas.join(", ")} between ${formatDateTime(ctx.range.startMs, ctx.tz)} and ` +
      `${formatDateTime(ctx.range.endMs, ctx.tz)} (${ctx.tz}).` +
      (spans.length ? ` Stored: ${spans.join("; ")}.` : ""),
    jumpToData(detail, areas[0], ctx.tz),
  );
}

/**
 * A line chart option for grouped series over the context's range. `step: "start"` draws
 * each value as a flat segment over its interval (right for prices, which hold for the
 * whole interval); otherwise points are joined.
 */
export function lineOption(ctx, groups, { unit, step = false, colors = PALETTE, yName } = {}) {
  const names = seriesNames(groups);
  const { tz } = ctx;
  return {
    animation: false,
    color: colors,
    grid: { left: 64, right: 28, top: 60, bottom: 72 },
    legend: LEGEND,
    toolbox: TOOLBOX,
    tooltip: timeTooltip(tz, () => unit),
    xAxis: timeAxis(tz, ctx.range.startMs, ctx.range.endMs),
    yAxis: { type: "value", name: yName ?? unit, scale: true, nameTextStyle: { align: "left" } },
    dataZoom: zoomControls(),
    series: groups.map((group, index) => ({
      name: names[index],
      type: "line",
      data: group.points,
      showSymbol: false,
      step: step ? "start" : false,
      sampling: "lttb",
      lineStyle: { width: 1.5 },
      emphasis: { focus: "series" },
      connectNulls: false,
    })),
  };
}

/**
 * Before the data arrives, draw the empty frame of a time chart (axes over the range, zoom
 * bar) into a chart that has not drawn anything yet. The person sees where the data will go,
 * and the chart library has done its first-time set-up while the network was busy, so the
 * real drawing is quicker.
 */
export function drawFrame(ctx, chartEl, unit = "") {
  const chart = ctx.chart(chartEl);
  if (chart.getOption()) return;
  chart.resize();
  const frame = lineOption(ctx, [], { unit });
  frame.series = [{ type: "line", data: [], showSymbol: false, sampling: "lttb" }];
  chart.setOption(frame);
}

/** Draw `option` into the panel's chart and keep its tick labels in the zone while zooming. */
export async function drawTimeChart(ctx, chartEl, option, axisCount = 1) {
  const chart = ctx.chart(chartEl);
  await ctx.draw(chart, option);
  followZoom(chart, ctx.tz, ctx.range.startMs, ctx.range.endMs, axisCount);
  return chart;
}

/** Request parameters of the context's range. */
export function rangeParams(ctx) {
  return { start: apiTime(ctx.range.startMs), end: apiTime(ctx.range.endMs) };
}

export { groupRows };
