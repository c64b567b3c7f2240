"""Which object ids have no log yet, asked of the store in one query per chunk.

Most objects in a fresh workload are new; asking the repository about each
costs two queries (snapshot and events) per object. One IN-list query per
chunk answers the same question for the whole batch.
"""

from __future__ import annotations

from typing import Callable, Iterable
from uuid import UUID

CHUNK = 500


def existence_probe(recorder) -> Callable[[Iterable[UUID]], set[UUID]] | None:
    """Returns a function giving the ids with no stored events, or None when
    the recorder is of a kind we do not know (then every id is looked up)."""
    module = type(recorder).__module__
    table = getattr(recorder, "events_table_name", None)
    if table is None:
        return None
    if module.endswith(".sqlite"):
        def select(cursor, chunk: list[UUID]) -> set[str]:
            marks = ",".join("?" * len(chunk))
            cursor.execute(f"SELECT DISTINCT originator_id FROM {table} WHERE originator_id IN ({marks})",
                           [u.hex for u in chunk])
            return {UUID(str(row[0])).hex for row in cursor.fetchall()}
    elif module.endswith(".postgres"):
        def select(cursor, chunk: list[UUID]) -> set[str]:
            cursor.execute(f"SELECT DISTINCT originator_id FROM {table} WHERE originator_id = ANY(%s)",
                           (chunk,))
            return {UUID(str(row["originator_id"])).hex for row in cursor.fetchall()}
    else:
        return None

    def absent(ids: Iterable[UUID]) -> set[UUID]:
        ids = list(ids)
        present: set[str] = set()
        with recorder.datastore.transaction(commit=False) as cursor:
            for i in range(0, len(ids), CHUNK):
                present |= select(cursor, ids[i:i + CHUNK])
        return {u for u in ids if u.hex not in present}

    return absent
