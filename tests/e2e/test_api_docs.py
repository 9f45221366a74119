"""/docs in Chromium: Swagger UI renders the API from files the server itself serves, under a
policy that allows no script from anywhere else and no inline script."""

from __future__ import annotations

from playwright.sync_api import Page, Request

from tests.e2e.conftest import Served


def test_the_api_docs_load_nothing_from_elsewhere(served: Served, page: Page) -> None:
    requested: list[str] = []
    violations: list[str] = []

    def note(request: Request) -> None:
        requested.append(request.url)

    page.on("request", note)
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    answer = page.goto(f"{served.url}/docs")
    assert answer is not None and answer.ok
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "http" not in policy
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_text_contents()
    assert "/api/scraping/{platform}" in [p.replace("\u200b", "") for p in paths], paths
    assert requested and all(url.startswith(served.url) for url in requested), requested
    assert any(url.endswith("/docs-assets/swagger-ui-bundle.js") for url in requested)
    assert violations == []
