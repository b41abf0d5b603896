"""benchmarks.upload and benchmarks.json_stall: the bodies they send get the answers
they expect (checked in process, at small sizes; the benchmarks send 1 GiB / 16 MiB)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks import json_stall, upload
from tests.conftest import ClientFactory

MiB = 1024 * 1024


@pytest.mark.parametrize("shape", upload.SHAPES)
def test_upload_benchmark_bodies_get_the_expected_answer(
    client_factory: ClientFactory, shape: str
) -> None:
    size = 20 * MiB  # past the 16 MiB buffer, so text shapes are refused
    body = upload._BODIES[shape](size)
    content = b"".join(body.pieces())
    client = client_factory(upload.UploadBenchmark())
    response = client.post(body.path, content=content, headers={"content-type": body.content_type})
    answer: dict[str, Any] = response.json() if response.text.startswith("{") else {}
    assert body.check(response.status_code, answer), (response.status_code, response.text[:200])
    assert response.status_code == (200 if shape in ("file", "parts") else 413)


def test_json_stall_body_is_valid_and_within_the_default_limit(
    client_factory: ClientFactory,
) -> None:
    body, items = json_stall.json_body(16 * MiB - 64 * 1024)
    assert 15 * MiB < len(body) <= 16 * MiB - 64 * 1024
    assert len(json.loads(body)["items"]) == items
    response = client_factory(json_stall.StallBenchmark()).post(
        "/ingest", content=body, headers={"content-type": "application/json"}
    )
    assert response.json() == {"items": items}


@pytest.mark.parametrize("shape", sorted(json_stall.SHAPES))
def test_json_stall_shapes_get_the_answer_the_benchmark_expects(
    client_factory: ClientFactory, shape: str
) -> None:
    body, (status, text) = json_stall.SHAPES[shape](1 * MiB)
    assert 1 * MiB - 64 <= len(body) <= 1 * MiB
    response = client_factory(json_stall.StallBenchmark()).post(
        "/ingest", content=body, headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.content) == (status, text)
