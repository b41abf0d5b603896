"""Docs pages whose code runs as written: their ``python`` blocks, in order, as one script.

Every page of the site (``mkdocs.yml`` nav) with Python code is run, except the
tutorial (run part by part, as the reader builds it, by tests/test_docs_snippets.py)
and the few in :data:`COMPILE_ONLY`, whose blocks are code for the reader's own project
(tests of their app) or a before/after comparison: of those, only the micropie side
runs, the blocks whose first line is :data:`AFTER_MARK`. Each page runs in its own
Python process, in an empty directory, not as ``__main__`` (an ``if __name__ ==
"__main__": app.run()`` block would start a server), so what a snippet sets up globally
stays there. A ``text``
block right after a ``python`` block is that block's expected output.

An *excerpt* — an indented block (lines to add inside a class or handler shown above)
or one with a top-level ``await`` (lines of a handler body) — cannot run on its own;
it must compile. The reader's environment has the secrets a page reads from it
(:data:`ENVIRONMENT`) when the page shows how to set them (``export NAME=...``), the
directories they say their app has (:data:`DIRECTORIES`), and only the extras the README
installs plus those the page's own ``pip install`` lines name: the modules of any other
extra (:data:`EXTRA_MODULES`) cannot be imported.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: Pages whose code belongs to the reader's own project, or compares before and after.
COMPILE_ONLY = {"guides/testing.md", "migrating.md"}
#: The first line of a block that runs in a page of :data:`COMPILE_ONLY`: the micropie
#: side of a before/after comparison (the other side is Flask's, FastAPI's, MicroPie's).
AFTER_MARK = "# micropie"
#: What the reader has exported before running a page (secrets from the environment).
ENVIRONMENT = {"SECRET_KEY": "a-long-random-secret-key", "CSRF_SECRET": "another-long-secret"}
#: Directories a page says sit beside the app.
DIRECTORIES = {"guides/static-files.md": ["static"], "guides/mounting.md": ["static"]}
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
#: The modules of the extras beyond the README's own install line (``standard,testing``).
#: A page runs without those of the extras it does not tell the reader to install, as
#: in the virtualenv the README makes.
EXTRA_MODULES = {
    "typed": {"pydantic", "msgspec"},
    "redis": {"redis"},
    "wsgi": {"a2wsgi"},
    "swagger-ui": {"swagger_ui"},
    "all": {"pydantic", "msgspec", "redis", "a2wsgi", "swagger_ui", "orjson"},
}
#: Packages a page may install that bring an extra's modules with them (FastAPI: Pydantic).
BRINGS_EXTRA = {"fastapi": "typed"}
_EXTRAS = re.compile(r"micropie\[([\w,]+)\]|\.\[([\w,]+)\]")
_MARK = "=====snippet {}====="


def _nav_pages() -> list[str]:
    """The Markdown pages of the mkdocs.yml nav, in order."""
    return re.findall(r":\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M)


def _blocks(page: str) -> list[tuple[str, str]]:
    return [(match[1], match[2]) for match in _BLOCK.finditer((DOCS / page).read_text())]


def named_extras(text: str) -> set[str]:
    """The extras a page's ``pip install`` lines install (``.[typed]``, ``micropie[redis]``)."""
    extras: set[str] = set()
    for line in text.splitlines():
        if "pip install" in line:
            for match in _EXTRAS.finditer(line):
                extras.update((match[1] or match[2]).split(","))
            extras.update(extra for package, extra in BRINGS_EXTRA.items() if package in line)
    return extras


def exported(page: str) -> dict[str, str]:
    """The variables of :data:`ENVIRONMENT` that ``page`` tells the reader to export."""
    text = (DOCS / page).read_text()
    return {name: value for name, value in ENVIRONMENT.items() if f"export {name}=" in text}


def test_a_page_reading_a_variable_shows_how_to_set_it():
    for page in _python_pages():
        code = "\n".join(code for language, code in _blocks(page) if language == "python")
        for name in re.findall(r"os\.environ\[\s*[\"'](\w+)[\"']\s*\]", code):
            assert name in exported(page), f"{page} reads ${name}: show `export {name}=...`"


def missing_modules(page: str) -> set[str]:
    """The extras' modules a reader of ``page`` who installed only what the README says
    (and what the page says) does not have."""
    named = named_extras((DOCS / page).read_text())
    absent = set().union(*EXTRA_MODULES.values())
    for extra in named:
        absent -= EXTRA_MODULES.get(extra, set())
    return absent


def _python_pages() -> list[str]:
    return [page for page in _nav_pages() if any(lang == "python" for lang, _ in _blocks(page))]


PAGES = [
    page
    for page in _python_pages()
    if not page.startswith("tutorial/")
    and (
        page not in COMPILE_ONLY
        or any(code.startswith(AFTER_MARK) for lang, code in _blocks(page) if lang == "python")
    )
]


def is_excerpt(code: str) -> bool:
    """Lines shown inside a class or handler: indented, or awaiting at the top level."""
    if code[:1].isspace():
        return True
    try:
        compile(code, "<block>", "exec")
    except SyntaxError:
        return True
    return False


def compiles(code: str) -> None:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST
    compile(textwrap.dedent(code), "<block>", "exec", flags=flags)


def _script(blocks: list[tuple[str, str]], marked_only: bool = False) -> str:
    parts = []
    for number, (language, code) in enumerate(blocks):
        if marked_only and not code.startswith(AFTER_MARK):
            continue
        if language == "python" and not is_excerpt(code):
            parts.append(f"print({_MARK.format(number)!r}, flush=True)\n{code}")
    return "\n".join(parts)


def _expected_outputs(blocks: list[tuple[str, str]], marked_only: bool = False) -> dict[int, str]:
    return {
        number - 1: code.strip()
        for number, (language, code) in enumerate(blocks)
        if language == "text"
        and number > 0
        and blocks[number - 1][0] == "python"
        and (not marked_only or blocks[number - 1][1].startswith(AFTER_MARK))
    }


def test_named_extras_are_read_from_install_lines():
    text = 'pip install -e ".[standard,typed]"\nthen `pip install "micropie[redis]"` and [wsgi]'
    assert named_extras(text) == {"standard", "typed", "redis"}
    assert "pydantic" in missing_modules("guides/json.md")
    assert not missing_modules("guides/typed.md") & {"pydantic", "msgspec"}


#: Extras for working on micropie itself, installed editable (as ``make venv`` does).
CONTRIBUTOR_EXTRAS = {"dev", "bench", "docs"}
_EDITABLE = re.compile(r"pip install -e \S*?\.(?:\[([\w,-]+)\])?")


def test_a_reader_installs_micropie_as_type_checkers_can_read_it():
    """``pip install -e`` gives an import hook that mypy and pyright cannot follow
    ("micropie" not found): the README, the pages and the examples install micropie
    regularly, except the contributor sets."""
    texts = [ROOT / "README.md", *DOCS.rglob("*.md"), *(ROOT / "examples").rglob("*.py")]
    editable = {
        f"{path.relative_to(ROOT)}: {match[0]}"
        for path in texts
        for match in _EDITABLE.finditer(path.read_text())
        if not set((match[1] or "").split(",")) <= CONTRIBUTOR_EXTRAS
    }
    assert not editable, sorted(editable)
    readme = (ROOT / "README.md").read_text()
    assert 'pip install ".[standard,testing]"' in readme


def test_every_page_with_code_is_run_or_compiled():
    pages = _python_pages()
    assert {"index.md", "guides/routing.md", "guides/typed.md"} <= set(pages)
    assert COMPILE_ONLY <= set(pages)
    assert "migrating.md" in PAGES  # its micropie side: the Flask and FastAPI apps


@pytest.mark.parametrize("page", PAGES)
def test_page_code_runs_and_prints_what_the_page_shows(page, tmp_path):
    blocks = _blocks(page)
    script = tmp_path / "snippets.py"
    script.write_text(_script(blocks, marked_only=page in COMPILE_ONLY))
    for directory in DIRECTORIES.get(page, []):
        (tmp_path / directory).mkdir()
    blocked = sorted(missing_modules(page))  # None in sys.modules: importing it fails
    run = (
        f"import sys; sys.modules.update(dict.fromkeys({blocked!r})); import runpy; "
        f"runpy.run_path({str(script)!r}, run_name='docs_page')"
    )
    result = subprocess.run(
        [sys.executable, "-c", run],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **exported(page)},
    )
    assert result.returncode == 0, result.stderr
    outputs = dict(
        (int(number), text.strip())
        for number, text in re.findall(
            r"=====snippet (\d+)=====\n(.*?)(?======|\Z)", result.stdout, re.DOTALL
        )
    )
    for number, expected in _expected_outputs(blocks, page in COMPILE_ONLY).items():
        assert outputs[number] == expected, f"{page}: output of block {number}"


@pytest.mark.parametrize("page", _python_pages())
def test_every_block_compiles(page):
    for number, (language, code) in enumerate(_blocks(page)):
        if language == "python":
            try:
                compiles(code)
            except SyntaxError as exc:
                raise AssertionError(f"{page}: block {number}: {exc}") from exc


#: Top-level modules that micropie and its extras (standard, redis, wsgi, testing, typed,
#: all) install.
INSTALLED_WITH_MICROPIE = {
    "micropie", "starlette", "anyio", "jinja2", "multipart", "itsdangerous", "uvicorn",
    "redis", "a2wsgi", "httpx2", "pytest", "pydantic", "msgspec", "orjson",
}  # fmt: skip
#: The reader's own modules (their app, their tests) and the clone's examples.
READERS_OWN = {"app", "myapp", "examples"}
#: What the code a page migrates from imports (the reader has it already).
BEFORE_CODE = {"migrating.md": {"MicroPie", "fastapi", "flask"}}


def _imported_modules(code: str) -> set[str]:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST
    tree = compile(textwrap.dedent(code), "<block>", "exec", flags=flags)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("page", _python_pages())
def test_every_import_is_installed_by_micropie_or_the_page_says_how(page):
    """A reader with micropie's extras installed lacks nothing the page does not name."""
    text = (DOCS / page).read_text()
    installs = [line.lower() for line in text.splitlines() if "pip install" in line]
    for language, code in _blocks(page):
        if language != "python":
            continue
        for module in sorted(_imported_modules(code)):
            known = sys.stdlib_module_names | INSTALLED_WITH_MICROPIE | READERS_OWN
            if module in known or module in BEFORE_CODE.get(page, set()):
                continue
            package = module.replace("_", "-").lower()
            assert any(package in line for line in installs), f"{page}: how to install {module}"
