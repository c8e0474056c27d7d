// "Generation": actual generation per production type of the first area as a stacked area,
// baseload at the bottom and wind and solar on top.

import { LEGEND, TOOLBOX, escapeHtml, formatValue, timeAxis, zoomControls } from "../charts.js";
import { PSR_COLORS, PSR_STACK_ORDER, psrName, resolutionLabel } from "../domain.js";
import { formatDateTime } from "../time.js";
import { drawTimeChart, fetchAreas, groupRows, noDataInRange, panel } from "./common.js";

export const title = "Generation";
export const controls = {};
export const DATASET = "generation_actual_per_type";

// Resampling bucket that brings every series to a common (coarser) resolution.
const BUCKET_OF = { PT15M: "15min", PT30M: "30min", PT60M: "1h", PT1H: "1h", P1D: "1d" };

export function mount(el) {
  return { main: panel(el, { title: "Generation per production type", id: "chart-generation", height: 480 }) };
}

function stackRank(code) {
  const rank = PSR_STACK_ORDER.indexOf(code);
  return rank < 0 ? PSR_STACK_ORDER.length : rank;
}

export async function render(ctx, parts) {
  const area = ctx.state.areas[0];
  let answer = await fetchAreas(ctx, DATASET, [area]);
  if (!answer.rows.length) throw noDataInRange(ctx, answer.detail, [area]);
  let groups = groupRows(answer.rows);
  // Production types may be reported at different resolutions (a unit's hourly values beside
  // 15-minute ones): stack them on the coarsest, or the stacked sums would not line up.
  const resolutions = [...new Set(groups.map((g) => g.resolution))];
  if (resolutions.length > 1 && !answer.resample.resample) {
    const coarsest = resolutions.reduce((a, b) => (BUCKET_OF[b] && b > a ? b : a));
    answer = await fetchAreas(ctx, DATASET, [area], { resample: BUCKET_OF[coarsest] ?? "1h" });
    groups = groupRows(answer.rows);
  }
  // ENTSO-E reports what plants *consume* (pumped storage pumping, batteries charging) as
  // separate series of the same production type (here flow = consumption): drawn below zero
  // on their own stack, so the generation stack stays the generation.
  const produced = groups.filter((g) => g.dims.flow !== "consumption");
  const consumed = groups.filter((g) => g.dims.flow === "consumption" && g.points.some(([, v]) => v));
  produced.sort((a, b) => stackRank(a.dims.psr_type) - stackRank(b.dims.psr_type));
  consumed.sort((a, b) => stackRank(a.dims.psr_type) - stackRank(b.dims.psr_type));
  const unit = answer.rows[0].unit;
  const series = [
    ...produced.map((g) => ({
      name: psrName(g.dims.psr_type),
      stack: "generation",
      color: PSR_COLORS[g.dims.psr_type],
      data: g.points,
    })),
    ...consumed.map((g) => ({
      name: `${psrName(g.dims.psr_type)} (consumption)`,
      stack: "consumption",
      color: PSR_COLORS[g.dims.psr_type],
      data: g.points.map(([t, v]) => [t, v === null ? null : -v]),
    })),
  ].map((s) => ({
    ...s,
    type: "line",
    showSymbol: false,
    areaStyle: { opacity: 0.85 },
    lineStyle: { width: 0.5 },
    itemStyle: { color: s.color },
    emphasis: { focus: "series" },
    sampling: "lttb",
  }));
  const { tz } = ctx;
  parts.main.setTitle(`Generation per production type — ${area}`);
  parts.main.setSubtitle(
    `${produced.length} production types` +
      (consumed.length ? `, ${consumed.length} consuming (below zero)` : "") +
      ` · ${answer.resample.resample ? answer.resample.label : resolutions.map(resolutionLabel).join(", ")}` +
      ` · ${ctx.range.label} · ${unit}`,
  );
  const option = {
    animation: false,
    grid: { left: 72, right: 28, top: 60, bottom: 72 },
    legend: LEGEND,
    toolbox: TOOLBOX,
    tooltip: {
      trigger: "axis",
      axisPointer: { type: "cross", label: { show: false } },
      confine: true,
      formatter: (params) => {
        const list = Array.isArray(params) ? params : [params];
        if (!list.length) return "";
        const t = list[0].value[0];
        let total = 0;
        const lines = [];
        for (const p of [...list].reverse()) {
          const value = p.value[1];
          if (value === null || value === undefined) continue;
          if (value > 0) total += value;
          lines.push(`${p.marker}${escapeHtml(p.seriesName)}: <b>${formatValue(value, 0)}</b> ${unit}`);
        }
        return [`<b>${formatDateTime(t, tz)}</b> <span class="muted">${tz}</span>`, ...lines, `<b>Total generation: ${formatValue(total, 0)} ${unit}</b>`].join("<br>");
      },
    },
    xAxis: timeAxis(tz, ctx.range.startMs, ctx.range.endMs),
    yAxis: { type: "value", name: unit },
    dataZoom: zoomControls(),
    series,
  };
  await drawTimeChart(ctx, parts.main.chartEl, option);
}
