"""The dashboard in headless Chromium against ``gridvault serve`` on loopback.

What a person would check by looking, checked by reading the page: it loads without console
errors, charts show the API's values for the same question, switching area changes them, the
coverage calendar shows the known FI gap (2016-10-06, no day-ahead prices), the URL restores
a view, and failures read as what they are (unknown area, API down, key needed). Screenshots
go to ``artifacts/screenshots/``; the first meaningful paint of the default view and the time
to switch area are printed and appended to ``artifacts/dashboard-timings.txt`` (the goal of
< 1 s each is reported, not asserted: timings depend on the machine).

Fixtures: a DuckDB store seeded with the demo's real data plus generated day-ahead prices
(one month of 15-minute values for five areas, ending tomorrow, so the default view, the last
30 days, shows five series of 15-minute data); ``gridvault serve --no-auth`` on it in a child
process; the system's Chromium (``/usr/bin/chromium``, installed by ``./dev.sh test``) driven
by Playwright. In CI (``CI=true``) a missing browser fails the tests; elsewhere they skip.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest

from gridvault.api.testing import observations, run_api, seed_sample
from gridvault.dashboard import ECHARTS_FILE
from gridvault.demo import ENTSOE_DIR, TIMESERIES_DIR
from gridvault.pipeline.ingest import ingest_payload
from gridvault.services import Services
from gridvault.settings import Settings
from gridvault.store import SeriesKey, Store
from gridvault.store.duckdb_store import DuckDBStore

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

CHROMIUM = Path(os.environ.get("GRIDVAULT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
TIMINGS = ARTIFACTS / "dashboard-timings.txt"

# --- the store, the server and the browser ------------------------------------------------

#: Areas of the generated month of 15-minute day-ahead prices (the performance data).
PERF_AREAS = ("AT", "BE", "CZ", "HU", "PL")
_Q = timedelta(minutes=15)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the dashboard browser tests need {reason} (CI=true: not skipped)")
    pytest.skip(f"dashboard browser tests skipped: {reason}")


def seed_demo(store: Store) -> None:
    """The demo's bundled real data (ENTSO-E documents and the FI CSV exports)."""
    files = sorted(ENTSOE_DIR.glob("*.xml")) + sorted((TIMESERIES_DIR / "entsoe_fi").glob("*.csv"))
    for path in files:
        outcome = ingest_payload(store, path.read_bytes(), name=path.name)
        assert outcome.ok, f"{path.name}: {outcome.error}"


def perf_window(now: datetime) -> tuple[datetime, datetime]:
    """From 32 days before today (UTC) to the end of tomorrow: covers "last 30 days" in any
    European zone, and reaches tomorrow as published day-ahead prices do."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=32), today + timedelta(days=2)


def seed_month(store: Store, now: datetime) -> dict[str, int]:
    """Five series of 15-minute day-ahead prices (areas :data:`PERF_AREAS`) over
    :func:`perf_window`: a daily shape plus noise, different per area. Returns series ids."""
    start, end = perf_window(now)
    steps = int((end - start) / _Q)
    keys = [
        SeriesKey(
            "entsoe",
            "day_ahead_prices",
            area,
            {"business_type": "A62", "measure": "price", "sequence": "1"},
            "EUR/MWh",
            "PT15M",
        )
        for area in PERF_AREAS
    ]
    ids = store.ensure_series(keys)
    rng = random.Random(7)
    for index, series_id in enumerate(ids):
        base = 60.0 + 12.0 * index
        values: list[float | None] = []
        for step in range(steps):
            hour = (step % 96) / 4
            shape = 25.0 * math.sin((hour - 7) / 24 * 2 * math.pi) + 15.0 * math.sin(
                (hour - 16) / 12 * 2 * math.pi
            )
            values.append(round(base + shape + rng.gauss(0, 6), 2))
        published = start - timedelta(hours=12)
        store.upsert_observations(observations(series_id, start, values, _Q, published))
    return dict(zip(PERF_AREAS, ids, strict=True))


@pytest.fixture(scope="module")
def dashboard_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file with the demo data and the performance month (closed again: the server
    process opens it)."""
    path = tmp_path_factory.mktemp("dashboard") / "store.duckdb"
    store = DuckDBStore(path)
    try:
        seed_demo(store)
        seed_month(store, datetime.now(UTC))
    finally:
        store.close()
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """``gridvault serve`` in a child process."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, **params: Any) -> Any:
        response = httpx2.get(f"{self.url}{path}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def server(dashboard_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``gridvault serve --no-auth`` on a free loopback port over the seeded store."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {
        **os.environ,
        "GRIDVAULT_DATABASE_URL": f"duckdb:///{dashboard_store}",
        "GRIDVAULT_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "gridvault.cli.main", "serve", "--no-auth"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"gridvault serve exited: {log.read_text()[-2000:]}")
            try:
                if httpx2.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gridvault serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield Server(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """The system's Chromium (headless), launched by Playwright."""
    if not CHROMIUM.exists():
        _unavailable(f"Chromium at {CHROMIUM} (install it: apt-get install chromium)")
    if not ECHARTS_FILE.exists():
        _unavailable(f"the built dashboard assets ({ECHARTS_FILE.name}: run ./dev.sh test)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package (uv sync --all-groups)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Console:
    """What the page reported: console messages of type error, and uncaught exceptions."""

    errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.errors, "the page reported errors:\n" + "\n".join(self.errors)


@contextlib.contextmanager
def fresh_page(browser: Browser) -> Iterator[tuple[Page, Console]]:
    """A page in a new context (empty cache and sessionStorage) that records console errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    console = Console()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location.get("url", "") if message.location else ""
            console.errors.append(f"console: {message.text} ({location})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: console.errors.append(f"page error: {error}"))
    try:
        yield page, console
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Console]]:
    with fresh_page(browser) as opened:
        yield opened


def record_timing(name: str, milliseconds: float, detail: str) -> None:
    """Print a measurement and append it to artifacts/dashboard-timings.txt."""
    ARTIFACTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"{stamp} {name}: {milliseconds:.0f} ms ({detail}; goal < 1000 ms)"
    print(line)
    with TIMINGS.open("a") as sink:
        sink.write(line + "\n")


# --- reading the page --------------------------------------------------------------------

PageAndConsole = tuple["Page", Console]
DATA_PATH = "/v1/datasets/day_ahead_prices/data"


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_rendered(page: Page, count: int = 1) -> None:
    """Until the page has drawn its data ``count`` times (``window.__gvRendered``)."""
    page.wait_for_function("(n) => (window.__gvRendered?.count ?? 0) >= n", arg=count)


def wait_status(page: Page, status: str) -> None:
    page.wait_for_function("(s) => document.body.dataset.status === s", arg=status)


def chart_series(page: Page, chart_id: str) -> list[dict[str, Any]]:
    """The series (name, data) the chart in element ``chart_id`` holds right now."""
    result: list[dict[str, Any]] = page.evaluate(
        """(id) => echarts.getInstanceByDom(document.getElementById(id))
             .getOption().series.map((s) => ({name: s.name, data: s.data}))""",
        chart_id,
    )
    return result


def points(series: dict[str, Any]) -> list[tuple[int, float]]:
    """A line series' (epoch ms, value) points, without the null points drawn at gaps."""
    return [(int(t), float(v)) for t, v in series["data"] if v is not None]


def api_points(url: str) -> dict[str, list[tuple[int, float]]]:
    """The API's answer to ``url`` (a page's own request), as points per area."""
    assert "layout=series" in url  # the page asks for each series named once
    response = httpx2.get(url, timeout=30)
    response.raise_for_status()
    by_area: dict[str, list[tuple[int, float]]] = {}
    for series in response.json()["series"]:
        at = series["columns"].index("interval_start")
        value = series["columns"].index("value")
        for row in series["values"]:
            start = datetime.fromisoformat(row[at].replace("Z", "+00:00"))
            by_area.setdefault(series["area"], []).append(
                (int(start.timestamp() * 1000), float(row[value]))
            )
    return by_area


@pytest.fixture
def data_requests(page: PageAndConsole) -> list[str]:
    """URLs of the day-ahead price data the page asked the API for."""
    seen: list[str] = []
    page[0].on(
        "request", lambda request: seen.append(request.url) if DATA_PATH in request.url else None
    )
    return seen


def query_of(page: Page) -> dict[str, str]:
    search: str = page.evaluate("() => window.location.search")
    pairs = (part.split("=", 1) for part in search.lstrip("?").split("&") if "=" in part)
    return dict(pairs)


# --- the tests ---------------------------------------------------------------------------


def first_paint(page: Page, url: str) -> float:
    """Milliseconds from navigation start until the default view has drawn its data."""
    page.goto(url)
    wait_rendered(page)
    paint = float(page.evaluate("() => window.__gvRendered.at"))
    assert math.isfinite(paint)
    assert paint > 0
    return paint


def test_default_view_paints_a_month_of_five_series(
    server: Server, browser: Browser, page: PageAndConsole, data_requests: list[str]
) -> None:
    tab, console = page
    what = (
        f"navigation start → chart drawn; one month of 15-minute day-ahead prices for "
        f"{len(PERF_AREAS)} areas; new browser context (nothing cached)"
    )
    # The first page after the server started also pays for the store's first queries.
    record_timing(
        "first meaningful paint, default view, server's first page",
        first_paint(tab, f"{server.url}/"),
        what,
    )
    with fresh_page(browser) as (again, again_console):
        record_timing(
            "first meaningful paint, default view",
            first_paint(again, f"{server.url}/"),
            what,
        )
        again_console.assert_clean()
    state = query_of(tab)
    assert state["view"] == "series"
    assert state["dataset"] == "day_ahead_prices"
    assert state["area"] == ",".join(PERF_AREAS)
    assert state["range"] == "30d"
    series = chart_series(tab, "chart-series")
    assert [s["name"] for s in series] == list(PERF_AREAS)
    # The chart holds exactly what the API answers to the page's own requests.
    expected: dict[str, list[tuple[int, float]]] = {}
    for url in data_requests:
        expected.update(api_points(url))
    for item in series:
        drawn = points(item)
        assert len(drawn) > 28 * 96, "a month of 15-minute values"
        assert drawn == expected[item["name"]]
    screenshot(tab, "01-default-view")
    console.assert_clean()


def test_chart_values_match_the_api_on_a_dst_day(server: Server, page: PageAndConsole) -> None:
    tab, console = page
    # 2019-10-27: clocks went back in Finland, the day has 25 hourly prices.
    tab.goto(
        f"{server.url}/?view=series&dataset=day_ahead_prices&area=FI"
        "&range=2019-10-27..2019-10-27&tz=Europe/Helsinki"
    )
    wait_rendered(tab)
    [series] = chart_series(tab, "chart-series")
    expected = server.get(DATA_PATH, area="FI", start="2019-10-27", end="2019-10-28")["data"]
    assert len(expected) == 25
    drawn = points(series)
    assert [v for _, v in drawn] == [float(row["value"]) for row in expected]
    tooltip_time: str = tab.evaluate(
        "async () => (await import('/static/js/time.js')).formatDateTime(Date.UTC(2019, 9, 27, 0), 'Europe/Helsinki')"
    )
    assert tooltip_time == "2019-10-27 03:00"  # UTC+3 until 04:00 local, then UTC+2
    console.assert_clean()


def test_time_helpers_follow_the_local_clock(server: Server, page: PageAndConsole) -> None:
    """Days, hours and ticks in a zone, across both DST switches (Europe/Helsinki, 2019)."""
    tab, console = page
    tab.goto(f"{server.url}/static/favicon.svg")  # the origin, without the app
    result: dict[str, Any] = tab.evaluate(
        """async () => {
             const t = await import('/static/js/time.js');
             const hours = (from, to) =>
               t.localDays(t.dayStart(from, 'Europe/Helsinki'), t.dayStart(to, 'Europe/Helsinki'),
                           'Europe/Helsinki').map((d) => (d.end - d.start) / 3600e3);
             const spring = t.timeTicks(t.dayStart('2019-03-31', 'Europe/Helsinki'),
                                        t.dayStart('2019-04-01', 'Europe/Helsinki'), 'Europe/Helsinki', 30);
             return {
               autumn: hours('2019-10-26', '2019-10-29'),
               spring: hours('2019-03-30', '2019-04-02'),
               springTicks: spring.values.map((v) => t.formatDateTime(v, 'Europe/Helsinki').slice(11)),
               monday: t.timeTicks(Date.UTC(2024, 8, 1), Date.UTC(2024, 9, 1), 'UTC').values
                 .map((v) => new Date(v).getUTCDay()),
             };
           }"""
    )
    assert result["autumn"] == [24, 25, 24]
    assert result["spring"] == [24, 23, 24]
    # Hourly ticks on the 23-hour day: 03:00 does not exist in Helsinki on 2019-03-31.
    assert "03:00" not in result["springTicks"]
    assert result["springTicks"][:4] == ["00:00", "01:00", "02:00", "04:00"]
    assert set(result["monday"]) == {1}  # weekly ticks on Mondays
    console.assert_clean()


def test_zooming_relabels_the_time_axis(server: Server, page: PageAndConsole) -> None:
    tab, console = page
    tab.goto(f"{server.url}/?view=series&dataset=day_ahead_prices&area=AT&range=30d&tz=UTC")
    wait_rendered(tab)
    ticks = """() => echarts.getInstanceByDom(document.getElementById('chart-series'))
                 .getOption().xAxis[0].axisLabel.customValues"""
    month: list[float] = tab.evaluate(ticks)
    tab.evaluate(
        """() => echarts.getInstanceByDom(document.getElementById('chart-series'))
                 .dispatchAction({type: 'dataZoom', start: 50, end: 52})"""
    )
    day: list[float] = tab.evaluate(ticks)
    # A month has ticks days apart; 2 % of it (about 14 hours) has ticks hours apart.
    assert min(b - a for a, b in itertools.pairwise(month)) >= 86_400_000
    assert max(b - a for a, b in itertools.pairwise(day)) <= 3 * 3_600_000
    console.assert_clean()


def test_switching_area_updates_the_chart(
    server: Server, page: PageAndConsole, data_requests: list[str]
) -> None:
    tab, console = page
    tab.goto(f"{server.url}/?view=series&dataset=day_ahead_prices&area=AT&range=30d&tz=area")
    wait_rendered(tab)
    [before] = chart_series(tab, "chart-series")
    assert before["name"] == "AT"
    tab.evaluate(
        """() => {
             window.__gvSwitchStart = performance.now();
             const select = document.getElementById('area');
             select.value = 'BE';
             select.dispatchEvent(new Event('change'));
           }"""
    )
    wait_rendered(tab, 2)
    switch = float(tab.evaluate("() => window.__gvRendered.at - window.__gvSwitchStart"))
    assert math.isfinite(switch)
    assert switch > 0
    record_timing(
        "switch area",
        switch,
        "AT → BE in the time-series view: one month of 15-minute values fetched and drawn",
    )
    [after] = chart_series(tab, "chart-series")
    assert after["name"] == "BE"
    be_url = next(url for url in data_requests if "area=BE" in url)
    assert points(after) == api_points(be_url)["BE"]
    assert points(after) != points(before)
    assert query_of(tab)["area"] == "BE"
    screenshot(tab, "02-switched-area")
    console.assert_clean()


def test_coverage_calendar_shows_the_known_fi_gap(server: Server, page: PageAndConsole) -> None:
    tab, console = page
    # In CET (the day-ahead market's time) the missing FI prices are exactly 2016-10-06.
    tab.goto(
        f"{server.url}/?view=coverage&dataset=day_ahead_prices&area=FI"
        "&range=2016-01-01..2016-12-31&tz=Europe/Brussels"
    )
    wait_rendered(tab)
    [calendar] = chart_series(tab, "chart-coverage")
    days = {cell["value"][0]: cell["value"][1] for cell in calendar["data"]}
    assert len(days) == 366
    assert days["2016-10-06"] == 0
    assert days["2016-10-05"] == 1
    assert days["2016-10-07"] == 1
    assert sum(1 for value in days.values() if value < 1) == 1
    gap_rows = tab.locator("#gap-table tbody tr")
    assert gap_rows.count() == 1
    assert "2016-10-06 00:00" in gap_rows.first.inner_text()
    screenshot(tab, "03-coverage-gap")
    console.assert_clean()


def test_url_holds_the_view(server: Server, page: PageAndConsole) -> None:
    tab, console = page
    tab.goto(f"{server.url}/?view=prices&area=FI&range=2019-10-01..2019-10-31&tz=UTC")
    wait_rendered(tab)
    tab.select_option("#tz", "Europe/Brussels")
    wait_rendered(tab, 2)
    shared = tab.url
    assert query_of(tab) == {
        "view": "prices",
        "dataset": "day_ahead_prices",
        "area": "FI",
        "range": "2019-10-01..2019-10-31",
        "tz": "Europe/Brussels",
    }
    heatmap = chart_series(tab, "chart-price-heatmap")[0]["data"]
    # A fresh page at the shared link shows the same view.
    tab.goto(shared)
    wait_rendered(tab)
    assert tab.input_value("#area") == "FI"
    assert tab.input_value("#tz") == "Europe/Brussels"
    assert tab.input_value("#from") == "2019-10-01"
    assert tab.input_value("#to") == "2019-10-31"
    assert tab.get_attribute("#views button[data-view=prices]", "aria-current") == "page"
    assert chart_series(tab, "chart-price-heatmap")[0]["data"] == heatmap
    # 31 days × 24 local hours; 27 Oct has 25 hours, its repeated 02:00 cell shows their mean.
    assert len(heatmap) == 31 * 24
    screenshot(tab, "04-prices-heatmap")
    # Back goes to the previous view state (UTC).
    tab.go_back()
    wait_rendered(tab, 2)
    assert query_of(tab)["tz"] == "UTC"
    console.assert_clean()


def _jobs_missing(error: str) -> bool:
    # The jobs API may not exist on this server yet: its 404 is shown as "not available".
    return "404" in error and "/v1/jobs" in error


@pytest.mark.parametrize(
    ("name", "query", "chart"),
    [
        ("generation", "view=generation&area=NL&range=2024-09-02..2024-09-02", "chart-generation"),
        ("load", "view=load&area=FI&range=2019-10-20..2019-11-02", "chart-load"),
        ("flows", "view=flows&area=DE_LU&range=2024-09-02..2024-09-02", "chart-flows"),
        ("status", "view=status", None),
    ],
)
def test_views_render_their_data(
    server: Server, page: PageAndConsole, name: str, query: str, chart: str | None
) -> None:
    tab, console = page
    tab.goto(f"{server.url}/?{query}")
    wait_rendered(tab)
    if chart is not None:
        series = chart_series(tab, chart)
        assert series
        assert all(points(s) for s in series if s["name"] != "Error (actual − forecast)")
    if name == "generation":
        types = {s["name"] for s in chart_series(tab, "chart-generation")}
        assert {"Nuclear", "Gas", "Wind offshore", "Solar"} <= types
    if name == "flows":
        borders = [s["name"] for s in chart_series(tab, "chart-flows")]
        assert borders == ["DE_LU → NL", "Net DE_LU → NL"]
    if name == "status":
        rows = tab.locator("#freshness-table tbody tr")
        assert rows.count() >= 20
        assert tab.locator("#freshness-table tr[data-status=current]").count() == len(PERF_AREAS)
        jobs = tab.locator("#jobs")
        assert jobs.get_attribute("data-available") in ("true", "false")
    screenshot(tab, f"05-{name}")
    console.errors = [error for error in console.errors if not _jobs_missing(error)]
    console.assert_clean()


def test_unknown_area_in_the_link_is_explained(server: Server, page: PageAndConsole) -> None:
    tab, console = page
    tab.goto(f"{server.url}/?view=series&dataset=day_ahead_prices&area=DE_XX&range=7d")
    wait_status(tab, "error")
    message = tab.locator("#message").inner_text()
    assert "Unknown area “DE_XX”" in message
    assert "DE_LU" in message  # a suggestion
    screenshot(tab, "06-unknown-area")
    console.assert_clean()


def test_no_data_for_the_range_offers_the_stored_data(server: Server, page: PageAndConsole) -> None:
    tab, console = page
    tab.goto(f"{server.url}/?view=series&dataset=day_ahead_prices&area=FI&range=7d")
    wait_status(tab, "empty")
    message = tab.locator("#message").inner_text()
    assert "No day-ahead prices for FI between" in message
    assert "Stored: FI: 2015-01-01 to 2022-09-27" in message
    screenshot(tab, "07-no-data")
    tab.get_by_role("button", name="Show FI's latest stored month").click()
    wait_rendered(tab)
    assert query_of(tab)["range"] == "2022-08-29..2022-09-27"
    console.assert_clean()


def test_api_down_says_unreachable(server: Server, page: PageAndConsole) -> None:
    tab, _ = page
    tab.route("**/v1/**", lambda route: route.abort())
    tab.goto(f"{server.url}/")
    wait_status(tab, "error")
    assert "API unreachable" in tab.locator("#message").inner_text()
    screenshot(tab, "08-api-unreachable")
    tab.unroute("**/v1/**")
    tab.get_by_role("button", name="Retry").click()
    wait_rendered(tab)


def test_missing_chart_library_says_what_to_run(server: Server, page: PageAndConsole) -> None:
    tab, _ = page
    tab.route("**/static/vendor/**", lambda route: route.fulfill(status=404, body="not built"))
    tab.goto(f"{server.url}/")
    wait_status(tab, "error")
    message = tab.locator("#message").inner_text()
    assert "Chart library missing" in message
    assert "./dev.sh demo" in message
    assert "npm ci" in message


@pytest.fixture
def auth_server() -> Iterator[tuple[str, str]]:
    """An API with authentication on (a small sample store): its URL and a read key."""
    with Services(Settings(database_url="duckdb:///:memory:")) as services:
        seed_sample(services.store)
        with run_api(services) as api:
            yield api.url, api.read_key


def test_a_server_with_keys_asks_for_one(
    auth_server: tuple[str, str], page: PageAndConsole
) -> None:
    url, read_key = auth_server
    tab, _ = page
    tab.goto(f"{url}/")  # the page itself needs no key
    wait_status(tab, "error")
    dialog = tab.locator("#key-dialog")
    assert dialog.get_attribute("open") is not None
    assert "needs an API key" in dialog.inner_text()
    assert "API key needed" in tab.locator("#message").inner_text()
    screenshot(tab, "09-key-needed")
    tab.fill("#key-input", "gv_not_a_key")
    tab.click("#key-form button[type=submit]")
    tab.wait_for_function(
        "() => document.getElementById('key-reason').textContent.includes('refused')"
    )
    screenshot(tab, "10-key-refused")
    tab.fill("#key-input", read_key)
    tab.click("#key-form button[type=submit]")
    wait_rendered(tab)
    assert dialog.get_attribute("open") is None
    assert tab.evaluate("() => sessionStorage.getItem('gridvault.apiKey')") == read_key
    assert chart_series(tab, "chart-series")


JOBS = {
    "jobs": [
        {
            "job_id": 7,
            "plan_id": "backfill-fi-2016",
            "kind": "backfill",
            "dataset": "day_ahead_prices",
            "area": "FI",
            "area_to": None,
            "window_start": "2016-10-01T00:00:00Z",
            "window_end": "2016-11-01T00:00:00Z",
            "state": "failed",
            "attempts": 5,
            "last_error": "ENTSO-E answered 503 (retryable) for day_ahead_prices FI",
            "updated_at": "2026-01-01T10:00:00Z",
        },
        {
            "job_id": 8,
            "plan_id": "backfill-fi-2016",
            "kind": "backfill",
            "dataset": "physical_flows",
            "area": "DK_1",
            "area_to": "GB",
            "window_start": "2016-11-01T00:00:00Z",
            "window_end": "2016-12-01T00:00:00Z",
            "state": "done",
            "attempts": 1,
            "last_error": None,
            "updated_at": "2026-01-01T11:00:00Z",
        },
    ],
    "plans": [
        {
            "plan_id": "backfill-fi-2016",
            "counts": {"pending": 2, "running": 1, "done": 1, "failed": 1},
        }
    ],
}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, JOBS, "backfill-fi-2016: 1 of 5 done, 2 pending, 1 running, 1 failed"),
        (200, JOBS["jobs"], "backfill-fi-2016: 1 of 2 done, 1 failed"),
        (403, {"detail": "this needs an admin key; 'reader' has scope read"}, "Forbidden: this"),
    ],
    ids=["jobs-and-plans", "list-only", "forbidden"],
)
def test_job_list_shows_progress_and_errors(
    server: Server, page: PageAndConsole, status: int, body: Any, expected: str
) -> None:
    """The jobs API's answer (a list, or jobs with per-plan counts), or why there is none."""
    tab, _ = page
    tab.route(
        "**/v1/jobs",
        lambda route: route.fulfill(status=status, json=body),
    )
    tab.goto(f"{server.url}/?view=status")
    wait_rendered(tab)
    jobs = tab.locator("#jobs")
    assert expected in jobs.inner_text()
    if status == 200:
        rows = tab.locator("#job-table tbody tr")
        assert rows.count() == 2
        assert "failed" in rows.first.inner_text()  # failed jobs first
        assert "503 (retryable)" in rows.first.inner_text()
        assert "DK_1 → GB" in rows.nth(1).inner_text()
        screenshot(tab, f"11-jobs-{'plans' if isinstance(body, dict) else 'list'}")
