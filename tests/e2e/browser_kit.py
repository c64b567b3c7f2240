"""Helpers of the browser tests: what the Bokeh charts hold, waiting on the page
and the API, and driving the Operate tab."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

# Rows of data behind each titled Bokeh chart, and the largest value plotted
# (a chart with no data yet draws a row of zeros).
CHART_DATA_JS = """() => {
  const out = {};
  for (const doc of Bokeh.documents)
    for (const m of doc._all_models.values()) {
      if (!(m.title && m.title.text && m.renderers)) continue;
      let rows = 0, peak = 0;
      for (const r of m.renderers) {
        if (!r.data_source) continue;
        rows += r.data_source.get_length();
        for (const [col, values] of Object.entries(r.data_source.data))
          if (!["x", "time", "hour", "index", "at"].includes(col))
            for (const v of values) if (typeof v === "number" && v > peak) peak = v;
      }
      out[m.title.text] = {rows, peak};
    }
  return out;
}"""


def wait_for(what: str, probe, timeout: float = 120, every: float = 1.0, show=None):
    """``probe()`` until it is truthy; ``show()`` says what was seen last on a timeout."""
    deadline = time.time() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}"
                                 + (f"; last seen: {show()}" if show else ""))
        time.sleep(every)


def count(url: str, path: str, **params) -> int:
    n, cursor = 0, None
    while True:
        page = httpx.get(f"{url}{path}", params={**params, "limit": 1000,
                                                 **({"cursor": cursor} if cursor else {})},
                         timeout=30).json()
        n += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return n


def steady(what: str, probe, quiet_s: float = 3.0, timeout: float = 120):
    """``probe()`` once two reads ``quiet_s`` apart agree and the value is truthy."""
    def still():
        first = probe()
        time.sleep(quiet_s)
        return first if first and probe() == first else None
    return wait_for(what, still, timeout=timeout, every=0)


def settled_text(locator, quiet_s: float = 3.0, timeout: float = 30) -> str:
    """The locator's text once it has stayed the same for ``quiet_s`` (three
    refreshes). Fails at once if the locator stops matching."""
    deadline = time.time() + timeout
    text, since = locator.inner_text(timeout=5000), time.time()
    while time.time() - since < quiet_s:
        if time.time() > deadline:
            raise AssertionError(f"text kept changing; last: {text!r}")
        time.sleep(0.5)
        now = locator.inner_text(timeout=5000)
        if now != text:
            text, since = now, time.time()
    return text


def advance_event_time(url: str, days: float, key: str) -> float:
    """One PUT ``days`` after the newest event: the trace's objects have been idle
    that long when the autopilot next decides. Returns the new event time."""
    newest = httpx.get(f"{url}/metrics", timeout=10).json()["event_time"]
    ts = newest + days * 86400
    r = httpx.post(f"{url}/accesses", json=[{"ts": ts, "key": key, "op": "PUT", "size": 10}],
                   timeout=30)
    assert r.status_code == 200, r.text
    wait_for("the read model to see the new event time",
             lambda: httpx.get(f"{url}/metrics", timeout=10).json()["event_time"] >= ts)
    return ts


def choose_mode(page, url: str, mode: str) -> None:
    """Pick the autopilot mode on the Operate tab; returns once the API has it."""
    page.get_by_text("Operate", exact=True).click()
    page.locator(".autopilot-mode").get_by_role("button", name=mode).click()
    wait_for(f"{mode} mode", lambda: httpx.get(f"{url}/autopilot", timeout=10).json()["mode"] == mode)


def run_round(page, mode: str) -> None:
    page.locator(".run-round").get_by_role("button").click()
    page.wait_for_selector(f"text=decision round: mode {mode}", timeout=120_000)


def tick_top_decision(page: Page, tries: int = 3) -> str:
    """Ticks the top row of the decisions table once the table holds still, and
    returns the ticked row's text once that has held still too. Panel's table
    drops a click that lands while it draws new data, and the drawing then clears
    the box; an operator would tick again, and so does this."""
    table = page.locator(".decisions-table")
    ticked = table.locator(".tabulator-row.tabulator-selected")
    for _ in range(tries):
        settled_text(table)
        table.locator(".tabulator-row").first.locator("input[type=checkbox]").click()
        try:
            wait_for("a ticked row", lambda: ticked.count() == 1, timeout=10, every=0.5)
            return settled_text(ticked)
        except (AssertionError, PlaywrightTimeout):
            if ticked.count() > 1:
                raise
    raise AssertionError(f"no tick held in {tries} tries")


def charts(page: Page) -> dict[str, dict]:
    return page.evaluate(CHART_DATA_JS)
