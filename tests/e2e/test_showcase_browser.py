"""The showcase (``make run``) in Chromium: every page it links to and every form on them.

The showcase runs under uvicorn with its data (pastes, notes, uploads) in the test's
temporary directory. The crawl starts at ``/`` and follows every same-origin link: HTML
pages are opened in the browser, other resources (JSON, text, CSV, downloads) are fetched
and their status checked. Each page's links and form actions must stay under the demo's
mount point, and its console must show no error. Then every form of every page is filled
in and submitted like a person would, and the page it leads to is checked the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest

from examples.showcase.app import DEMOS
from tests.e2e.conftest import diagnostics, wait_until
from tests.support import UvicornServer

if TYPE_CHECKING:
    from selenium.webdriver import Chrome
    from selenium.webdriver.remote.webelement import WebElement

pytestmark = [pytest.mark.e2e, pytest.mark.server, pytest.mark.slow]

MOUNTS = sorted((f"/{demo.path}" for demo in DEMOS), key=len, reverse=True)
#: The honeypot demo refuses forms sent sooner than this after the page was shown.
HONEYPOT_SECONDS = 2.0
TEXT = "hello from chromium"
#: Links the showcase offers to show an error answer on purpose.
DELIBERATE_ERRORS = {"/middleware/rewrite/item/99": 404}


def mount_of(path: str) -> str | None:
    """The demo mount point ``path`` is under (``None`` for the showcase's own pages)."""
    for mount in MOUNTS:
        if path == mount or path.startswith(mount + "/"):
            return mount
    return None


@dataclass
class Showcase:
    """A browser session over the running showcase, recording what it has seen."""

    driver: Chrome
    server: UvicornServer
    upload: Path
    pages: list[str] = field(default_factory=list)
    resources: dict[str, int] = field(default_factory=dict)
    forms: list[tuple[str, int]] = field(default_factory=list)

    # -- pages ---------------------------------------------------------------------------

    def crawl(self) -> None:
        """Visit every page reachable by links from ``/``."""
        queue = [self.server.url + "/"]
        seen = set(queue)
        while queue:
            url = queue.pop(0)
            for link in self.visit(url):
                if link not in seen:
                    seen.add(link)
                    queue.append(link)

    def visit(self, url: str) -> list[str]:
        """Open ``url`` (in the browser when it is HTML); its same-origin links."""
        response = httpx.get(url, timeout=30)
        expected = DELIBERATE_ERRORS.get(urlsplit(url).path)
        if expected is not None:
            assert response.status_code == expected, (url, response.status_code)
            return []
        assert response.status_code < 400, (url, response.status_code, response.text[:200])
        if not response.headers.get("content-type", "").startswith("text/html"):
            self.resources[url] = response.status_code
            return []
        self.open(url)
        self.pages.append(url)
        self.forms.extend((url, index) for index in range(len(self.find("form"))))
        return self.links()

    def open(self, url: str) -> None:
        self.driver.get(url)
        self.check_page(f"page {url}")

    def check_page(self, what: str) -> None:
        """The page loaded with a success status, its links stay in its demo, no errors."""
        status = self.driver.execute_script(
            "return performance.getEntriesByType('navigation')[0].responseStatus"
        )
        assert status < 400, f"{what}: HTTP {status}\n{self.diagnostics()}"
        mount = mount_of(urlsplit(self.driver.current_url).path)
        if mount is not None:
            for target in [*self.links(), *self.form_actions()]:
                path = urlsplit(target).path
                assert mount_of(path) == mount, f"{what} points outside {mount}/: {target}"
        errors = [entry for entry in self.console() if entry["level"] == "SEVERE"]
        assert not errors, f"{what}: console errors {errors}\n{self.diagnostics()}"

    def links(self) -> list[str]:
        hrefs = (link.get_attribute("href") or "" for link in self.find("a[href]"))
        return [href.split("#")[0] for href in hrefs if href.startswith(self.server.url)]

    def form_actions(self) -> list[str]:
        return [form.get_attribute("action") or "" for form in self.find("form")]

    def find(self, selector: str) -> list[WebElement]:
        return self.driver.find_elements("css selector", selector)

    def console(self) -> list[dict[str, Any]]:
        """New browser console entries (the favicon the browser asks for included)."""
        entries: list[dict[str, Any]] = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        return entries

    def diagnostics(self) -> str:
        return diagnostics(self.driver, self.server)

    # -- forms ---------------------------------------------------------------------------

    def submit_every_form(self) -> None:
        for url, index in self.forms:
            self.submit(url, index)

    def submit(self, url: str, index: int) -> None:
        """Fill in form ``index`` of page ``url`` and send it; check where it leads."""
        from selenium.webdriver.support import expected_conditions as ec

        self.open(url)
        shown_at = time.monotonic()
        form = self.find("form")[index]
        self.fill(form)
        button = form.find_element("css selector", "button, input[type=submit]")
        what = f"form {index} of {url}"
        wait_until(self.driver, ec.element_to_be_clickable(button), f"{what} ready", self.server)
        if form.find_elements("css selector", "input[name=shown_at]"):  # the honeypot demo
            wait_until(self.driver, lambda _: time.monotonic() - shown_at > HONEYPOT_SECONDS,
                       "the honeypot's minimum time", self.server)  # fmt: skip
        scripted = form.get_dom_attribute("action") is None  # sent by the page's script
        self.driver.execute_script("window.submittedFromHere = true")
        button.click()
        if scripted:
            return self.check_script_form(form, what)
        wait_until(self.driver, new_document_loaded, f"{what} to be answered", self.server)
        self.check_page(f"the answer to {what}")
        return None

    def check_script_form(self, form: WebElement, what: str) -> None:
        """A form the page's script sends (the chat): its text shows up on the page."""
        body = ("tag name", "body")
        wait_until(self.driver, lambda d: TEXT in d.find_element(*body).text, what, self.server)
        self.check_page(f"after {what}")

    def fill(self, form: WebElement) -> None:
        """Type into every visible field like a person; leave hidden ones alone."""
        for field_element in form.find_elements("css selector", "input, textarea, select"):
            kind = (field_element.get_attribute("type") or "text").lower()
            if kind == "file":
                field_element.send_keys(str(self.upload))
            elif not field_element.is_displayed() or kind in ("hidden", "submit", "select-one"):
                continue
            elif kind in ("checkbox", "radio"):
                if not field_element.is_selected():
                    field_element.click()
            else:
                field_element.clear()
                field_element.send_keys(sample_value(kind))


def new_document_loaded(driver: Chrome) -> bool:
    """Whether the page marked before a submit was replaced by a fully loaded one."""
    from selenium.common.exceptions import WebDriverException

    script = "return document.readyState === 'complete' && !window.submittedFromHere"
    try:
        return bool(driver.execute_script(script))
    except WebDriverException:  # asked mid-navigation
        return False


def sample_value(kind: str) -> str:
    return {
        "number": "7",
        "email": "pie@example.com",
        "url": "https://example.com/",
        "date": "05/01/2024",
    }.get(kind, TEXT)


@pytest.fixture(params=["make run", pytest.param("2 workers on Redis", marks=pytest.mark.redis)])
def showcase(
    request: pytest.FixtureRequest,
    browser: Chrome,
    uvicorn_server: Callable[..., UvicornServer],
    tmp_path: Path,
) -> Iterator[Showcase]:
    """The showcase as ``make run`` serves it, and as an operator scales it out:
    ``REDIS_URL=… uvicorn examples.showcase.app:app --workers 2``."""
    data = {
        "PASTEBIN_DB": str(tmp_path / "pastebin.sqlite3"),
        "NOTES_DB": str(tmp_path / "notes.sqlite3"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
    }
    workers = 1
    if request.param == "2 workers on Redis":
        data.update(REDIS_URL=request.getfixturevalue("redis_url"), PASTEBIN_SECRET="e2e")
        workers = 2
    server = uvicorn_server("examples.showcase.app:app", env=data, workers=workers, timeout=60)
    upload = tmp_path / "upload.txt"
    upload.write_text("uploaded by chromium\n")
    yield Showcase(browser, server, upload)
    server.stop()
    assert "Traceback" not in server.log() and "ERROR" not in server.log(), server.log()


def test_every_page_and_form_of_the_showcase(showcase: Showcase) -> None:
    showcase.crawl()
    reached = {mount_of(urlsplit(url).path) for url in [*showcase.pages, *showcase.resources]}
    assert reached == {None, *MOUNTS}
    assert len(showcase.forms) >= 8, showcase.forms
    showcase.submit_every_form()


def test_demos_share_one_session(showcase: Showcase) -> None:
    """A paste stays in "My pastes" while other demos use the session."""
    url = showcase.server.url
    showcase.submit(url + "/pastebin/", 0)
    paste = showcase.driver.current_url
    assert urlsplit(paste).path.startswith("/pastebin/paste/")
    showcase.submit(url + "/middleware/csrf/", 0)
    showcase.submit(url + "/starlette/shop/item/2", 0)
    assert "Cherry pie" in showcase.driver.find_element("tag name", "body").text
    showcase.open(url + "/pastebin/mine")
    assert urlsplit(paste).path in [urlsplit(link).path for link in showcase.links()]
