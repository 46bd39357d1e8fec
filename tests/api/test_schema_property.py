"""The OpenAPI schema run against the live server (schemathesis): every operation, with generated valid and
invalid requests, never answers 5xx, and each answer is JSON in the error or data envelope where it says so.
Bounded: a few examples per operation (ROSTERSYNC_SCHEMA_EXAMPLES raises it)."""

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import Served, serving

EXAMPLES = int(os.environ.get("ROSTERSYNC_SCHEMA_EXAMPLES", "12"))
ALL_SCOPES = "customers:write,suppliers:write,imports:write,connections:write"  # each :write reads too


@pytest.fixture
def live() -> Iterator[Served]:
    with serving() as served:
        yield served


def test_no_operation_answers_5xx_or_leaves_the_envelope(live: Served) -> None:
    key = live.key("acme", ALL_SCOPES)
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=operation.as_strategy())
        def answers_in_the_envelope(case: schemathesis.Case) -> None:
            if "companyId" in (case.path_parameters or {}):
                case.path_parameters["companyId"] = "acme"  # the key's own company: the checks go past the 404
            response = case.call(base_url=live.url, headers={"Authorization": f"Bearer {key}"})
            assert response.status_code < 500, (case.method, case.formatted_path, case.query, response.text)
            if response.status_code != 204 and "text/csv" not in response.headers.get("content-type", ""):
                body = response.json()
                assert ("data" in body) != ("error" in body), body
                assert body["meta"]["request_id"].startswith("req_")

        answers_in_the_envelope()
