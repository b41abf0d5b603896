"""The README's quickstart and the tutorial run as written.

Code blocks are read from the Markdown. A block titled ``app.py`` (```` ```python
title="app.py" ````) is the whole file at that point of the tutorial; blocks titled
``test_app.py`` are what the reader adds to their test file. Each tutorial part is run on
its own, in a fresh directory, with ``pytest`` as the reader runs it: its last ``app.py``
and the tests of every part so far (a later part must not break an earlier part's test).
Untitled blocks are checked too: top-level ones run against that part's app, indented
ones (methods to add to a class) must compile.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ROOT, free_port, start_server

TUTORIAL = ROOT / "docs" / "tutorial"
PARTS = ("first-app.md", "sessions.md", "websockets.md")
_BLOCK = re.compile(r'^```python(?: title="([^"]+)")?\n(.*?)^```$', re.M | re.S)


@dataclass(frozen=True)
class Block:
    title: str | None
    code: str


def python_blocks(path: Path) -> list[Block]:
    """The ```` ```python ```` blocks of a Markdown file, in order."""
    return [Block(title, code) for title, code in _BLOCK.findall(path.read_text())]


def titled(blocks: list[Block], title: str) -> list[str]:
    return [block.code for block in blocks if block.title == title]


def run_pytest(directory: Path) -> subprocess.CompletedProcess[str]:
    """``pytest`` in ``directory``, as the reader runs it (warnings are errors here)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
    )


def load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("part", range(len(PARTS)), ids=PARTS)
def test_tutorial_part_runs_as_written(part: int, tmp_path: Path) -> None:
    blocks = python_blocks(TUTORIAL / PARTS[part])
    listings = titled(blocks, "app.py")
    assert listings, f"{PARTS[part]} shows no whole app.py"
    (tmp_path / "app.py").write_text(listings[-1])
    tests = [
        code
        for name in PARTS[: part + 1]
        for code in titled(python_blocks(TUTORIAL / name), "test_app.py")
    ]
    (tmp_path / "test_app.py").write_text("\n\n".join(tests))

    result = run_pytest(tmp_path)
    expected = sum(code.count("\ndef test_") + code.startswith("def test_") for code in tests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{expected} passed" in result.stdout

    app_module = load_module(tmp_path / "app.py", f"tutorial_part_{part + 1}")
    for block in blocks:
        if block.title is not None:
            continue
        if block.code.startswith(" "):
            compile(textwrap.dedent(block.code), PARTS[part], "exec")
        else:
            exec(block.code, dict(vars(app_module)))


# -- README -------------------------------------------------------------------------------


@pytest.fixture
def readme_app(tmp_path: Path) -> Path:
    """The README's quickstart saved as ``app.py``, as it says."""
    text = (ROOT / "README.md").read_text()
    assert "save this as `app.py`" in text
    quickstart, _ = (block.code for block in python_blocks(ROOT / "README.md"))
    (tmp_path / "app.py").write_text(quickstart)
    return tmp_path


def test_readme_test_snippet_passes(readme_app: Path) -> None:
    _, snippet = (block.code for block in python_blocks(ROOT / "README.md"))
    assert "save this as `test_app.py` and run `pytest`" in (ROOT / "README.md").read_text()
    (readme_app / "test_app.py").write_text(snippet)
    result = run_pytest(readme_app)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.mark.server
def test_readme_quickstart_serves_with_python_app_py(readme_app: Path) -> None:
    port = free_port()
    server = start_server([sys.executable, "app.py"], port, env={"PORT": str(port)}, cwd=readme_app)
    try:
        assert httpx.get(server.url + "/greet/Ada").text == "Hello, Ada! "
        assert httpx.get(server.url + "/greet", params={"name": "Ada", "times": 2}).text == (
            "Hello, Ada! Hello, Ada! "
        )
        assert httpx.get(server.url + "/add/2/3").json() == {"sum": 5}
        with httpx.Client(base_url=server.url) as client:
            assert [client.post("/visits").text for _ in range(2)] == ["Visit 1", "Visit 2"]
    finally:
        server.stop()
