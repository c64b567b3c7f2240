"""Helpers of the browser tests: what the Bokeh charts hold, waiting on the page
and the API, and driving the Operate tab."""

from __future__ import annotations

import time

from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.support.launched import http

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
        page = http.get(f"{url}{path}", params={**params, "limit": 1000,
                                                 **({"cursor": cursor} if cursor else {})},
                         timeout=30).json()
        n += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return n


def steady(what: str, probe, quiet_s: float = 3.0, timeout: float = 120, every: float = 0.5):
    """``probe()``'s value once it is truthy and has stayed the same for ``quiet_s``."""
    deadline = time.time() + timeout
    value, since = probe(), time.time()
    while not value or time.time() - since < quiet_s:
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last seen: {value!r}")
        time.sleep(every)
        now = probe()
        if now != value:
            value, since = now, time.time()
    return value


def settled_text(locator, quiet_s: float = 3.0, timeout: float = 30) -> str:
    """The locator's text once it has stayed the same for ``quiet_s`` (three
    refreshes). Fails within 5 s if the locator stops matching."""
    return steady("the text to hold still", lambda: locator.inner_text(timeout=5000),
                  quiet_s=quiet_s, timeout=timeout)


def advance_event_time(url: str, days: float, key: str) -> float:
    """One PUT ``days`` after the newest event: the trace's objects have been idle
    that long when the autopilot next decides. Returns the new event time."""
    newest = http.get(f"{url}/metrics", timeout=10).json()["event_time"]
    ts = newest + days * 86400
    r = http.post(f"{url}/accesses", json=[{"ts": ts, "key": key, "op": "PUT", "size": 10}],
                   timeout=30)
    assert r.status_code == 200, r.text
    wait_for("the read model to see the new event time",
             lambda: http.get(f"{url}/metrics", timeout=10).json()["event_time"] >= ts)
    return ts


def choose_mode(page, url: str, mode: str) -> None:
    """Pick the autopilot mode on the Operate tab; returns once the API has it."""
    page.get_by_text("Operate", exact=True).click()
    page.locator(".autopilot-mode").get_by_role("button", name=mode).click()
    wait_for(f"{mode} mode", lambda: http.get(f"{url}/autopilot", timeout=10).json()["mode"] == mode)


def run_round(page, mode: str) -> None:
    page.locator(".run-round").get_by_role("button").click()
    page.wait_for_selector(f"text=decision round: mode {mode}", timeout=120_000)


def tick_top_decision(page: Page, tries: int = 3) -> str:
    """Ticks the top row of the decisions table once the table holds still, and
    returns the ticked row's text once that has held still too. Panel's table
    drops a click that lands while it draws new data, and the drawing then clears
    the box; an operator would tick again, and so does this."""
    rows = page.locator(".decisions-table .tabulator-row")
    ticked = page.locator(".decisions-table .tabulator-row.tabulator-selected")
    for _ in range(tries):
        # The rows' texts: the table's own element has none (its rows are drawn
        # in a shadow root).
        steady("the decisions table to hold still", lambda: "\n".join(rows.all_inner_texts()),
               timeout=30)
        rows.first.locator("input[type=checkbox]").click()
        try:
            wait_for("a ticked row", lambda: ticked.count() == 1, timeout=10, every=0.5)
            return settled_text(ticked)
        except (AssertionError, PlaywrightTimeout):
            if ticked.count() > 1:
                raise
    raise AssertionError(f"no tick held in {tries} tries")


def charts(page: Page) -> dict[str, dict]:
    return page.evaluate(CHART_DATA_JS)
