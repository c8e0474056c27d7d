// ECharts, loaded from the copy gridvault serves (never a CDN), and what every chart shares:
// a time axis labelled in the chosen zone, zoom and pan, tooltips with units, and a promise
// that resolves once a chart has drawn its data.

import { formatDateTime, formatOffset, formatTick, timeTicks } from "./time.js";

export const LIBRARY_PATH = "/static/vendor/echarts.esm.min.mjs";
export const BUILD_HINT = "./dev.sh demo (or: cd dashboard && npm ci && npm run build)";

export class LibraryMissing extends Error {}

let library = null;

/** The ECharts module; LibraryMissing when the build step has not copied it yet. */
export async function loadECharts() {
  if (!library) {
    library = import(LIBRARY_PATH).catch(() => {
      library = null;
      throw new LibraryMissing(
        `The chart library is not installed on this server (${LIBRARY_PATH} is missing). ` +
          `Run ${BUILD_HINT}, then reload this page.`,
      );
    });
  }
  return library;
}

export const PALETTE = [
  "#2f6fdf", "#e4572e", "#17a398", "#f3a712", "#8e44ad", "#6c757d", "#d63384", "#20c997",
  "#795548", "#0dcaf0",
];

/** The chart in `el`, created once and reused (switching area only replaces its data). */
export function chartIn(echarts, el) {
  return echarts.getInstanceByDom(el) ?? echarts.init(el, null, { renderer: "canvas" });
}

/**
 * Set `option` (replacing the previous one) and resolve when the chart has drawn it
 * (ECharts' "finished" event: rendering done, no animation pending).
 */
export function draw(chart, option) {
  return new Promise((resolve) => {
    const done = () => {
      chart.off("finished", done);
      resolve(chart);
    };
    chart.on("finished", done);
    chart.setOption(option, { notMerge: true });
  });
}

export function formatValue(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString("en-GB", { maximumFractionDigits: digits });
}

/** A time x-axis over [startMs, endMs] whose ticks and labels follow the local clock of `tz`. */
export function timeAxis(tz, startMs, endMs, extra = {}) {
  const { values, step } = timeTicks(startMs, endMs, tz);
  // The zone's UTC offset, and the one it changes to when the range crosses a DST switch.
  const first = formatOffset(startMs, tz);
  const last = formatOffset(endMs - 1, tz);
  return {
    type: "time",
    min: startMs,
    max: endMs,
    name: `${tz} (UTC${first}${first === last ? "" : ` → ${last}`})`,
    nameLocation: "end",
    nameGap: 8,
    nameTextStyle: { color: "#6b7280", fontSize: 11, align: "right", verticalAlign: "top", padding: [28, 0, 0, 0] },
    axisLabel: {
      customValues: values,
      formatter: (value) => formatTick(value, tz, step),
      hideOverlap: true,
      rich: { day: { fontWeight: "bold" } },
    },
    axisTick: { customValues: values },
    splitLine: { show: true, lineStyle: { color: "#eef0f3" } },
    ...extra,
  };
}

/**
 * Keep the time axes' ticks right while the user zooms and pans: recompute them for the
 * visible window in the chosen zone (ECharts itself only knows UTC and the browser's zone).
 */
export function followZoom(chart, tz, startMs, endMs, axisCount = 1) {
  chart.off("datazoom");
  chart.on("datazoom", () => {
    const zoom = chart.getOption().dataZoom?.[0];
    if (!zoom) return;
    const span = endMs - startMs;
    const from = startMs + (span * (zoom.start ?? 0)) / 100;
    const to = startMs + (span * (zoom.end ?? 100)) / 100;
    const { values, step } = timeTicks(from, to, tz);
    const axis = {
      axisLabel: { customValues: values, formatter: (value) => formatTick(value, tz, step) },
      axisTick: { customValues: values },
    };
    chart.setOption({ xAxis: Array.from({ length: axisCount }, () => axis) });
  });
}

/** Inside zoom (wheel, pinch, drag to pan) plus a slider, on every x-axis given. */
export function zoomControls(xAxisIndex = [0]) {
  return [
    { type: "inside", xAxisIndex, filterMode: "none" },
    { type: "slider", xAxisIndex, filterMode: "none", height: 22, bottom: 8, showDetail: false },
  ];
}

/** Axis tooltip: the time in `tz`, then every series' value with its unit. */
export function timeTooltip(tz, unitOf, extraLine) {
  return {
    trigger: "axis",
    axisPointer: { type: "cross", label: { show: false } },
    confine: true,
    formatter: (params) => {
      const list = Array.isArray(params) ? params : [params];
      if (!list.length) return "";
      const t = list[0].value[0];
      const lines = [`<b>${formatDateTime(t, tz)}</b> <span class="muted">${tz}</span>`];
      for (const p of list) {
        const value = p.value[1];
        if (value === null || value === undefined) continue;
        lines.push(
          `${p.marker}${escapeHtml(p.seriesName)}: <b>${formatValue(value)}</b> ${escapeHtml(unitOf(p))}`,
        );
      }
      if (extraLine) {
        const extra = extraLine(t, list);
        if (extra) lines.push(extra);
      }
      return lines.join("<br>");
    },
  };
}

/** A legend on one scrolling line, leaving room for the toolbox on its right. */
export const LEGEND = { type: "scroll", top: 4, left: 8, width: "78%" };

export const TOOLBOX = {
  right: 16,
  feature: {
    dataZoom: { yAxisIndex: "none", title: { zoom: "Zoom to a box", back: "Undo zoom" } },
    restore: { title: "Reset zoom" },
    saveAsImage: { title: "Save as PNG", pixelRatio: 2 },
  },
};

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
