"""Dashboard tables follow the store's frames; the decisions table holds still
while the operator has rows ticked (web/dashboard/controls.py)."""

from __future__ import annotations

import pandas as pd
import param

from tiering.web.dashboard.controls import _table


class FakeStore(param.Parameterized):
    decisions = param.DataFrame(default=pd.DataFrame({"decision_id": [], "status": []}))


def frame(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["decision_id", "status"])


def test_a_selection_follows_its_row_when_newer_rows_arrive():
    store = FakeStore(decisions=frame(("b", "pending"), ("a", "pending")))
    table = _table(store, "decisions", ("decision_id",), selectable="checkbox")
    table.selection = [1]  # "a"
    store.decisions = frame(("c", "pending"), ("b", "pending"), ("a", "pending"))
    assert list(table.value["decision_id"]) == ["c", "b", "a"]
    assert table.selection == [2]


def test_a_held_table_stands_still_while_ticked_then_shows_the_newest_rows():
    store = FakeStore(decisions=frame(("b", "pending"), ("a", "pending")))
    table = _table(store, "decisions", ("decision_id",), hold_while_selected=True,
                   selectable="checkbox")
    table.selection = [0]  # "b", as the operator saw it
    store.decisions = frame(("c", "pending"), ("b", "pending"), ("a", "pending"))
    store.decisions = frame(("d", "pending"), ("c", "pending"), ("b", "approved"), ("a", "pending"))
    assert list(table.value["decision_id"]) == ["b", "a"] and table.selection == [0]
    table.selection = []
    assert list(table.value["decision_id"]) == ["d", "c", "b", "a"]
    assert table.value.iloc[2]["status"] == "approved"


def test_an_unheld_table_updates_even_with_a_selection():
    store = FakeStore(decisions=frame(("a", "pending"),))
    table = _table(store, "decisions", selectable=1)
    table.selection = [0]
    store.decisions = frame(("b", "pending"), ("a", "pending"))
    assert list(table.value["decision_id"]) == ["b", "a"] and table.selection == []
