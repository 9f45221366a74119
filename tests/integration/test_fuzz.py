"""schemathesis against the app's own OpenAPI description, over real HTTP, authenticated with
a Bearer token: every operation, valid and invalid input, a bounded number of examples each.
No answer may be a 5xx, and every answer must be one the description declares (status,
content type, body schema). On SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from tests.integration.conftest import App

EXAMPLES = 25  # per operation and mode: about 20 s for the whole API on this machine
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def test_the_api_has_no_5xx_and_no_schema_violations(app: App) -> None:
    token = app.runtime.accounts.create_user("fuzz@example.com").token
    # A campaign of the fuzzer's own, so some generated searches name one that exists.
    campaign = app.client(token).post("/api/campaigns", json={"name": "fuzz"}).json()["id"]
    schema = schemathesis.openapi.from_url(f"{app.url}/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    labels = {operation.label for operation in operations}
    assert {"POST /api/campaigns", "POST /api/scraping/{platform}",
            "GET /api/jobs/{job_id}/results", "GET /api/campaigns/{campaign_id}/events",
            "POST /api/jobs/{job_id}/cancel"} <= labels, labels
    failures: list[str] = []
    calls = 0
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @hypothesis.given(case=strategy)
            @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None,
                                 phases=[Phase.explicit, Phase.generate],
                                 suppress_health_check=list(HealthCheck))
            def fuzz(case: schemathesis.Case[Any]) -> None:
                nonlocal calls
                if isinstance(case.body, dict) and "campaignId" in case.body \
                        and calls % 3 == 0:
                    case.body["campaignId"] = campaign
                calls += 1
                response = case.call(base_url=app.url, headers=headers, timeout=10)
                case.validate_response(response, checks=CHECKS)

            try:
                fuzz()
            except hypothesis.errors.Unsatisfiable:
                # Nothing to make invalid (GET /healthz takes no input): valid input only.
                assert mode == GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # gathered, so one run shows them all
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)
    assert calls >= len(operations) * 10
