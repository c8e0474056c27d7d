// "Flows": cross-border flows between two areas. The first area's exports to the other are
// drawn above zero, its imports from the other below zero, and the net position of the
// border as a line (positive: the first area exports).

import { LEGEND, PALETTE, TOOLBOX, escapeHtml, formatValue, timeAxis, zoomControls } from "../charts.js";
import { resolutionLabel, seriesNames } from "../domain.js";
import { formatDateTime } from "../time.js";
import { EmptyState, capitalize, drawTimeChart, fetchAreas, groupRows, panel } from "./common.js";

export const title = "Flows";
export const controls = { dataset: "border", partner: true };
export const DEFAULT_DATASET = "physical_flows";

export function mount(el) {
  return { main: panel(el, { title: "Cross-border flows", id: "chart-flows", height: 460 }) };
}

/** Stored borders of a border dataset: [[from, to], …] (from its latest values). */
export async function storedBorders(ctx, datasetId) {
  const latest = await ctx.cached(`/v1/datasets/${datasetId}/latest`);
  const pairs = new Map();
  for (const row of latest.data) {
    if (row.area_to) pairs.set(`${row.area}|${row.area_to}`, [row.area, row.area_to]);
  }
  return [...pairs.values()];
}

/** The areas `area` has stored flows with, in either direction. */
export function partnersOf(borders, area) {
  const partners = new Set();
  for (const [from, to] of borders) {
    if (from === area) partners.add(to);
    if (to === area) partners.add(from);
  }
  return [...partners].sort();
}

// ENTSO-E contract types of scheduled exchanges and capacities.
const CONTRACT_TYPES = { A01: "day-ahead", A02: "weekly", A03: "monthly", A04: "yearly", A05: "total", A06: "long-term", A07: "intraday", A13: "hourly" };

/** "DE_LU → NL", with what tells it apart from the other series of its direction. */
function flowName(group, direction) {
  const name = `${group.area} → ${group.dims.area_to}`;
  if (direction.length < 2) return name;
  const contract = group.dims.contract_type;
  if (contract) return `${name} (${CONTRACT_TYPES[contract] ?? contract})`;
  return `${name} (${seriesNames(direction)[direction.indexOf(group)]})`;
}

// ENTSO-E publishes scheduled exchanges per contract type; "A05" is the total over all of
// them, the one to net. Other datasets have one series per direction.
function netSeries(groups) {
  const total = groups.find((g) => g.dims.contract_type === "A05");
  return total ?? (groups.length === 1 ? groups[0] : null);
}

export async function render(ctx, parts) {
  const datasetId = ctx.state.dataset;
  const label = ctx.datasetLabel(datasetId);
  const area = ctx.state.areas[0];
  const borders = await storedBorders(ctx, datasetId);
  const partners = partnersOf(borders, area);
  if (!partners.length) {
    throw new EmptyState(
      `No ${label} stored between ${area} and another area.` +
        (borders.length ? ` Stored borders: ${borders.map(([f, t]) => `${f} → ${t}`).join(", ")}.` : ""),
      borders.slice(0, 4).map(([from, to]) => ({ label: `Show ${from} – ${to}`, patch: { areas: [from], to } })),
    );
  }
  const other = partners.includes(ctx.state.to) ? ctx.state.to : partners[0];
  ctx.setPartners(partners, other);
  const stored = (from, to) => borders.some(([f, t]) => f === from && t === to);
  const [exports, imports] = await Promise.all([
    stored(area, other) ? fetchAreas(ctx, datasetId, [area], { area_to: other }) : null,
    stored(other, area) ? fetchAreas(ctx, datasetId, [other], { area_to: area }) : null,
  ]);
  const out = exports ? groupRows(exports.rows) : [];
  const back = imports ? groupRows(imports.rows) : [];
  if (!out.length && !back.length) {
    throw new EmptyState(`No ${label} between ${area} and ${other} in this range.`);
  }
  const unit = (exports ?? imports).rows[0]?.unit ?? "MW";
  const series = [
    ...out.map((g) => ({ name: flowName(g, out), data: g.points })),
    ...back.map((g) => ({
      name: `${flowName(g, back)} (below zero)`,
      data: g.points.map(([t, v]) => [t, v === null ? null : -v]),
    })),
  ].map((s, i) => ({
    ...s,
    type: "line",
    showSymbol: false,
    sampling: "lttb",
    areaStyle: { opacity: 0.25 },
    lineStyle: { width: 1 },
    color: PALETTE[i % PALETTE.length],
  }));
  const outNet = netSeries(out);
  const backNet = netSeries(back);
  if (outNet || backNet) {
    const net = new Map();
    for (const [t, v] of outNet?.points ?? []) if (v !== null) net.set(t, (net.get(t) ?? 0) + v);
    for (const [t, v] of backNet?.points ?? []) if (v !== null) net.set(t, (net.get(t) ?? 0) - v);
    series.push({
      name: `Net ${area} → ${other}`,
      type: "line",
      showSymbol: false,
      data: [...net.entries()].sort((a, b) => a[0] - b[0]),
      color: "#111827",
      lineStyle: { width: 2 },
      z: 5,
    });
  }
  const { tz } = ctx;
  const resolutions = [...new Set([...out, ...back].map((g) => resolutionLabel(g.resolution)))].join(", ");
  parts.main.setTitle(`${capitalize(label)} — ${area} ⇄ ${other}`);
  parts.main.setSubtitle(
    `Above zero: ${area} → ${other}; below zero: ${other} → ${area}` +
      (stored(other, area) ? "" : ` (no ${other} → ${area} series stored)`) +
      ` · ${resolutions} · ${ctx.range.label} · ${unit}`,
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
        const lines = [`<b>${formatDateTime(list[0].value[0], tz)}</b> <span class="muted">${tz}</span>`];
        for (const p of list) {
          if (p.value[1] === null || p.value[1] === undefined) continue;
          lines.push(`${p.marker}${escapeHtml(p.seriesName)}: <b>${formatValue(p.value[1], 0)}</b> ${unit}`);
        }
        return lines.join("<br>");
      },
    },
    xAxis: timeAxis(tz, ctx.range.startMs, ctx.range.endMs),
    yAxis: { type: "value", name: unit },
    dataZoom: zoomControls(),
    series,
  };
  await drawTimeChart(ctx, parts.main.chartEl, option);
}
