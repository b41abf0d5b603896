"""Docs pages whose code runs as written: their ``python`` blocks, in order, as one script.

Each page runs in its own Python process (in an empty directory), so what a snippet
sets up globally (an SDK, a metrics registry) stays there. A ``text`` block right after
a ``python`` block is that block's expected output.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = [
    "guides/url-building.md",
    "guides/monitoring.md",
    "guides/typed.md",
    "guides/scaling-out.md",
]
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_MARK = "=====snippet {}====="


def _blocks(page: str) -> list[tuple[str, str]]:
    return [(match[1], match[2]) for match in _BLOCK.finditer((DOCS / page).read_text())]


def _script(blocks: list[tuple[str, str]]) -> str:
    parts = []
    for number, (language, code) in enumerate(blocks):
        if language == "python":
            parts.append(f"print({_MARK.format(number)!r}, flush=True)\n{code}")
    return "\n".join(parts)


def _expected_outputs(blocks: list[tuple[str, str]]) -> dict[int, str]:
    return {
        number - 1: code.strip()
        for number, (language, code) in enumerate(blocks)
        if language == "text" and number > 0 and blocks[number - 1][0] == "python"
    }


@pytest.mark.parametrize("page", PAGES)
def test_page_code_runs_and_prints_what_the_page_shows(page, tmp_path):
    blocks = _blocks(page)
    assert any(language == "python" for language, _ in blocks)
    script = tmp_path / "snippets.py"
    script.write_text(_script(blocks))
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(DOCS.parent)},
    )
    assert result.returncode == 0, result.stderr
    outputs = dict(
        (int(number), text.strip())
        for number, text in re.findall(
            r"=====snippet (\d+)=====\n(.*?)(?======|\Z)", result.stdout, re.DOTALL
        )
    )
    for number, expected in _expected_outputs(blocks).items():
        assert outputs[number] == expected, f"{page}: output of block {number}"
