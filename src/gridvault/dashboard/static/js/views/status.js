// "Status": freshness per dataset and area (how far the stored data reaches, how late it is,
// when it last changed) and the collection/backfill job list with progress and errors.

import { ApiError, getJSON } from "../api.js";
import { freshness } from "../domain.js";
import { formatDateTime, formatDuration } from "../time.js";

export const title = "Status";
export const controls = { areas: false, range: false };
const JOB_ROWS = 200;
const STATES = ["pending", "running", "done", "failed"];

export function mount(el) {
  el.insertAdjacentHTML(
    "beforeend",
    `<section class="panel" id="freshness">
       <h2>Freshness</h2><p class="subtitle"></p>
       <div class="table-wrap"><table id="freshness-table"><thead><tr>
         <th>Dataset</th><th>Area</th><th class="num">Series</th><th class="num">Values</th>
         <th>First interval</th><th>Last interval</th><th>Last update</th><th class="num">Lag</th><th>Status</th>
       </tr></thead><tbody></tbody></table></div>
     </section>
     <section class="panel" id="jobs">
       <h2>Jobs</h2><p class="subtitle"></p><div id="plans"></div>
       <div class="table-wrap"><table id="job-table"><thead><tr>
         <th class="num">Job</th><th>Plan</th><th>Kind</th><th>Dataset</th><th>Area</th><th>Window</th>
         <th>State</th><th class="num">Attempts</th><th>Last error</th><th>Updated</th>
       </tr></thead><tbody></tbody></table></div>
     </section>`,
  );
  return { freshness: el.querySelector("#freshness"), jobs: el.querySelector("#jobs") };
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "–";
  if (className) td.className = className;
  return td;
}

function badge(status) {
  const td = document.createElement("td");
  const span = document.createElement("span");
  span.className = `badge badge-${status}`;
  span.textContent = status;
  td.append(span);
  return td;
}

export async function render(ctx, parts) {
  const { tz } = ctx;
  const now = Date.now();
  // Fresh answers every time (never the page's cache): this view is about what changed.
  const [updates, jobs] = await Promise.all([getJSON("/v1/updates"), loadJobs()]);
  const counts = { current: 0, behind: 0, stale: 0, empty: 0 };
  const rows = updates.map((update) => {
    const dataset = ctx.catalog.byId.get(update.dataset);
    const fresh = freshness(update, dataset, now);
    counts[fresh.status] += 1;
    const tr = document.createElement("tr");
    tr.dataset.status = fresh.status;
    tr.append(
      cell(update.dataset),
      cell(update.area),
      cell(update.series.toLocaleString("en-GB"), "num"),
      cell(update.rows.toLocaleString("en-GB"), "num"),
      cell(update.earliest ? formatDateTime(Date.parse(update.earliest), tz) : null),
      cell(update.latest ? formatDateTime(Date.parse(update.latest), tz) : null),
      cell(update.last_update ? `${formatDuration(now - Date.parse(update.last_update))} ago` : null),
      cell(fresh.lag === null ? null : fresh.lag < 0 ? `ahead ${formatDuration(-fresh.lag)}` : formatDuration(fresh.lag), "num"),
      badge(fresh.status),
    );
    return tr;
  });
  parts.freshness.querySelector("tbody").replaceChildren(...rows);
  parts.freshness.querySelector(".subtitle").textContent =
    `${updates.length} dataset/area pairs: ${counts.current} current, ${counts.behind} behind, ${counts.stale} stale` +
    ` · lag = now − end of the last stored interval · times in ${tz}`;
  renderJobs(ctx, parts.jobs, jobs, now);
}

/** The job list, or {unavailable: reason} when this server has none (or may not show it). */
async function loadJobs() {
  try {
    return await getJSON("/v1/jobs");
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.kind === "not_found") return { unavailable: "The job list is not available on this server (GET /v1/jobs is not there)." };
    if (error.kind === "forbidden") return { unavailable: `Forbidden: ${error.message}` };
    if (error.kind === "unreachable" || error.kind === "unauthorized") throw error;
    return { unavailable: `The job list could not be read: ${error.message}` };
  }
}

// The jobs API answers a list of jobs, or an object with the jobs and per-plan counts;
// both shapes are read, and counts are worked out from the jobs when none are sent.
function jobsAndPlans(answer) {
  const jobs = Array.isArray(answer) ? answer : (answer.jobs ?? answer.items ?? []);
  let plans = [];
  const given = Array.isArray(answer) ? null : (answer.plans ?? answer.counts ?? null);
  if (Array.isArray(given)) {
    plans = given.map((plan) => ({ plan_id: plan.plan_id, counts: plan.counts ?? plan, dataset: plan.dataset }));
  } else if (given && typeof given === "object") {
    plans = Object.entries(given).map(([plan_id, counts]) => ({ plan_id, counts }));
  } else {
    const byPlan = new Map();
    for (const job of jobs) {
      const counts = byPlan.get(job.plan_id) ?? Object.fromEntries(STATES.map((s) => [s, 0]));
      counts[job.state] = (counts[job.state] ?? 0) + 1;
      byPlan.set(job.plan_id, counts);
    }
    plans = [...byPlan.entries()].map(([plan_id, counts]) => ({ plan_id, counts }));
  }
  return { jobs, plans };
}

function renderJobs(ctx, section, answer, now) {
  const subtitle = section.querySelector(".subtitle");
  const body = section.querySelector("tbody");
  const plansEl = section.querySelector("#plans");
  if (answer.unavailable) {
    subtitle.textContent = answer.unavailable;
    section.dataset.available = "false";
    body.replaceChildren();
    plansEl.replaceChildren();
    section.querySelector("table").hidden = true;
    return;
  }
  section.dataset.available = "true";
  section.querySelector("table").hidden = false;
  const { jobs, plans } = jobsAndPlans(answer);
  plansEl.replaceChildren(
    ...plans.map((plan) => {
      const c = plan.counts;
      const total = STATES.reduce((s, state) => s + (Number(c[state]) || 0), 0);
      const done = Number(c.done) || 0;
      const failed = Number(c.failed) || 0;
      const div = document.createElement("div");
      div.className = "plan";
      const label = document.createElement("div");
      label.className = "plan-label";
      label.textContent =
        `${plan.plan_id}${plan.dataset ? ` (${plan.dataset})` : ""}: ${done} of ${total} done` +
        STATES.filter((s) => s !== "done" && Number(c[s])).map((s) => `, ${c[s]} ${s}`).join("");
      const bar = document.createElement("div");
      bar.className = "progress";
      bar.innerHTML = `<span class="done"></span><span class="failed"></span>`;
      bar.children[0].style.width = `${total ? (100 * done) / total : 0}%`;
      bar.children[1].style.width = `${total ? (100 * failed) / total : 0}%`;
      div.append(label, bar);
      return div;
    }),
  );
  // Failed and running first, then the most recently changed.
  const order = { failed: 0, running: 1, pending: 2, done: 3 };
  const sorted = [...jobs].sort(
    (a, b) => (order[a.state] ?? 4) - (order[b.state] ?? 4) || Date.parse(b.updated_at ?? 0) - Date.parse(a.updated_at ?? 0),
  );
  const { tz } = ctx;
  body.replaceChildren(
    ...sorted.slice(0, JOB_ROWS).map((job) => {
      const tr = document.createElement("tr");
      const window =
        job.window_start && job.window_end
          ? `${formatDateTime(Date.parse(job.window_start), tz)} – ${formatDateTime(Date.parse(job.window_end), tz)}`
          : null;
      const error = cell(job.last_error ?? "", "error-text");
      if (job.last_error) error.title = job.last_error;
      tr.append(
        cell(String(job.job_id), "num"),
        cell(job.plan_id),
        cell(job.kind),
        cell(job.dataset),
        cell(job.area_to ? `${job.area} → ${job.area_to}` : job.area),
        cell(window),
        badge(job.state),
        cell(String(job.attempts ?? 0), "num"),
        error,
        cell(job.updated_at ? `${formatDuration(now - Date.parse(job.updated_at))} ago` : null),
      );
      return tr;
    }),
  );
  subtitle.textContent = jobs.length
    ? `${jobs.length} job(s) in ${plans.length} plan(s)` + (jobs.length > JOB_ROWS ? `, ${JOB_ROWS} shown` : "") + " · failed and running first"
    : "No jobs yet: backfills and scheduled collection appear here.";
}
