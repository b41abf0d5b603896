"""micropie benchmarks against bare Starlette: ``python -m benchmarks`` (``make bench``).

:mod:`benchmarks.dispatch` calls both ASGI apps in process, :mod:`benchmarks.scaling`
grows the number of handlers, :mod:`benchmarks.server` loads uvicorn with ``wrk``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; a column whose name starts with ``>`` is right-aligned."""
    names = [column.lstrip(">") for column in columns]
    rules = ["---:" if column.startswith(">") else "---" for column in columns]
    lines = [names, rules, *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)
