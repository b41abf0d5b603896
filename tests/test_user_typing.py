"""A user's app type-checks against micropie's public API (it ships ``py.typed``):
``mypy --strict`` and pyright in strict mode, without a single ``# type: ignore``.

The app is written as the README and guides show: annotated handlers, hooks setting
and reading attributes of the app's own on the request, models in and out, uploads,
streams, websockets, templates, redirects, url_for, and a first-generation ``Server``.
Both checkers find micropie in this clone (as they would in a virtualenv with a regular
install: an editable one's import hook hides it from them, see docs/index.md#install).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow

USER_APP = Path(__file__).parent / "apps" / "typed_user_app.py"


def _run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )


def test_the_user_app_has_no_type_ignore_and_runs():
    source = USER_APP.read_text()
    assert "type: ignore" not in source and "pyright: ignore" not in source
    from starlette.testclient import TestClient

    from tests.apps.typed_user_app import app

    with TestClient(app) as client:
        assert client.get("/visits").text.startswith("Visit 1 (")
        assert client.get("/add/2/3").json() == {"sum": 5}
        with client.websocket_connect("/echo?user=ada") as ws:
            ws.send_text("hi")
            assert ws.receive_text() == "ada: hi"


def test_mypy_strict_passes_on_the_user_app(tmp_path):
    app = tmp_path / "user_app.py"
    app.write_text(USER_APP.read_text())
    result = _run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--config-file=",
         str(app)],
        tmp_path,
        MYPYPATH=str(ROOT),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_pyright_strict_passes_on_the_user_app(tmp_path):
    app = tmp_path / "user_app.py"
    app.write_text(USER_APP.read_text())
    config = {"extraPaths": [str(ROOT)], "typeCheckingMode": "strict", "pythonVersion": "3.10"}
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    result = _run(
        [sys.executable, "-m", "pyright", "--pythonpath", sys.executable, "--outputjson",
         str(app)],
        tmp_path,
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert report["summary"]["filesAnalyzed"] == 1, report
    assert report["generalDiagnostics"] == [], report["generalDiagnostics"]
    assert result.returncode == 0, result.stderr
