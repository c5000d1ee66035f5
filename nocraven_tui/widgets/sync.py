"""Update widgets only where something changed: an idle console should cost nothing to redraw.

A DataTable rebuilt with clear()/add_row() re-lays out the whole screen; a Static updated with
the same text re-renders for nothing. These helpers touch only what differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.widgets import DataTable, Static

Row = tuple[str, Sequence[Any], int]  # key, cells, height


def show(static: Static, content: str, *, layout: bool = False) -> None:
    """Set a Static's markup if it changed; `layout=True` only where its size may change."""
    if static.content != content:
        static.update(content, layout=layout)


def selected_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the table's cursor; None when the table is empty."""
    if not table.row_count:
        return None
    row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
    return str(row_key.value) if row_key.value is not None else None


class TableSync:
    """Keeps a DataTable showing given rows: cell updates when the same rows are there, else a rebuild."""

    def __init__(self, table: DataTable[Any]) -> None:
        self.table = table
        self._shape: list[tuple[str, int]] | None = None
        self._cells: dict[str, tuple[Any, ...]] = {}

    def show(self, rows: list[Row]) -> None:
        table = self.table
        shape = [(key, height) for key, _, height in rows]
        if shape == self._shape:
            columns = list(table.columns)
            for key, cells, _ in rows:
                old = self._cells.get(key, ())
                for index, value in enumerate(cells):
                    if index >= len(old) or old[index] != value:
                        table.update_cell(key, columns[index], value, update_width=True)
        else:
            cursor = table.cursor_row
            table.clear()
            for key, cells, height in rows:
                table.add_row(*cells, key=key, height=height)
            if table.row_count:
                table.move_cursor(row=min(cursor, table.row_count - 1), animate=False)
        self._shape = shape
        self._cells = {key: tuple(cells) for key, cells, _ in rows}
