"""`/docs` and its OpenAPI description: every API route answers a model whose fields carry
examples, under a readable operation id, and documents the `{"error": "..."}` body of every
error status."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import App


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_every_route_has_examples_and_error_bodies(app: App) -> None:
    docs = httpx.get(f"{app.url}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = httpx.get(f"{app.url}/openapi.json").json()
    assert spec["components"]["schemas"]["ErrorOut"]["required"] == ["error"]
    models = spec["components"]["schemas"]
    operations = [(path, method, op) for path, item in spec["paths"].items()
                  for method, op in item.items() if path.startswith("/api/")]
    assert len(operations) >= 10
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        responses: dict[str, Any] = op["responses"]
        ok = [code for code in responses if code.startswith("2")]
        assert ok, where
        assert op["operationId"].isidentifier() and "_api_" not in op["operationId"], where
        if ok == ["204"]:  # a deletion answers no body
            assert "content" not in responses["204"], where
        for media, content in responses[ok[0]].get("content", {}).items():
            if media != "application/json":  # CSV, an event stream: an example of its own
                assert content.get("example") or content["schema"].get("format") == "binary", \
                    where  # or a file (XLSX)
                continue
            schema = content["schema"]
            ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
            assert ref, where  # a model, or a list of one
            model = models[ref.rsplit("/", 1)[1]]
            for name, field in model["properties"].items():
                assert "examples" in field or "$ref" in str(field), (where, name)
        for code in ("401", "503"):
            assert code in responses, where
        for code, response in responses.items():
            if code.startswith(("4", "5")):
                body = response["content"]["application/json"]
                assert body["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, where
                assert set(body["example"]) == {"error"}, where
    search = spec["paths"]["/api/scraping/{platform}"]["post"]
    assert "409" not in search["responses"] and "422" in search["responses"]
    assert "409" in spec["paths"]["/api/jobs/{job_id}/cancel"]["post"]["responses"]
    assert models["SearchIn"]["properties"]["keywords"]["examples"] == [["fitness coach"]]
    assert spec["paths"]["/api/jobs/{job_id}"]["get"]["operationId"] == "get_job"
    job = models["JobOut"]["properties"]
    assert job["status"]["enum"] == ["pending", "processing", "completed", "error", "timeout",
                                     "cancelled"]
    # What the docs promise is what the API answers.
    alice = app.user("docs@example.com")
    answer = alice.get("/api/jobs/nope")
    assert answer.status_code == 404 and answer.json() == {"error": "Job not found"}
    assert httpx.get(f"{app.url}/api/jobs").json() == {"error": "Authentication required"}
