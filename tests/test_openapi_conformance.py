"""schemathesis against live schemas served by a real uvicorn: examples/json_api and a
typed API written the FastAPI way (tests/apps/typed_api.py).

Examples are bounded and derandomized (a fixed seed), so the run is the same every time.
Checked: no 500, every status is documented, content types and bodies match the schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import UvicornServer, run_uvicorn

pytestmark = [pytest.mark.server, pytest.mark.slow]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def json_api_server() -> Iterator[UvicornServer]:
    server = run_uvicorn("examples.json_api.app:app")
    yield server
    server.stop()


def _operations(base_url: str) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def check_operation(
    operation: schemathesis.APIOperation,
    base_url: str,
    checks: list[Any],
    examples: int,
    mode: GenerationMode = GenerationMode.POSITIVE,
) -> None:
    """Call ``operation`` with ``examples`` derandomized cases of ``mode``, run ``checks``."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, checks=checks, timeout=30)

    conforms()


def test_json_api_answers_as_its_schema_says(json_api_server: UvicornServer) -> None:
    operations = _operations(json_api_server.url)
    assert len(operations) == 6
    for operation in operations:
        check_operation(operation, json_api_server.url, CHECKS, examples=30)


@pytest.fixture(scope="module")
def typed_api_server() -> Iterator[UvicornServer]:
    server = run_uvicorn("tests.apps.typed_api:app")
    yield server
    server.stop()


def test_a_typed_api_accepts_what_its_schema_allows(typed_api_server: UvicornServer) -> None:
    """Requests valid by the document are served (no 4xx), answers conform to it."""
    checks = [*CHECKS, positive_data_acceptance]
    for operation in _operations(typed_api_server.url):
        check_operation(operation, typed_api_server.url, checks, examples=20)


def test_a_typed_api_refuses_what_its_schema_forbids(typed_api_server: UvicornServer) -> None:
    """Requests invalid by the document are refused with a documented 4xx, never a 500.

    micropie reads more spellings of a boolean than the schema's ``true``/``false``
    (``on``, ``yes``, an empty checkbox value: SPEC §2), so operations with a boolean
    parameter are checked for no 500 and documented statuses only.
    """
    for operation in _operations(typed_api_server.url):
        if not _can_be_wrong(operation):
            continue  # ``/files`` and ``/files/{parts}``: any text is a path segment
        checks = [not_a_server_error, status_code_conformance]
        if not _has_boolean_parameter(operation):
            checks.append(negative_data_rejection)
        negative = GenerationMode.NEGATIVE
        check_operation(operation, typed_api_server.url, checks, examples=20, mode=negative)


def _has_boolean_parameter(operation: schemathesis.APIOperation) -> bool:
    """A boolean parameter, or a list of any text (``?tags=0.0`` is one string, whatever
    schemathesis meant by it): negative data for them cannot be told from valid data."""
    parameters = operation.definition.raw.get("parameters", [])
    schemas = [p.get("schema", {}) for p in parameters]
    return any(
        schema.get("type") == "boolean"
        or (schema.get("type") == "array" and schema.get("items") == {"type": "string"})
        for schema in schemas
    )


def _can_be_wrong(operation: schemathesis.APIOperation) -> bool:
    """Whether a request to ``operation`` can break its schema: a body, or a parameter
    that is not any text (in a URL, every path segment is some text)."""
    raw = operation.definition.raw
    parameters = raw.get("parameters", [])
    return "requestBody" in raw or any(p.get("schema") != {"type": "string"} for p in parameters)
