"""schemathesis against examples/json_api's live schema, served by a real uvicorn.

Examples are bounded and derandomized (a fixed seed), so the run is the same every time.
Checked: no 500, every status is documented, content types and bodies match the schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
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


def test_json_api_answers_as_its_schema_says(json_api_server: UvicornServer) -> None:
    operations = _operations(json_api_server.url)
    assert len(operations) == 6
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=json_api_server.url, checks=CHECKS, timeout=30)

        conforms()
