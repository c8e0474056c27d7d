// "Time series": any stored dataset for one or more areas, every series it splits into
// (production type, border, auction sequence, …) as a line you can zoom, pan and hover.

import { resolutionLabel } from "../domain.js";
import { capitalize, drawFrame, drawTimeChart, fetchAreas, groupRows, lineOption, noDataInRange, panel } from "./common.js";

export const title = "Time series";
export const controls = { dataset: "any", compare: true };

export function mount(el) {
  return { main: panel(el, { title: "", id: "chart-series", height: 460 }) };
}

export async function render(ctx, parts) {
  const datasetId = ctx.state.dataset;
  const fetched = fetchAreas(ctx, datasetId, ctx.state.areas);
  drawFrame(ctx, parts.main.chartEl, ctx.catalog.byId.get(datasetId)?.unit);
  const { detail, rows, missing, resample, areas } = await fetched;
  if (!rows.length) throw noDataInRange(ctx, detail, areas);
  if (missing.length) ctx.notice(`No ${ctx.datasetLabel(datasetId)} stored for ${missing.join(", ")}.`);
  const groups = groupRows(rows);
  const unit = rows[0].unit;
  const resolutions = [...new Set(groups.map((g) => g.resolution))].map(resolutionLabel).join(", ");
  parts.main.setTitle(`${capitalize(ctx.datasetLabel(datasetId))} — ${areas.join(", ")}`);
  parts.main.setSubtitle(
    `${groups.length} series, ${rows.length.toLocaleString("en-GB")} values, ` +
      (resample.resample ? `${resample.label} (resampled for a long range)` : `${resolutions} values`) +
      ` · ${ctx.range.label} · ${unit}`,
  );
  // Prices hold for their whole interval: draw them as steps.
  const step = detail.kind === "auction" || detail.unit.includes("/MWh");
  await drawTimeChart(ctx, parts.main.chartEl, lineOption(ctx, groups, { unit, step }));
}
