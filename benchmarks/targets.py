"""Issue 17's targets, judged from one peers run: one table, every target at every set-up.

The targets: plaintext, path parameter and 404 at ≥ 0.9× the raw ASGI app; the Jinja2
page and the signed-cookie session at ≥ 1.2× Starlette; form and JSON POST at ≥ 1×
BlackSheep; and micropie first among the frameworks (raw ASGI aside) in every case. Each
is judged on the median of the per-round ratios, once by requests/s (the issue's
measure: a target is met when it is met at every set-up) and once by requests per
server CPU-second (steadier on a shared machine), shown beside it. *First* compares
micropie with each other framework round by round: it is met when the median ratio to
every one of them is at least 1; the cell names the closest one.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from . import markdown_table
from .frameworks import APPS, BASELINE, RAW, Results, spread
from .peers import CASES

#: The app whose targets these are.
MICROPIE = "micropie"


@dataclass(frozen=True)
class Target:
    """micropie at ≥ ``factor`` × ``against`` in ``case`` (``against=None``: first)."""

    case: str
    against: str | None
    factor: float = 1.0

    @property
    def text(self) -> str:
        if self.against is None:
            return "first after raw ASGI"
        return f"≥ {self.factor:.2f}× {APPS[self.against][1]}"


TARGETS: tuple[Target, ...] = (
    *(Target(case, RAW, 0.9) for case in ("plaintext", "path param", "404")),
    Target("Jinja2 page", BASELINE, 1.2),
    Target("session r/w", BASELINE, 1.2),
    Target("JSON POST echo", "blacksheep"),
    Target("form POST", "blacksheep"),
    *(Target(case.name, None) for case in CASES),
)


@dataclass(frozen=True)
class Verdict:
    """A target judged on one set-up by one measure."""

    met: bool
    text: str  # the figure: "0.93 (0.90–0.97)", or "2 of 5 (0.93× Muffin)" for a rank

    def cell(self) -> str:
        return f"{self.text} {'met' if self.met else 'MISSED'}"


def judge(target: Target, results: Results, by_cpu: bool = False) -> Verdict | None:
    """``target`` on ``results`` (``None`` when the run lacks the case or the apps)."""
    if target.case not in {case.name for case in results.cases}:
        return None
    ratios = results.cpu_ratios if by_cpu else results.ratios
    if target.against is None:
        return _first(target.case, results, by_cpu)
    if target.against not in results.apps:
        return None
    values = ratios(target.case, MICROPIE, target.against)
    if not values:
        return None
    return Verdict(statistics.median(values) >= target.factor, spread(values))


def _first(case: str, results: Results, by_cpu: bool) -> Verdict | None:
    """micropie against each other framework, round by round: first when the median of
    its per-round ratios to every one of them is at least 1."""
    ratios = results.cpu_ratios if by_cpu else results.ratios
    versus = {}
    for other in results.apps:
        values = ratios(case, MICROPIE, other) if other not in (MICROPIE, RAW) else []
        if values:
            versus[other] = statistics.median(values)
    if not versus or MICROPIE not in results.apps:
        return None
    closest = min(versus, key=lambda other: versus[other])
    rank = 1 + sum(1 for ratio in versus.values() if ratio < 1)
    text = f"{rank} of {len(versus) + 1} ({versus[closest]:.2f}× {APPS[closest][1]})"
    return Verdict(versus[closest] >= 1, text)


@dataclass(frozen=True)
class Summary:
    """Every target on every set-up run."""

    runs: Sequence[Results]

    def verdicts(self, target: Target) -> list[tuple[Verdict | None, Verdict | None]]:
        """Per set-up: the verdict by req/s and by requests per server CPU-second."""
        return [(judge(target, run), judge(target, run, by_cpu=True)) for run in self.runs]

    def missed_at(self, target: Target) -> list[str] | None:
        """The set-ups where ``target`` is missed by req/s (``None``: never judged)."""
        judged = [
            (run.setup.name, by_rate)
            for run, (by_rate, _) in zip(self.runs, self.verdicts(target), strict=True)
            if by_rate is not None
        ]
        if not judged:
            return None
        return [name for name, verdict in judged if not verdict.met]

    def judged(self) -> list[Target]:
        return [target for target in TARGETS if self.missed_at(target) is not None]

    def met(self) -> bool:
        """Whether every target judged is met by req/s at every set-up."""
        return all(not self.missed_at(target) for target in self.judged())

    def table(self) -> str:
        columns = ["target", "case"]
        for run in self.runs:
            columns += [f">{run.setup.name} req/s", f">{run.setup.name} per CPU-s"]
        columns.append("met?")
        rows = []
        for target in self.judged():
            cells = [target.text, target.case]
            for by_rate, by_cpu in self.verdicts(target):
                cells += [v.cell() if v else "–" for v in (by_rate, by_cpu)]
            missed = self.missed_at(target)
            cells.append("missed at " + ", ".join(missed) if missed else "met")
            rows.append(cells)
        return markdown_table(columns, rows)

    def report(self) -> str:
        judged = self.judged()
        met = sum(1 for target in judged if not self.missed_at(target))
        return (
            "### Issue 17's targets\n\n"
            "Each figure is micropie's ratio to the app named, median (min–max) of the "
            "rounds; for *first after raw ASGI*, micropie's rank among the frameworks (by "
            "its median ratio to each, round by round) and its median ratio to the closest "
            "one. A target is met when the req/s figure reaches it at every set-up.\n\n"
            f"{self.table()}\n\n{met} of {len(judged)} targets met."
        )
