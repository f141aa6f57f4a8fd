"""Schemathesis over the OpenAPI document, as every role: generated requests (valid ones and
ones the document forbids) never get a server error, and every answer matches what the
document promises (status codes, content types, bodies)."""

from __future__ import annotations

import itertools
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from tests.web.conftest import login

# On the demo in SQLite and in PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases(demo=True)

ROLES = ("admin", "commander", "planner", "grid_worker")
# Derandomized, so CI never fails for a reason no change caused; raise for a deeper search.
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture(scope="module")
def api_schema(app, moment):
    from web import clock

    client = app.test_client()
    with clock.frozen(moment.at):
        login(client, "commander")
        document = client.get("/api/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(document)
    schema.app = app  # requests go to the app in-process (WSGI), as from_wsgi does
    return schema


def _operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_keeps_its_promises_for_every_role(app, api_schema, client_as, role):
    client = client_as(role)
    cookie = client.get_cookie("session")
    assert cookie is not None
    operations = _operations(api_schema)
    assert len(operations) >= 8
    for operation, mode in itertools.product(operations, schemathesis.GenerationMode):

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case) -> None:
            # identity: the in-process client does not undo the site's compression
            response = case.call(
                cookies={"session": cookie.value}, headers={"Accept-Encoding": "identity"}
            )
            case.validate_response(response, checks=CHECKS)

        check()
