"""The dashboard in a real browser: Debian's Chromium, headless, driven
by Playwright against `tiering launch` run as a subprocess after a replay of
the IBM COS trace.

Chromium must be at /usr/bin/chromium (`make test` installs it); a missing
browser fails these tests, it never skips them. TIERING_SCREENSHOT=path
also saves a full-page screenshot once the charts have data (docs/dashboard.png
is made that way).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from tests.e2e.test_launch_replay import IBM
from tests.support.browser import (
    advance_event_time,
    charts,
    choose_mode,
    count,
    run_round,
    steady,
    tick_top_decision,
    wait_for,
)
from tests.support.launched import BIN, free_port, http, use_admin_key

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
SLICE = "ibm-slice.txt"
TIME_SCALE = 720  # one trace hour = 30 days of event time, so the autopilot decides and moves


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dashboard")
    (tmp / "var" / "traces").mkdir(parents=True)
    shutil.copy(IBM, tmp / "var" / "traces" / IBM.name)
    # A short slice for the what-if, so that evaluating every policy is quick.
    (tmp / "var" / "traces" / SLICE).write_text("".join(IBM.open().readlines()[:2001]))
    api_port = free_port()
    dash_port = free_port(api_port)
    env = {**os.environ, "TIERING_DATA_DIR": str(tmp / "var"), "TIERING_API_PORT": str(api_port),
           "TIERING_DASHBOARD_PORT": str(dash_port), "TIERING_DASHBOARD_REFRESH_S": "1",
           "TIERING_SHARDS": "2", "TIERING_SNAPSHOT_INTERVAL_S": "1", "RAY_AUTH_MODE": "token",
           "TIERING_RAY_ADDRESS": "local"}
    log_path = tmp / "launch.log"
    proc = subprocess.Popen([str(BIN / "tiering"), "launch"], env=env, stdout=log_path.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp)
    url, dash = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dash_port}/"

    def up():
        if proc.poll() is not None:
            raise AssertionError(f"launch exited:\n{log_path.read_text()[-4000:]}")
        try:
            return use_admin_key(tmp / "var") and http.get(f"{url}/health", timeout=5).status_code == 200 \
                and http.get(f"{dash}login", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for("the stack and its dashboard", up, timeout=180)
        replay = subprocess.run(
            [str(BIN / "tiering"), "replay-trace", str(IBM), "--format", "ibm-cos", "--materialize",
             "--time-scale", str(TIME_SCALE)], env={**env, "TIERING_API_URL": url},
            capture_output=True, text=True, timeout=900, cwd=tmp)
        assert replay.returncode == 0, replay.stderr[-3000:]
        wait_for("the read models to hold the trace",
                 lambda: http.get(f"{url}/metrics", timeout=10).json()["objects_total"] == 1509)
        # In auto mode the next round (on event time) moves the idle objects.
        advance_event_time(url, 60, "e2e-clock-1")
        wait_for("the autopilot's moves", lambda: http.get(
            f"{url}/insights/moves-per-hour", timeout=10).json()["items"], timeout=180)
        yield url, dash, env, tmp
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)  # fails if it is missing
        yield b
        b.close()


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(viewport={"width": 1500, "height": 1800})
    pg = context.new_page()
    pg.problems = []
    pg.on("console", lambda m: m.type == "error" and pg.problems.append(f"console: {m.text}"))
    pg.on("pageerror", lambda e: pg.problems.append(f"pageerror: {e}"))
    sign_in(pg, stack[1], (stack[3] / "var" / "admin.key").read_text().strip())
    pg.wait_for_selector(".card >> text=objects", timeout=60_000)
    yield pg
    context.close()


def sign_in(pg: Page, dash: str, key: str) -> None:
    pg.goto(dash)
    pg.wait_for_url("**/login**", timeout=30_000)  # no session: the login page, nothing else
    pg.fill("input[name=key]", key)
    pg.click("button[type=submit]")


def test_the_dashboard_needs_a_key_and_a_viewer_gets_no_controls(browser, stack):
    url, dash, env, tmp = stack
    context = browser.new_context()
    pg = context.new_page()
    sign_in(pg, dash, "tk_000000000000_not-a-key")
    pg.wait_for_url("**/login?error=1", timeout=30_000)
    assert "objects" not in pg.content()
    made = subprocess.run([str(BIN / "tiering"), "keys", "create", "--name", "watcher", "--tenant", "default",
                           "--role", "viewer"], env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    sign_in(pg, dash, made.stdout.split()[-1])
    pg.wait_for_selector(".card >> text=objects", timeout=60_000)
    assert pg.get_by_text("watcher#").count() == 1
    assert pg.get_by_text("Operate", exact=True).count() == 0  # a viewer steers nothing
    cookie = next(c for c in context.cookies() if c["name"] == "tiering_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    pg.goto(dash.rstrip("/") + "/logout")
    pg.wait_for_url("**/login**", timeout=30_000)
    pg.goto(dash)
    pg.wait_for_url("**/login**", timeout=30_000)  # signed out: the session is gone
    context.close()


def test_the_page_loads_without_console_errors(page):
    page.get_by_text("Operate", exact=True).click()
    page.wait_for_selector("text=Recent decisions", timeout=30_000)
    page.get_by_text("Estate", exact=True).click()
    page.wait_for_timeout(3000)  # a few refreshes
    assert page.problems == []


def test_charts_render_with_the_replayed_data(page, stack):
    url = stack[0]
    titles = ("Tier distribution (objects)", "Tier distribution (bytes)", "Monthly cost over time",
              "Moves per hour by outcome")
    drawn = wait_for("every chart to have data", lambda: (lambda c: c if all(
        c.get(t, {}).get("peak", 0) > 0 for t in titles) else None)(charts(page)),
        timeout=120, show=lambda: charts(page))
    assert drawn["Monthly cost over time"]["rows"] >= 4  # two lines, two snapshots or more

    def busiest_hour() -> int:
        per_hour: dict[float, int] = {}
        for r in http.get(f"{url}/insights/moves-per-hour", timeout=10).json()["items"]:
            per_hour[r["hour"]] = per_hour.get(r["hour"], 0) + r["moves"]
        return max(per_hour.values())

    # Stacked bars: the top of each hour's stack is that hour's total. Moves may
    # still be landing, so the chart is given a refresh or two to catch up.
    wait_for("the moves chart to match the API", lambda: charts(page)[
        "Moves per hour by outcome"]["peak"] == busiest_hour() > 0, timeout=30,
        show=lambda: (charts(page)["Moves per hour by outcome"], busiest_hour()))
    assert drawn["Tier distribution (objects)"]["peak"] >= 1509
    metrics = http.get(f"{url}/metrics", timeout=10).json()
    card = page.locator('.card[data-figure="objects"] .value')
    wait_for("the objects figure", lambda: card.inner_text() == f"{metrics['objects_total']:,}",
             timeout=30, show=lambda: (card.inner_text(), page.locator(".notices p").all_inner_texts()))
    top = http.get(f"{url}/insights/top-objects", params={"limit": 20}, timeout=10).json()
    first = top["items"][0]["key"]
    cells = page.locator(".tabulator-cell", has_text=first)
    # Says what the tables and the API held if it times out (seen once locally, never in CI).
    wait_for(f"the top-objects table to list {first}", cells.count, timeout=30, show=lambda: (
        [t[:80] for t in page.locator(".tabulator-row").all_inner_texts()[:8]],
        [i["key"] for i in http.get(f"{url}/insights/top-objects", params={"limit": 20},
                                     timeout=10).json()["items"][:5]]))
    cells.first.click()  # drill down
    # Its timeline chart (titles are drawn on the canvas, so asked of Bokeh).
    events = wait_for("the drill-down chart", lambda: charts(page).get(
        f"History of default/{first}"), timeout=30)
    history = http.get(f"{url}/objects/{first}/history", timeout=10).json()["events"]
    assert events["rows"] == len(history) >= 2
    if os.environ.get("TIERING_SCREENSHOT"):
        screenshot(page, stack, os.environ["TIERING_SCREENSHOT"])
    assert page.problems == []


def screenshot(page: Page, stack, path: str) -> None:
    """The trace once more, a day after the newest event, so that the top
    objects are the trace's; then the whole page."""
    url, _, env, tmp = stack
    base = http.get(f"{url}/metrics", timeout=10).json()["event_time"] + 86400
    replay = subprocess.run(
        [str(BIN / "tiering"), "replay-trace", str(IBM), "--format", "ibm-cos", "--materialize",
         "--time-scale", str(TIME_SCALE), "--base-time", str(base)],
        env={**env, "TIERING_API_URL": url}, capture_output=True, text=True, timeout=900, cwd=tmp)
    assert replay.returncode == 0, replay.stderr[-3000:]
    wait_for("a full top-objects table", lambda: len(http.get(
        f"{url}/insights/top-objects", timeout=10).json()["items"]) == 20, timeout=60)
    page.wait_for_timeout(20_000)  # the cache's refresh, then the page's
    first = http.get(f"{url}/insights/top-objects", timeout=10).json()["items"][0]["key"]
    page.locator(".tabulator-cell", has_text=first).first.click()
    wait_for("the drill-down chart", lambda: charts(page).get(f"History of default/{first}"))
    page.wait_for_timeout(2000)
    page.screenshot(path=path, full_page=True)


def test_pause_records_decisions_but_moves_nothing(page, stack):
    url = stack[0]
    choose_mode(page, url, "paused")
    # Moves decided before the pause may still be landing: start from a still count.
    moves = steady("moves to settle", lambda: count(url, "/movements"), timeout=120, every=1)
    dry = count(url, "/decisions", status="dry")
    # 90 more idle days: warm objects are due for cold, hot ones for warm.
    advance_event_time(url, 90, "e2e-clock-2")
    run_round(page, "paused")
    grown = wait_for("dry decisions", lambda: (lambda n: n if n > dry else None)(
        count(url, "/decisions", status="dry")), timeout=60)
    page.wait_for_selector(".tabulator-cell >> text=dry", timeout=30_000)
    time.sleep(5)  # time enough for any move a decision might have started
    assert count(url, "/movements") == moves
    assert grown > dry and page.problems == []


def test_approval_holds_decisions_until_an_operator_approves_one(page, stack):
    # Before the retrain test: these decisions come from the rule fallback, so
    # they do not depend on what a trained model would say.
    url = stack[0]
    choose_mode(page, url, "approval")
    advance_event_time(url, 120, "e2e-clock-3")
    run_round(page, "approval")
    # A round's decisions land over a few seconds; each lands as a redraw of the
    # table, so tick once they have all landed. Newest first: the top row is then
    # one of them.
    steady("pending decisions to stop landing",
           lambda: count(url, "/decisions", status="pending"), timeout=120, every=1)
    top = page.locator(".decisions-table .tabulator-row").first
    wait_for("a pending decision on top", lambda: "pending" in top.inner_text(), timeout=30)
    # The notice then names the decision the server approved, which must be the
    # one the browser shows ticked (selections are row positions).
    ticked = tick_top_decision(page)
    assert "pending" in ticked, ticked
    decision_id = re.search(r"[0-9a-f]{32}", ticked).group(0)
    page.get_by_role("button", name="Approve selected").click()
    notices = lambda: " ".join(page.locator(".notices p").all_inner_texts())  # noqa: E731
    answered = wait_for("the approval notice", lambda: re.search(
        r"approve ([0-9a-f]{32})(: done| failed.*)", notices()), timeout=60, show=notices)
    assert answered.group(1, 2) == (decision_id, ": done"), answered.group(0)
    wait_for("the approval", lambda: http.get(
        f"{url}/decisions/{decision_id}", timeout=10).json()["status"] == "approved", timeout=60)
    # The approved decision becomes a move (its id is the decision's).
    wait_for("the approved move", lambda: http.get(
        f"{url}/movements/{decision_id}", timeout=10).status_code == 200, timeout=60)
    assert page.problems == []


def test_retrain_shows_a_new_model_version(page, stack):
    url = stack[0]
    before = http.get(f"{url}/ml/model", timeout=10)
    old = before.json()["version"] if before.status_code == 200 else None
    page.get_by_text("Operate", exact=True).click()
    page.locator(".retrain-trace select").select_option(IBM.name)
    page.locator(".retrain").get_by_role("button").click()
    page.wait_for_selector(".jobs >> text=succeeded", timeout=300_000)
    model = http.get(f"{url}/ml/model", timeout=10).json()
    assert model["version"] != old and model["training_range"]["trace"].endswith(IBM.name)
    page.get_by_text("Estate", exact=True).click()
    page.wait_for_selector(f".model-status >> text={model['version']}", timeout=30_000)
    importances = wait_for("the importances chart", lambda: (lambda c: c if c["peak"] > 0 else None)(
        charts(page)["Feature importances"]), timeout=30)
    assert importances["rows"] == len(model["feature_importances"])
    assert page.problems == []


def test_whatif_runs_on_a_trace_of_the_data_dir_and_shows_its_table(page, stack):
    url = stack[0]
    page.get_by_text("Operate", exact=True).click()
    page.locator(".run-whatif-trace select").select_option(SLICE)
    page.locator(".run-whatif").get_by_role("button").click()
    page.wait_for_selector(".jobs >> text=whatif", timeout=30_000)
    # The jobs table names the job; its progress comes from GET /ml/jobs/{id}.
    job_id = wait_for("the what-if job", lambda: (lambda m: m and m.group(1))(re.search(
        r"([0-9a-f]{32})\s+whatif", page.locator(".jobs table").inner_text())), timeout=30)
    job = wait_for("the what-if to finish", lambda: (lambda j: j if j["status"] in (
        "succeeded", "failed") else None)(http.get(f"{url}/ml/jobs/{job_id}", timeout=10).json()),
        timeout=300, every=2)
    assert job["status"] == "succeeded", job
    policies = job["result"]["policies"]
    assert {"always-hot", "oracle"} <= set(policies)
    cheapest = min(policies, key=lambda name: policies[name]["total_usd"])
    # The table lists every policy, cheapest first.
    rows = page.locator(".whatif-table .tabulator-row")
    wait_for("the what-if table", lambda: rows.count() == len(policies), timeout=30)
    assert rows.first.inner_text().split()[0] == cheapest
    shown = {rows.nth(i).inner_text().split()[0] for i in range(rows.count())}
    assert shown == set(policies) and page.problems == []
