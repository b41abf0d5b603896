"""The results section of ``docs/benchmarks.md``, written by a run (``--record PATH``).

The section is exactly what ``python -m benchmarks`` printed after its title: the command,
the commit and the machine, then every section's tables (for the peers, each set-up's
tables and the table of issue 17's targets). It goes between two marker comments in the
file, replacing what was there.
"""

from __future__ import annotations

import datetime
import io
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import TextIO

from .server import ROOT

BEGIN = "<!-- results: begin (written by python -m benchmarks --record docs/benchmarks.md) -->"
END = "<!-- results: end -->"


class _Tee(io.StringIO):
    """Keeps what is written, and passes it on to ``stream``."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        if self.stream is not None:
            self.stream.write(text)
        return super().write(text)

    def flush(self) -> None:
        if self.stream is not None:
            self.stream.flush()


@contextmanager
def capture() -> Iterator[io.StringIO]:
    """Print as usual, and keep a copy of everything printed meanwhile."""
    tee = _Tee(sys.stdout)
    with redirect_stdout(tee):
        yield tee


def provenance(argv: Sequence[str], machine: str) -> str:
    """Which command, commit, day and machine the figures come from."""
    command = " ".join(["python -m benchmarks", *argv])
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"`{command}` at commit `{_commit()}`, {today}.\n\n{machine}."


def _commit() -> str:
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode:
        return "unknown"
    dirty = git("diff", "--quiet", "HEAD").returncode != 0
    return head.stdout.strip() + (" with uncommitted changes" if dirty else "")


def splice(document: str, section: str) -> str:
    """``document`` with ``section`` between the markers (which must be there, once)."""
    if document.count(BEGIN) != 1 or document.count(END) != 1:
        raise ValueError(f"the document needs the two marker lines, once each:\n{BEGIN}\n{END}")
    head, _, rest = document.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n\n{section.strip()}\n\n{END}{tail}"


def check(path: Path) -> str | None:
    """Why ``section`` could not be written into ``path`` (``None``: it can)."""
    try:
        splice(path.read_text(), "")
    except (OSError, ValueError) as error:
        return str(error)
    return None


def write(path: Path, section: str) -> None:
    """Put ``section`` between the markers of the file at ``path``."""
    path.write_text(splice(path.read_text(), section))
