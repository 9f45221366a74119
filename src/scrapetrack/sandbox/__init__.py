"""An Apify-API-compatible emulator: `make serve` without a token, and the tests, run on it."""

from scrapetrack.sandbox.app import create_sandbox_app

__all__ = ["create_sandbox_app"]
