"""Real-browser checks: headless Chromium against the examples served by uvicorn."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import wait_until
from tests.support import UvicornServer

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

pytestmark = [pytest.mark.e2e, pytest.mark.server]


def _by_id(element_id: str) -> tuple[str, str]:
    return ("id", element_id)


def _join_chat(driver: Chrome, server: UvicornServer, name: str) -> str:
    """Open the chat page in the current window, wait for the socket, set the name."""
    from selenium.webdriver.support import expected_conditions as ec

    driver.get(f"{server.url}/?name={name}")
    wait_until(driver, ec.element_to_be_clickable(_by_id("send")), "the socket to open", server)
    name_input = driver.find_element(*_by_id("name"))
    name_input.clear()
    name_input.send_keys(name)
    return driver.current_window_handle


def _say(driver: Chrome, text: str) -> None:
    driver.find_element(*_by_id("message")).send_keys(text)
    driver.find_element(*_by_id("send")).click()


def _wait_for_text(
    driver: Chrome, window: str, element_id: str, text: str, server: UvicornServer
) -> None:
    from selenium.webdriver.support import expected_conditions as ec

    driver.switch_to.window(window)
    condition = ec.text_to_be_present_in_element(_by_id(element_id), text)
    wait_until(driver, condition, f"{text!r} in #{element_id} of window {window}", server)


def test_chat_message_reaches_the_other_tab(
    browser: Chrome, uvicorn_server: Callable[..., UvicornServer]
) -> None:
    server = uvicorn_server("examples.chat.app:app")
    ann = _join_chat(browser, server, "Ann")
    browser.switch_to.new_window("tab")
    bob = _join_chat(browser, server, "Bob")
    for window in (bob, ann):
        _wait_for_text(browser, window, "presence", "Bob joined", server)

    browser.switch_to.window(ann)
    _say(browser, "hello from Ann")
    for window in (ann, bob):
        _wait_for_text(browser, window, "messages", "Ann: hello from Ann", server)

    browser.switch_to.window(bob)
    _say(browser, "hi Ann, Bob here")
    _wait_for_text(browser, ann, "messages", "Bob: hi Ann, Bob here", server)
    items = browser.find_elements("css selector", "#messages li")
    assert [item.text for item in items] == ["Ann: hello from Ann", "Bob: hi Ann, Bob here"]


def _upload(driver: Chrome, server: UvicornServer, upload: Path, note: str) -> str:
    """Choose ``upload`` in the page's file input, fill the note, submit; the result text."""
    from selenium.webdriver.support import expected_conditions as ec

    driver.get(server.url + "/")
    driver.find_element("css selector", "input[type=file]").send_keys(str(upload.resolve()))
    driver.find_element("name", "note").send_keys(note)
    driver.find_element("css selector", "form button").click()
    wait_until(driver, ec.title_is("Uploaded"), "the upload result page", server)
    text: str = driver.find_element("tag name", "body").text
    return text


def test_upload_page_reports_size_hash_and_note(
    browser: Chrome, uvicorn_server: Callable[..., UvicornServer], tmp_path: Path
) -> None:
    data = os.urandom(2 * 1024 * 1024 + 7)  # over the 1 MiB buffer: the handler starts mid-upload
    upload = tmp_path / "sample.bin"
    upload.write_bytes(data)
    saved = tmp_path / "saved"
    server = uvicorn_server("examples.uploads.app:app", env={"UPLOAD_DIR": str(saved)})
    page = _upload(browser, server, upload, "from the browser")
    assert f"Saved sample.bin: {len(data)} bytes" in page, page
    assert hashlib.sha256(data).hexdigest() in page, page
    assert "Note: from the browser" in page, page
    assert (saved / "sample.bin").read_bytes() == data
