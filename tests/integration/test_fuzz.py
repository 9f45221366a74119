"""schemathesis against the app's own OpenAPI description, over real HTTP, authenticated with
a Bearer token: every operation, valid and invalid input, a bounded number of examples each.
No answer may be a 5xx, and every answer must be one the description declares (status,
content type, body schema). Then odd headers on every operation. On SQLite and on
PostgreSQL + Redis."""

from __future__ import annotations

from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
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


# Headers the API reads, and some it must ignore, with values of every odd kind: numbers too
# long for int(), signs and exponents, non-ASCII digits, schemes without tokens.
HEADER_NAMES = ["Last-Event-ID", "If-None-Match", "Authorization", "X-CSRF-Token",
                "Content-Type", "Accept", "Cookie", "X-Forwarded-Proto", "Upstash-Signature",
                "Upstash-Message-Id", "Range", "Content-Encoding"]
HEADER_VALUES = st.one_of(
    # What a client can send: visible ASCII and Latin-1, no edge whitespace, no CR/LF.
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E)
            | st.characters(min_codepoint=0xA1, max_codepoint=0xFF), max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from([19, 4301, 6000]).map(lambda digits: "9" * digits),
    st.sampled_from(["", "Bearer", "Bearer  x", "Basic Zm9vOmJhcg==", "1e9", "0x10", "²",
                     '"1"', 'W/"1"', "*", "bytes=0-", "gzip", "application/json; q=x"]))
# A few headers at once, or one the API parses as a number, alone.
HEADERS = st.one_of(st.dictionaries(st.sampled_from(HEADER_NAMES), HEADER_VALUES, max_size=4),
                    *(st.fixed_dictionaries({name: HEADER_VALUES})
                      for name in ("Last-Event-ID", "If-None-Match")))


def test_odd_headers_never_give_a_5xx(app: App) -> None:
    """Every operation, valid input, with odd headers added (or replacing the token): the
    answer is never a 5xx, and a 4xx says why as {"error": ...}."""
    token = app.runtime.accounts.create_user("headers@example.com").token
    schema = schemathesis.openapi.from_url(f"{app.url}/openapi.json")
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        if operation.label.startswith("POST /api/qstash"):
            continue  # QStash mode is off here: every delivery is a 401 before headers count

        @hypothesis.given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                          extra=HEADERS)
        @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None,
                             phases=[Phase.explicit, Phase.generate],
                             suppress_health_check=list(HealthCheck))
        def fuzz(case: schemathesis.Case[Any], extra: dict[str, str]) -> None:
            nonlocal calls
            calls += 1
            headers = {"Authorization": f"Bearer {token}", **extra}
            response = case.call(base_url=app.url, headers=headers, timeout=10)
            case.validate_response(response, checks=[not_a_server_error])
            if 400 <= response.status_code < 500:
                body = response.json()
                assert isinstance(body, dict) and isinstance(body.get("error"), str), (
                    response.status_code, response.text[:200], extra)

        try:
            fuzz()
        except Exception as exc:  # gathered, so one run shows them all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert calls >= 10 * EXAMPLES
