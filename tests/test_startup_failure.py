"""A startup handler that raises (a database that does not answer, a missing setting):
the server logs the error and exits with status 3, uvicorn's startup failure, whatever
the number of workers, so that a restart policy on failure sees the failure.

uvicorn's own ``--workers`` supervisor stops when a worker fails to start but then exits
0, as after Ctrl+C; ``micropie run`` and ``app.run()`` exit 3 (serving.serve_workers).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import free_port

pytestmark = pytest.mark.server

APP_SOURCE = """
from micropie import App


class Site(App):
    async def index(self):
        return "ok"


async def connect_database():
    raise RuntimeError("the database at db:5432 does not answer")


app = Site()
app.startup_handlers.append(connect_database)

if __name__ == "__main__":
    app.run()
"""

MICROPIE_RUN = [sys.executable, "-m", "micropie", "run", "app:app"]
COMMANDS = {
    "micropie run": MICROPIE_RUN,
    "micropie run --workers 2": [*MICROPIE_RUN, "--workers", "2"],
    "app.run()": [sys.executable, "app.py"],
}


@pytest.mark.parametrize(
    ("command", "workers"),
    [("micropie run", ""), ("micropie run --workers 2", ""), ("app.run()", "2")],
    ids=["micropie run", "micropie run --workers 2", "app.run() WEB_CONCURRENCY=2"],
)
def test_a_failing_startup_handler_exits_3_with_its_error(
    tmp_path: Path, command: str, workers: str
) -> None:
    (tmp_path / "app.py").write_text(APP_SOURCE)
    env = {**os.environ, "PORT": str(free_port()), "WEB_CONCURRENCY": workers}
    result = subprocess.run(
        COMMANDS[command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 3, result.stderr
    assert "RuntimeError: the database at db:5432 does not answer" in result.stderr
    assert "Application startup failed. Exiting." in result.stderr
