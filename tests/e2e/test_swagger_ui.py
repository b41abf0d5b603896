"""The ``/docs`` page in a real browser, with no CDN to reach: Swagger UI 5, served by
the app from the installed swagger-ui-py package, renders the typed APIs' documents
(OpenAPI 3.1) with every operation, at the root or below a mount, and "Try it out"
calls the app and shows its answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx2
import pytest

from tests.e2e.conftest import diagnostics, wait_until
from tests.support import UvicornServer

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

pytestmark = [pytest.mark.e2e, pytest.mark.server]
pytest.importorskip("swagger_ui", reason="swagger-ui-py (dev extra) ships Swagger UI's files")

CSS = "css selector"


def _documented_operations(server: UvicornServer, prefix: str = "") -> set[tuple[str, str]]:
    document = httpx2.get(f"{server.url}{prefix}/openapi.json", timeout=30).json()
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def _rendered_operations(driver: Chrome) -> set[tuple[str, str]]:
    found = set()
    for block in driver.find_elements(CSS, ".opblock"):
        method = block.find_element(CSS, ".opblock-summary-method").text.strip()
        path = block.find_element(CSS, ".opblock-summary-path").get_attribute("data-path")
        found.add((method, path or ""))
    return found


def _open_docs(driver: Chrome, server: UvicornServer, prefix: str = "") -> None:
    from selenium.webdriver.support import expected_conditions as ec

    driver.get(f"{server.url}{prefix}/docs")
    located = ec.presence_of_element_located((CSS, ".opblock"))
    wait_until(driver, located, "Swagger UI to render an operation", server)
    errors = driver.find_elements(CSS, ".errors-wrapper, .loading-container .errors")
    assert not [e.text for e in errors if e.text.strip()], diagnostics(driver, server)
    loaded = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(url.startswith(server.url) for url in loaded), loaded  # nothing from a CDN


@pytest.mark.parametrize(
    ("target", "prefix"),
    [
        ("tests.apps.swagger_local:todo_app", ""),
        ("tests.apps.swagger_local:typed_app", ""),
        ("tests.apps.swagger_local:mounted_app", "/api"),
        ("tests.apps.swagger_local:self_hosted_app", ""),
    ],
)
def test_swagger_ui_renders_every_documented_operation(
    browser: Chrome, uvicorn_server: Callable[..., UvicornServer], target: str, prefix: str
) -> None:
    server = uvicorn_server(target)
    _open_docs(browser, server, prefix)
    expected = _documented_operations(server, prefix)
    assert _rendered_operations(browser) == expected, diagnostics(browser, server)
    models = browser.find_elements(CSS, ".models .json-schema-2020-12")  # 3.1: JSON Schema
    assert models, diagnostics(browser, server)


def test_try_it_out_calls_the_app_and_shows_its_answer(
    browser: Chrome, uvicorn_server: Callable[..., UvicornServer]
) -> None:
    from selenium.webdriver.support import expected_conditions as ec

    server = uvicorn_server("tests.apps.swagger_local:todo_app")
    created = httpx2.post(f"{server.url}/add", json={"title": "Bake", "priority": 2}, timeout=30)
    assert created.status_code == 201
    _open_docs(browser, server)
    block = browser.find_element(CSS, "#operations-default-todos_get")
    block.find_element(CSS, ".opblock-summary").click()
    button = (CSS, "#operations-default-todos_get .try-out__btn")
    wait_until(browser, ec.element_to_be_clickable(button), "Try it out", server).click()
    execute = (CSS, "#operations-default-todos_get .execute")
    wait_until(browser, ec.element_to_be_clickable(execute), "Execute", server).click()
    answer = (
        CSS,
        "#operations-default-todos_get .live-responses-table .response .response-col_status",
    )
    wait_until(browser, ec.text_to_be_present_in_element(answer, "200"), "the answer", server)
    body = browser.find_element(CSS, "#operations-default-todos_get .live-responses-table pre")
    assert '"title": "Bake"' in body.text, diagnostics(browser, server)
