// The gridvault dashboard: reads the view's state from the URL, fills in defaults from what
// the store holds, draws the chosen view and keeps controls, URL and charts in step.
//
// Readiness for tests and measurements: after a view has drawn its data the page sets
// `window.__gvRendered = {count, at, view, query}` (`at` = performance.now(), i.e. ms since
// navigation started) and the performance mark "gv-rendered"; `document.body.dataset.status`
// says loading | ready | empty | error.

import { ApiError, apiKey, getCached, getJSON, setApiKey } from "./api.js";
import { LibraryMissing, chartIn, draw, loadECharts } from "./charts.js";
import { PRESETS, VIEWS, apiTime, checkRange, customRange, readState, resolveRange, stateQuery } from "./state.js";
import { rowsOfSeries } from "./domain.js";
import { isValidZone, localDate } from "./time.js";
import * as coverageView from "./views/coverage.js";
import * as flowsView from "./views/flows.js";
import * as generationView from "./views/generation.js";
import * as loadView from "./views/load.js";
import * as pricesView from "./views/prices.js";
import * as seriesView from "./views/series.js";
import * as statusView from "./views/status.js";
import { EmptyState } from "./views/common.js";

const VIEW_MODULES = {
  series: seriesView,
  prices: pricesView,
  generation: generationView,
  load: loadView,
  flows: flowsView,
  coverage: coverageView,
  status: statusView,
};
// Views that always show one dataset, whatever the dataset control says.
const FIXED_DATASET = {
  prices: pricesView.DATASET,
  generation: generationView.DATASET,
  load: loadView.ACTUAL,
};
const DEFAULT_DATASET = "day_ahead_prices";
// The status view (freshness, jobs) redraws itself this often while it is shown.
const STATUS_REFRESH_MS = 30_000;
const MAX_DEFAULT_AREAS = 5;
const MARKET_ZONE = "Europe/Brussels"; // CET/CEST: the time the European day-ahead market runs on
const DATASET_LABELS = {
  day_ahead_prices: "day-ahead prices",
  load_actual: "actual load",
  load_forecast_day_ahead: "day-ahead load forecast",
  generation_actual_per_type: "generation per production type",
  physical_flows: "physical flows",
  scheduled_exchanges: "scheduled exchanges",
};

const app = {
  echarts: null,
  catalog: null, // {datasets, byId, areas, areaByKey}
  state: null,
  renderSeq: 0,
  mounted: null, // {view, parts}
};

const $ = (selector) => document.querySelector(selector);

function datasetLabel(id) {
  return DATASET_LABELS[id] ?? id.replaceAll("_", " ");
}

function zoneOf(state) {
  if (state.tz !== "area") return state.tz;
  return app.catalog.areaByKey.get(state.areas[0])?.tz ?? "UTC";
}

// --- messages and states -------------------------------------------------------------------

function setStatus(status) {
  document.body.dataset.status = status;
}

/** The box above the view that says what is going on, with optional action buttons. */
function showMessage(kind, title, text = "", actions = []) {
  const box = $("#message");
  box.hidden = false;
  box.dataset.kind = kind;
  const strong = document.createElement("strong");
  strong.textContent = title;
  const paragraph = document.createElement("p");
  paragraph.textContent = text;
  const buttons = document.createElement("div");
  buttons.className = "actions";
  for (const action of actions) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = action.label;
    button.addEventListener("click", action.run);
    buttons.append(button);
  }
  box.replaceChildren(strong, paragraph, buttons);
}

function hideMessage() {
  $("#message").hidden = true;
}

const FAILURE_TITLES = {
  unreachable: "API unreachable",
  unauthorized: "API key needed",
  forbidden: "Forbidden",
  not_found: "Not found",
  bad_request: "The request was refused",
  rate_limited: "Too many requests",
  server: "The server has a problem",
};

function retry() {
  return { label: "Retry", run: () => start() };
}

/** Turn anything a view or the start-up threw into a state a person can act on. */
function showFailure(error) {
  $("#view").hidden = true;
  if (error instanceof EmptyState) {
    setStatus("empty");
    showMessage(
      "empty",
      "No data",
      error.message,
      error.actions.map((action) => ({ label: action.label, run: () => navigate(action.patch) })),
    );
    return;
  }
  setStatus("error");
  if (error instanceof LibraryMissing) {
    showMessage("library", "Chart library missing", error.message);
    return;
  }
  if (error instanceof ApiError) {
    if (error.kind === "unauthorized") {
      askForKey(error.message);
      showMessage("unauthorized", FAILURE_TITLES.unauthorized, "This server needs an API key (X-API-Key): enter one to continue.", [
        { label: "Enter API key", run: () => askForKey(error.message) },
      ]);
      return;
    }
    if (error.kind === "unreachable") {
      showMessage(
        "unreachable",
        FAILURE_TITLES.unreachable,
        `The gridvault server at ${window.location.origin} did not answer. Is \`gridvault serve\` still running? ` +
          "Press Retry once it is back.",
        [retry()],
      );
      return;
    }
    const hint = error.kind === "forbidden" ? " Your API key may not show this; ask for a key with the right scope." : "";
    showMessage(error.kind, FAILURE_TITLES[error.kind] ?? "Error", `${error.message}${hint}`, [retry()]);
    return;
  }
  console.warn(error);
  showMessage("error", "Something went wrong in the page", String(error?.message ?? error), [retry()]);
}

// --- API key -------------------------------------------------------------------------------

function askForKey(reason) {
  const dialog = $("#key-dialog");
  $("#key-reason").textContent = apiKey()
    ? `The key was refused: ${reason}. Enter another one.`
    : "This gridvault server needs an API key. Create one with `gridvault keys create --name NAME` (scope read is enough).";
  $("#key-input").value = "";
  if (!dialog.open) dialog.showModal();
}

function showKeyStatus() {
  const status = $("#key-status");
  status.replaceChildren();
  if (!apiKey()) return;
  const forget = document.createElement("button");
  forget.type = "button";
  forget.textContent = "Forget API key";
  forget.title = "The key is kept only in this browser tab (sessionStorage)";
  forget.addEventListener("click", () => {
    setApiKey(null);
    showKeyStatus();
    start();
  });
  status.append(forget);
}

// --- catalog and state ---------------------------------------------------------------------

async function loadCatalog() {
  const [datasets, areas] = await Promise.all([getJSON("/v1/datasets", { stored: true }), getJSON("/v1/areas")]);
  const areaByKey = new Map();
  for (const area of areas) {
    areaByKey.set(area.code, area);
    areaByKey.set(area.code.toUpperCase(), area);
    areaByKey.set(area.eic.toUpperCase(), area);
  }
  return { datasets, byId: new Map(datasets.map((d) => [d.id, d])), areas, areaByKey };
}

/** The area code for a code or EIC in any case, or null. */
function areaCode(text) {
  return app.catalog.areaByKey.get(text.toUpperCase())?.code ?? null;
}

function suggestAreas(text) {
  const prefix = text.slice(0, 2).toUpperCase();
  return app.catalog.areas
    .map((a) => a.code)
    .filter((code) => code.startsWith(prefix))
    .slice(0, 6);
}

function borderDatasets() {
  return app.catalog.datasets.filter((d) => d.border && d.kind !== "outage").map((d) => d.id);
}

/** The dataset a view shows for the state's dataset choice. */
function effectiveDataset(view, dataset) {
  if (FIXED_DATASET[view]) return FIXED_DATASET[view];
  if (view === "flows") {
    const borders = borderDatasets();
    if (borders.includes(dataset)) return dataset;
    return borders.includes(flowsView.DEFAULT_DATASET) ? flowsView.DEFAULT_DATASET : (borders[0] ?? flowsView.DEFAULT_DATASET);
  }
  return dataset;
}

function defaultDataset() {
  const { datasets } = app.catalog;
  if (app.catalog.byId.has(DEFAULT_DATASET)) return DEFAULT_DATASET;
  const timeSeries = datasets.filter((d) => d.kind !== "outage");
  return [...timeSeries].sort((a, b) => b.stored_series - a.stored_series)[0]?.id ?? null;
}

/**
 * Areas (and a range) to show when the link names none: the areas whose data reaches into the
 * last 30 days (up to five), or else the area with the most data and its latest month.
 */
function defaultAreas(detail) {
  const since = Date.now() - 30 * 86400e3;
  const recent = detail.areas
    .filter((a) => a.latest && Date.parse(a.latest) >= since)
    .map((a) => a.area)
    .sort();
  if (recent.length) return { areas: recent.slice(0, MAX_DEFAULT_AREAS), range: null };
  const biggest = [...detail.areas].sort((a, b) => b.rows - a.rows)[0];
  if (!biggest?.latest) return { areas: [], range: null };
  const tz = app.catalog.areaByKey.get(biggest.area)?.tz ?? "UTC";
  const to = localDate(Date.parse(biggest.latest), tz);
  const from = localDate(Date.parse(biggest.latest) - 29 * 86400e3, tz);
  return { areas: [biggest.area], range: customRange(from, to) };
}

/** The complete state for what the URL asks, or {problems} when the link cannot be shown. */
async function resolveState(raw) {
  const problems = [];
  const view = VIEWS.includes(raw.view) ? raw.view : "series";
  let dataset = raw.dataset;
  if (dataset && !app.catalog.byId.has(dataset)) {
    problems.push(
      `Dataset “${dataset}” is not stored on this server. Stored: ${app.catalog.datasets.map((d) => d.id).join(", ")}.`,
    );
  }
  dataset = dataset || defaultDataset();
  const areas = [];
  for (const text of raw.areas) {
    const code = areaCode(text);
    if (code) {
      if (!areas.includes(code)) areas.push(code);
    } else {
      const close = suggestAreas(text);
      const stored = app.catalog.byId.get(effectiveDataset(view, dataset))?.stored_areas ?? [];
      problems.push(
        `Unknown area “${text}” in the link.` +
          (close.length ? ` Did you mean ${close.join(", ")}?` : "") +
          (stored.length ? ` Areas with ${datasetLabel(effectiveDataset(view, dataset))}: ${stored.join(", ")}.` : ""),
      );
    }
  }
  const tz = raw.tz || "area";
  if (tz !== "area" && !isValidZone(tz)) problems.push(`Unknown time zone “${tz}” in the link; use an IANA name such as Europe/Berlin, or UTC.`);
  let range = raw.range;
  if (range && checkRange(range)) problems.push(`${checkRange(range)}.`);
  const to = raw.to ? areaCode(raw.to) : null;
  if (raw.to && !to) problems.push(`Unknown area “${raw.to}” in the link (to=).`);
  if (problems.length) return { problems, partial: { view, dataset, areas, tz, range } };

  if (!areas.length) {
    const detail = await getCached(`/v1/datasets/${effectiveDataset(view, dataset) ?? DEFAULT_DATASET}`);
    const fallback = defaultAreas(detail);
    areas.push(...fallback.areas);
    if (!range && fallback.range) range = fallback.range;
    if (!areas.length) {
      const anyArea = app.catalog.datasets.flatMap((d) => d.stored_areas)[0];
      if (anyArea) areas.push(anyArea);
    }
  }
  return { state: { view, dataset, areas, to, range: range || "30d", tz } };
}

// --- controls ------------------------------------------------------------------------------

function option(value, label, selected) {
  const el = document.createElement("option");
  el.value = value;
  el.textContent = label;
  el.selected = selected;
  return el;
}

function showControl(name, visible) {
  for (const el of document.querySelectorAll(`[data-control="${name}"]`)) el.hidden = !visible;
}

/** Make the controls show `state` (and only the controls the view uses). */
async function syncControls(state) {
  const view = VIEW_MODULES[state.view];
  const controls = view.controls;
  for (const button of document.querySelectorAll("#views button")) {
    button.setAttribute("aria-current", button.dataset.view === state.view ? "page" : "false");
  }
  const effective = effectiveDataset(state.view, state.dataset);
  showControl("dataset", Boolean(controls.dataset));
  const datasetSelect = $("#dataset");
  const choices = controls.dataset === "border" ? borderDatasets() : app.catalog.datasets.filter((d) => d.kind !== "outage").map((d) => d.id);
  datasetSelect.replaceChildren(...choices.map((id) => option(id, datasetLabel(id), id === effective)));
  datasetSelect.title = app.catalog.byId.get(effective)?.description ?? "";

  const showAreas = controls.areas !== false;
  showControl("area", showAreas);
  showControl("compare", showAreas && Boolean(controls.compare));
  showControl("partner", Boolean(controls.partner));
  showControl("range", controls.range !== false);
  if (showAreas) {
    let stored = [];
    if (controls.partner && app.catalog.byId.has(effective)) {
      // Border datasets: an area has data when it is either end of a stored border.
      const borders = await flowsView.storedBorders({ cached: getCached }, effective);
      stored = [...new Set(borders.flat())].sort();
    } else if (app.catalog.byId.has(effective)) {
      stored = (await getCached(`/v1/datasets/${effective}`)).areas.map((a) => a.area);
    }
    const primary = state.areas[0];
    const areaSelect = $("#area");
    const listed = stored.includes(primary) || !primary ? stored : [primary, ...stored];
    areaSelect.replaceChildren(
      ...listed.map((code) => option(code, stored.includes(code) ? areaName(code) : `${code} (no data)`, code === primary)),
    );
    const chips = $("#compare-chips");
    chips.replaceChildren(
      ...state.areas.slice(1).map((code) => {
        const chip = document.createElement("span");
        chip.className = "chip";
        chip.textContent = code;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "×";
        remove.title = `Remove ${code}`;
        remove.addEventListener("click", () => navigate({ areas: app.state.areas.filter((a) => a !== code) }));
        chip.append(remove);
        return chip;
      }),
    );
    const addSelect = $("#add-area");
    addSelect.replaceChildren(
      option("", "+ compare with…", true),
      ...stored.filter((code) => !state.areas.includes(code)).map((code) => option(code, areaName(code), false)),
    );
  }
  for (const button of document.querySelectorAll("#presets button")) {
    button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
  }
  const tz = zoneOf(state);
  const range = resolveRange(state.range, tz);
  $("#custom-label").classList.toggle("active", !(state.range in PRESETS));
  $("#from").value = range.from;
  $("#to").value = range.to;
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const primaryZone = app.catalog.areaByKey.get(state.areas[0])?.tz ?? "UTC";
  const zones = [
    ["area", `Area time (${primaryZone})`],
    ["UTC", "UTC"],
    [MARKET_ZONE, `${MARKET_ZONE} (CET, market time)`],
  ];
  if (browserZone && !zones.some(([z]) => z === browserZone)) zones.push([browserZone, `${browserZone} (this computer)`]);
  if (!zones.some(([z]) => z === state.tz)) zones.push([state.tz, state.tz]);
  $("#tz").replaceChildren(...zones.map(([value, label]) => option(value, label, value === state.tz)));
}

function areaName(code) {
  const area = app.catalog.areaByKey.get(code);
  return area ? `${code} — ${area.name}` : code;
}

function setPartners(partners, chosen) {
  $("#partner").replaceChildren(...partners.map((code) => option(code, areaName(code), code === chosen)));
  if (app.state.to !== chosen) {
    app.state = { ...app.state, to: chosen };
    window.history.replaceState(null, "", stateQuery(app.state));
  }
}

function wireControls() {
  for (const view of VIEWS) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.view = view;
    button.textContent = VIEW_MODULES[view].title;
    button.addEventListener("click", () => navigate({ view }));
    $("#views").append(button);
  }
  $("#dataset").addEventListener("change", (event) => navigate({ dataset: event.target.value }));
  $("#area").addEventListener("change", (event) => {
    const primary = event.target.value;
    navigate({ areas: [primary, ...app.state.areas.slice(1).filter((a) => a !== primary)], to: null });
  });
  $("#add-area").addEventListener("change", (event) => {
    if (event.target.value) navigate({ areas: [...app.state.areas, event.target.value] });
  });
  $("#partner").addEventListener("change", (event) => navigate({ to: event.target.value }));
  for (const [range, label] of Object.entries(PRESETS)) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.range = range;
    button.textContent = label;
    button.addEventListener("click", () => navigate({ range }));
    $("#presets").append(button);
  }
  const customChanged = () => {
    const from = $("#from").value;
    const to = $("#to").value;
    if (from && to && from <= to) navigate({ range: customRange(from, to) });
  };
  $("#from").addEventListener("change", customChanged);
  $("#to").addEventListener("change", customChanged);
  $("#tz").addEventListener("change", (event) => navigate({ tz: event.target.value }));
  $("#key-form").addEventListener("submit", () => {
    const key = $("#key-input").value.trim();
    if (key) {
      setApiKey(key);
      showKeyStatus();
      start();
    }
  });
  window.addEventListener("popstate", () => start({ keepCatalog: true }));
  window.addEventListener("resize", () => {
    for (const el of document.querySelectorAll("#view .chart")) app.echarts?.getInstanceByDom(el)?.resize();
  });
}

// --- rendering -----------------------------------------------------------------------------

/** Change part of the state (a user action): new history entry, redraw. */
function navigate(patch) {
  if (!app.state) {
    // No view yet (a broken link, no key, API down): change the link and start over.
    const params = new URLSearchParams(window.location.search);
    for (const [name, value] of Object.entries(patch)) params.set(name === "areas" ? "area" : name, String(value ?? ""));
    window.history.pushState(null, "", `?${params}`);
    start({ keepCatalog: true });
    return;
  }
  app.state = { ...app.state, ...patch };
  window.history.pushState(null, "", stateQuery(app.state));
  renderView();
}

function markRendered() {
  const count = (window.__gvRendered?.count ?? 0) + 1;
  performance.mark("gv-rendered");
  window.__gvRendered = { count, at: performance.now(), view: app.state.view, query: window.location.search };
  document.body.dataset.rendered = String(count);
}

function mountView(name) {
  if (app.mounted?.view === name) return app.mounted.parts;
  for (const el of document.querySelectorAll("#view .chart")) app.echarts?.getInstanceByDom(el)?.dispose();
  const viewEl = $("#view");
  viewEl.replaceChildren();
  viewEl.dataset.view = name;
  const parts = VIEW_MODULES[name].mount(viewEl);
  app.mounted = { view: name, parts };
  return parts;
}

async function renderView() {
  const seq = ++app.renderSeq;
  const stale = () => seq !== app.renderSeq;
  const state = app.state;
  const tz = zoneOf(state);
  const range = resolveRange(state.range, tz);
  const notices = $("#notices");
  notices.replaceChildren();
  setStatus("loading");
  const loading = setTimeout(() => {
    if (!stale()) showMessage("loading", "Loading…", `${VIEW_MODULES[state.view].title} · ${range.label}`);
  }, 250);
  const viewEl = $("#view");
  viewEl.classList.add("busy");
  try {
    await syncControls(state);
    const parts = mountView(state.view);
    viewEl.hidden = false;
    const ctx = {
      state,
      tz,
      range,
      catalog: app.catalog,
      datasetLabel,
      detail: (id) => getCached(`/v1/datasets/${id}`),
      // The series layout names each series once: a quarter of the bytes of the rows layout.
      data: (id, params) =>
        getCached(`/v1/datasets/${id}/data`, {
          start: apiTime(range.startMs),
          end: apiTime(range.endMs),
          tz,
          layout: "series",
          ...params,
        }).then(rowsOfSeries),
      cached: (path, params) => getCached(path, params),
      chart: (el) => chartIn(app.echarts, el),
      draw: (chart, option) => {
        chart.resize();
        return draw(chart, option);
      },
      notice: (text) => {
        if (stale()) return;
        const li = document.createElement("li");
        li.textContent = text;
        notices.append(li);
      },
      setPartners: (partners, chosen) => {
        if (!stale()) setPartners(partners, chosen);
      },
    };
    ctx.state = { ...state, dataset: effectiveDataset(state.view, state.dataset) };
    await VIEW_MODULES[state.view].render(ctx, parts);
    if (stale()) return;
    hideMessage();
    setStatus("ready");
    markRendered();
    if (state.view === "status") {
      setTimeout(() => {
        if (!stale()) renderView();
      }, STATUS_REFRESH_MS);
    }
  } catch (error) {
    if (!stale()) showFailure(error);
  } finally {
    clearTimeout(loading);
    if (!stale()) viewEl.classList.remove("busy");
  }
}

/** Start (or restart after a key was entered or the API came back): catalog, state, view. */
async function start({ keepCatalog = false } = {}) {
  const seq = ++app.renderSeq;
  setStatus("loading");
  const loading = setTimeout(() => {
    if (seq === app.renderSeq) showMessage("loading", "Loading…", "Asking the gridvault API what it stores");
  }, 250);
  try {
    const library = loadECharts().then((echarts) => {
      app.echarts = echarts;
      window.echarts = echarts; // for the browser tests and the console
    });
    if (!keepCatalog || !app.catalog) {
      // The default view needs its dataset's stored areas next: ask for them meanwhile.
      const raw = readState();
      if (!raw.dataset || FIXED_DATASET[raw.view]) {
        getCached(`/v1/datasets/${FIXED_DATASET[raw.view] ?? DEFAULT_DATASET}`).catch(() => {});
      }
      const [catalog] = await Promise.all([loadCatalog(), library]);
      app.catalog = catalog;
    } else {
      await library;
    }
    if (seq !== app.renderSeq) return;
    if (!app.catalog.datasets.length) {
      setStatus("empty");
      $("#view").hidden = true;
      showMessage("empty", "Nothing stored yet", "Load the bundled demo data with `gridvault demo`, or collect data with `gridvault collect`.");
      return;
    }
    const resolved = await resolveState(readState());
    if (seq !== app.renderSeq) return;
    if (resolved.problems) {
      app.state = null;
      setStatus("error");
      $("#view").hidden = true;
      $("#controls").hidden = true;
      const openDefault = () => {
        window.history.pushState(null, "", window.location.pathname);
        start({ keepCatalog: true });
      };
      showMessage("problem", "This link cannot be shown", resolved.problems.join(" "), [
        { label: "Open the default view", run: openDefault },
      ]);
      return;
    }
    app.state = resolved.state;
    $("#controls").hidden = false;
    window.history.replaceState(null, "", stateQuery(app.state));
    await renderView();
  } catch (error) {
    if (seq === app.renderSeq) showFailure(error);
  } finally {
    clearTimeout(loading);
  }
}

wireControls();
showKeyStatus();
start();
