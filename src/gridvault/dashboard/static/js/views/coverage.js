// "Coverage": which days of the range hold all their expected values. A calendar heatmap per
// year, one cell per local day coloured by the share of expected intervals present, so a
// missing day or a stretch where collection stopped stands out; the gaps are listed below.

import { escapeHtml } from "../charts.js";
import { resolutionMs } from "../domain.js";
import { formatDateTime, formatDuration, localDays } from "../time.js";
import { EmptyState, capitalize, panel, rangeParams } from "./common.js";

export const title = "Coverage";
export const controls = { dataset: "any" };
const CALENDAR_HEIGHT = 190;
const MAX_YEARS = 12;
const LISTED_GAPS = 100;

export function mount(el) {
  const calendar = panel(el, { title: "Coverage", id: "chart-coverage", height: CALENDAR_HEIGHT });
  const section = document.createElement("section");
  section.className = "panel";
  section.innerHTML = `<h2>Gaps</h2><p class="subtitle"></p><div class="table-wrap"><table id="gap-table"><thead><tr>
    <th>Series</th><th>From</th><th>To</th><th>Length</th><th>Missing intervals</th></tr></thead><tbody></tbody></table></div>`;
  el.append(section);
  return { calendar, gaps: section };
}

/**
 * Share of each local day that is covered, averaged over the series: 1 − (missing time in
 * the day ÷ length of the day). Gap times are exact instants, so a gap that covers a whole
 * CET market day shows up as a partly filled day when viewed in another zone.
 */
function dailyCompleteness(coverage, days) {
  const result = days.map(() => ({ sum: 0, series: 0, missing: 0, unknown: false }));
  for (const series of coverage.series) {
    const step = resolutionMs(series.resolution);
    const gaps = series.gaps.map((g) => [Date.parse(g.start), Date.parse(g.end)]);
    // The API lists at most 1000 gaps: after the last one listed, a day is not known.
    const knownUntil = series.gaps_total > series.gaps.length ? gaps[gaps.length - 1][1] : Infinity;
    let first = 0;
    days.forEach((day, i) => {
      const cell = result[i];
      if (day.start >= knownUntil) {
        cell.unknown = true;
        return;
      }
      let missing = 0;
      while (first < gaps.length && gaps[first][1] <= day.start) first += 1;
      for (let g = first; g < gaps.length && gaps[g][0] < day.end; g += 1) {
        missing += Math.min(gaps[g][1], day.end) - Math.max(gaps[g][0], day.start);
      }
      cell.sum += 1 - missing / (day.end - day.start);
      cell.series += 1;
      cell.missing += Math.round(missing / step);
    });
  }
  return result;
}

export async function render(ctx, parts) {
  const datasetId = ctx.state.dataset;
  const label = ctx.datasetLabel(datasetId);
  const area = ctx.state.areas[0];
  const detail = await ctx.detail(datasetId);
  if (!detail.areas.some((a) => a.area === area)) {
    const stored = detail.areas.map((a) => a.area);
    throw new EmptyState(
      `No ${label} stored for ${area}: nothing to check.` + (stored.length ? ` Stored areas: ${stored.slice(0, 12).join(", ")}.` : ""),
      stored.slice(0, 4).map((a) => ({ label: `Show ${a}`, patch: { areas: [a] } })),
    );
  }
  const { tz } = ctx;
  const coverage = await ctx.cached(`/v1/datasets/${datasetId}/coverage`, { area, ...rangeParams(ctx) });
  const days = localDays(ctx.range.startMs, ctx.range.endMs, tz);
  const daily = dailyCompleteness(coverage, days);
  const byYear = new Map();
  days.forEach((day, i) => {
    const year = day.date.slice(0, 4);
    if (!byYear.has(year)) byYear.set(year, []);
    const cell = daily[i];
    const value = cell.unknown || !cell.series ? null : Math.round((cell.sum / cell.series) * 1e4) / 1e4;
    byYear.get(year).push({ date: day.date, value, missing: cell.missing, hours: (day.end - day.start) / 3600e3 });
  });
  const years = [...byYear.keys()].slice(-MAX_YEARS);
  if (byYear.size > MAX_YEARS) ctx.notice(`The calendar shows the last ${MAX_YEARS} years of the range.`);
  if (coverage.series.some((s) => s.gaps_total > s.gaps.length)) {
    ctx.notice("More than 1000 gaps in a series: days after the last listed gap are not shown; narrow the range.");
  }

  const completeness = (coverage.completeness * 100).toFixed(2);
  parts.calendar.setTitle(`Coverage — ${capitalize(label)}, ${area}`);
  parts.calendar.setSubtitle(
    `${coverage.present.toLocaleString("en-GB")} of ${coverage.expected.toLocaleString("en-GB")} expected intervals present ` +
      `(${completeness} %) in ${coverage.series.length} series · one cell per day in ${tz} · ${ctx.range.label}`,
  );
  parts.calendar.chartEl.style.height = `${CALENDAR_HEIGHT * years.length + 60}px`;
  const chart = ctx.chart(parts.calendar.chartEl);
  chart.resize();
  const option = {
    animation: false,
    tooltip: {
      formatter: (p) => {
        const [date, value] = p.value;
        if (value === null) return `${date}: not checked`;
        const missing = p.data.missing ? ` · ${p.data.missing} interval(s) missing` : "";
        return `<b>${escapeHtml(date)}</b> (${p.data.hours} h)<br>${(value * 100).toFixed(1)} % present${missing}`;
      },
    },
    visualMap: {
      type: "piecewise",
      orient: "horizontal",
      left: "center",
      bottom: 4,
      pieces: [
        { value: 1, label: "complete", color: "#2e9e5b" },
        { gte: 0.99, lt: 1, label: "≥ 99 %", color: "#9fd9a8" },
        { gte: 0.5, lt: 0.99, label: "50–99 %", color: "#f6c343" },
        { gt: 0, lt: 0.5, label: "< 50 %", color: "#ef7d3c" },
        { value: 0, label: "nothing", color: "#b3261e" },
      ],
    },
    calendar: years.map((year, i) => {
      const cells = byYear.get(year);
      return {
        top: 28 + i * CALENDAR_HEIGHT,
        left: 56,
        right: 24,
        cellSize: ["auto", 20],
        range: [cells[0].date, cells[cells.length - 1].date],
        orient: "horizontal",
        yearLabel: { show: true, position: "left", margin: 34 },
        dayLabel: { firstDay: 1, nameMap: "en", fontSize: 10 },
        monthLabel: { nameMap: "en", fontSize: 11 },
        itemStyle: { borderColor: "#fff", borderWidth: 1, color: "#eceef1" },
        splitLine: { lineStyle: { color: "#9aa0a6", width: 1 } },
      };
    }),
    series: years.map((year, i) => ({
      type: "heatmap",
      coordinateSystem: "calendar",
      calendarIndex: i,
      name: year,
      data: byYear
        .get(year)
        .filter((c) => c.value !== null)
        .map((c) => ({ value: [c.date, c.value], missing: c.missing, hours: c.hours })),
    })),
  };
  await ctx.draw(chart, option);
  renderGaps(ctx, parts.gaps, coverage);
}

function renderGaps(ctx, section, coverage) {
  const { tz } = ctx;
  const rows = coverage.series.flatMap((series) => {
    const name = [series.area, ...Object.entries(series.dimensions).map(([k, v]) => `${k} ${v}`)].join(" · ");
    return series.gaps.map((gap) => ({ name, ...gap }));
  });
  rows.sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  const total = coverage.series.reduce((s, series) => s + series.gaps_total, 0);
  section.querySelector(".subtitle").textContent = total
    ? `${total} gap(s)` + (rows.length > LISTED_GAPS ? `, the first ${LISTED_GAPS} listed` : "") + ` · times in ${tz}, end exclusive`
    : "No gaps in this range.";
  const body = section.querySelector("tbody");
  body.replaceChildren(
    ...rows.slice(0, LISTED_GAPS).map((gap) => {
      const tr = document.createElement("tr");
      const start = Date.parse(gap.start);
      const end = Date.parse(gap.end);
      for (const text of [gap.name, formatDateTime(start, tz), formatDateTime(end, tz), formatDuration(end - start), gap.intervals]) {
        const td = document.createElement("td");
        td.textContent = String(text);
        tr.append(td);
      }
      return tr;
    }),
  );
}
