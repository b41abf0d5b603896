"""A headless Chromium driven by Selenium, skipped when Chromium or chromedriver is missing.

Selenium Manager is never used: the driver and browser paths are given explicitly, so
nothing is downloaded. Chromium's background networking is switched off because test
machines may have no route to Google's services (its connections would be refused).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support import UvicornServer

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

WAIT_SECONDS = 30.0
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1024,768",
)


def _executables() -> tuple[str, str]:
    """Paths of Chromium and chromedriver, or skip the test naming what is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        missing = " and ".join(
            name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path
        )
        pytest.skip(f"{missing} not installed (Debian: apt-get install chromium chromium-driver)")
    return browser, driver


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    """A fresh headless Chromium with its own profile; quit after the test."""
    browser_path, driver_path = _executables()
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.set_page_load_timeout(WAIT_SECONDS)
        yield driver
    finally:
        driver.quit()


def diagnostics(driver: Chrome, server: UvicornServer | None = None) -> str:
    """What the browser and the server saw: each window's console log and page source."""
    from selenium.common.exceptions import WebDriverException

    parts = []
    for handle in driver.window_handles:
        driver.switch_to.window(handle)
        try:
            entries = driver.get_log("browser")  # type: ignore[no-untyped-call]
            console = "\n".join(str(entry) for entry in entries)
        except WebDriverException as exc:
            console = f"(no console log: {exc.msg})"
        parts.append(
            f"--- window {handle} at {driver.current_url}\n--- console:\n{console or '(empty)'}\n"
            f"--- page source:\n{driver.page_source}"
        )
    if server is not None:
        parts.append(f"--- server log:\n{server.log() or '(empty)'}")
    return "\n".join(parts)


def wait_until(
    driver: Chrome, condition: Callable[[Any], Any], what: str, server: UvicornServer | None = None
) -> Any:
    """Wait for a Selenium expected ``condition``; on timeout fail with diagnostics."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_SECONDS).until(condition)
    except TimeoutException:
        pass  # fail outside the handler: the Selenium traceback would only add noise
    pytest.fail(
        f"timed out after {WAIT_SECONDS:g}s waiting for {what}\n{diagnostics(driver, server)}"
    )
