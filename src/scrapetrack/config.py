"""Settings, read from the environment once at the entry point and passed down."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # Read from the process environment, then from `.env` in the working directory; the
    # environment wins (pydantic-settings' order), and values passed in code win over both.
    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", frozen=True, populate_by_name=True,
        env_file=".env", env_file_encoding="utf-8"
    )

    data_dir: Path = Field(default=Path("var"), alias="SCRAPETRACK_DATA_DIR")
    database_url: str = "sqlite:///var/scrapetrack.db"
    queue_url: str = "sqlite:///var/queue.db"
    # Several deployments may share one Redis or PostgreSQL queue under different names.
    queue_name: str = Field(default="scrapetrack", alias="QUEUE_NAME")
    redis_url: str | None = None

    apify_token: SecretStr | None = None
    apify_api_url: str | None = None
    apify_max_retries: int = 4
    apify_timeout_seconds: float = 30
    apify_actor_tiktok: str = "apidojo~tiktok-scraper"
    apify_actor_instagram: str = "apify~instagram-scraper"
    apify_actor_youtube: str = "streamers~youtube-scraper"
    # Similar-creators searches first scrape the source creator with these (see platforms.py).
    apify_actor_tiktok_profile: str = "clockworks~tiktok-profile-scraper"
    apify_actor_instagram_profile: str = "apify~instagram-profile-scraper"
    apify_actor_youtube_profile: str = "streamers~youtube-scraper"
    # How many recent posts of the source creator the profile run reads.
    similar_profile_posts: int = Field(default=30, alias="SIMILAR_PROFILE_POSTS")
    # Creators found without their numbers (Instagram hashtag posts) are looked up through
    # the profile actor this many to a run.
    profile_lookup_batch: int = Field(default=50, ge=1, le=1000, alias="PROFILE_LOOKUP_BATCH")

    qstash_token: SecretStr | None = None
    qstash_url: str | None = None
    qstash_current_signing_key: SecretStr | None = None
    qstash_next_signing_key: SecretStr | None = None
    public_url: str | None = None
    # A serverless request has a time limit: a delivery advances its job for at most this
    # long, then parks it and publishes the next message, QSTASH_REPUBLISH_DELAY_SECONDS on.
    qstash_budget_seconds: float = 20.0
    qstash_republish_delay_seconds: int = 1
    # Seconds of clock difference tolerated on a signature's exp and nbf.
    qstash_clock_tolerance_seconds: int = 5

    # auto: Redis when REDIS_URL is set, else PostgreSQL NOTIFY on a PostgreSQL database,
    # else in-process for an embedded worker, else polling the store.
    event_bus: str = "auto"

    secret_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000

    job_timeout_seconds: float = 3600
    stall_timeout_seconds: float = 300
    heartbeat_timeout_seconds: float = 30
    # Finished searches older than this many days are deleted, with the creators only they
    # found (0: kept for ever).
    retention_days: float = Field(default=0, ge=0)
    # At most this many Apify runs at once across every worker (unset: Apify's own limit).
    apify_max_concurrent_runs: int | None = Field(default=None, ge=1,
                                                  alias="APIFY_MAX_CONCURRENT_RUNS")
    # A start refused for Apify capacity (HTTP 402) is tried again after this long, doubling
    # each time up to 5 minutes, while JOB_TIMEOUT_SECONDS allows.
    apify_capacity_retry_seconds: float = Field(default=10.0, gt=0,
                                                alias="APIFY_CAPACITY_RETRY_SECONDS")
    # How often a worker asks the run for news; the issue asks for at least once a second.
    poll_interval_seconds: float = Field(default=0.8, alias="WORKER_POLL_INTERVAL_SECONDS")
    page_size: int = Field(default=500, alias="WORKER_PAGE_SIZE")
    worker_concurrency: int = Field(default=300, alias="WORKER_CONCURRENCY")
    max_target_results: int = Field(default=10_000, alias="MAX_TARGET_RESULTS")
    # The most one search's Apify runs may charge, in USD (unset: no ceiling). A request's
    # own budgetUsd may ask for less, never for more.
    max_charge_usd_per_search: float | None = Field(default=None, gt=0,
                                                    alias="MAX_CHARGE_USD_PER_SEARCH")
    # Abuse limits per user (0 turns one off). Jobs are counted in the store, so they hold
    # across every web process; streams are counted per web process (see docs/security.md).
    job_rate_limit_per_minute: int = Field(default=30, alias="JOB_RATE_LIMIT_PER_MINUTE")
    max_active_jobs_per_user: int = Field(default=20, alias="MAX_ACTIVE_JOBS_PER_USER")
    campaign_rate_limit_per_minute: int = Field(default=30,
                                                alias="CAMPAIGN_RATE_LIMIT_PER_MINUTE")
    max_streams_per_user: int = Field(default=20, alias="MAX_STREAMS_PER_USER")
    # How often each web process checks that its open streams' tokens and sessions still
    # stand: a revoked one's streams end within this long.
    stream_credential_check_seconds: float = Field(default=10.0, gt=0,
                                                   alias="STREAM_CREDENTIAL_CHECK_SECONDS")
    # How long a web process remembers whom a token or session is (0: it reads the store on
    # every request): a token revoked in another process is refused within this long.
    credential_cache_seconds: float = Field(default=5.0, ge=0, le=60,
                                            alias="CREDENTIAL_CACHE_SECONDS")
    # Request bodies are small JSON or forms; anything larger is refused before it is read.
    max_body_bytes: int = Field(default=64 * 1024, alias="MAX_BODY_BYTES")
    # A request's head (request line and headers) must arrive whole within this long, and
    # be at most this large: a slow or endless head holds no connection (see serving.py).
    http_head_timeout_seconds: float = Field(default=10.0, gt=0,
                                             alias="HTTP_HEAD_TIMEOUT_SECONDS")
    max_head_bytes: int = Field(default=64 * 1024, ge=1024, alias="MAX_HEAD_BYTES")
    # Proxies whose X-Forwarded-Proto/-For uvicorn believes (so cookies get `Secure` behind
    # an HTTPS proxy); uvicorn's own default.
    forwarded_allow_ips: str = Field(default="127.0.0.1", alias="FORWARDED_ALLOW_IPS")
    location: str = Field(default="US", alias="SCRAPE_LOCATION")

    # Pace of the built-in sandbox's runs (items per second per run, seconds before the first).
    sandbox_items_per_second: float = 25.0
    sandbox_start_delay_seconds: float = 1.5
    # Faults the sandbox injects (grammar in sandbox/faults.py), e.g. "items:503x3".
    sandbox_faults: str | None = None

    # Outgoing webhooks and notifications. Targets on private, loopback or link-local
    # addresses are refused unless allowed (a self-hosted receiver on the same network).
    webhook_allow_private: bool = Field(default=False, alias="WEBHOOK_ALLOW_PRIVATE")
    # A failed delivery is tried again after this long, doubling each time up to an hour,
    # for WEBHOOK_RETRY_HOURS after it was first due.
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0,
                                              alias="WEBHOOK_RETRY_BASE_SECONDS")
    webhook_retry_hours: float = Field(default=24.0, gt=0, alias="WEBHOOK_RETRY_HOURS")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, alias="WEBHOOK_TIMEOUT_SECONDS")
    # Mail: smtp://user:password@host:587 (STARTTLS when offered), smtps://… (TLS), unset: off.
    smtp_url: SecretStr | None = Field(default=None, alias="SMTP_URL")
    smtp_from: str = Field(default="scrapetrack <scrapetrack@localhost>", alias="SMTP_FROM")
    # A schedule's firing this late (the deployment was down) follows its `missed` policy.
    schedule_misfire_grace_seconds: float = Field(default=60.0, gt=0,
                                                  alias="SCHEDULE_MISFIRE_GRACE_SECONDS")

    # Logs: a level name, and json, console or auto (console when stderr is a terminal,
    # else JSON); "text" is accepted as the earlier name of console.
    log_level: str = "info"
    log_format: str = "auto"
    # When set, GET /metrics needs `Authorization: Bearer METRICS_TOKEN`.
    metrics_token: SecretStr | None = Field(default=None, alias="METRICS_TOKEN")
    # Where processes of one machine share their Prometheus counters (multi-process mode).
    # The serve and worker commands default it to data_dir/metrics; unset, counters are
    # per process (tests, embedded uses).
    metrics_dir: Path | None = Field(default=None, alias="PROMETHEUS_MULTIPROC_DIR")
    # Traces (docs/tracing.md): sent over OTLP/HTTP once an endpoint is set and the `otel`
    # extra is installed. Read here as well so `.env` can set them; every other OTEL_*
    # variable (headers, sampler, resource attributes) is read by the SDK itself.
    otel_exporter_otlp_endpoint: str | None = Field(default=None,
                                                    alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None, alias="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    otel_service_name: str = Field(default="scrapetrack", alias="OTEL_SERVICE_NAME")

    def otlp_traces_endpoint(self) -> str | None:
        """Where spans go: the traces endpoint as given, or /v1/traces of the general one
        (as the OTLP exporter itself reads them); None: no tracing."""
        if self.otel_exporter_otlp_traces_endpoint:
            return self.otel_exporter_otlp_traces_endpoint
        if self.otel_exporter_otlp_endpoint:
            return self.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        return None

    @property
    def uses_qstash(self) -> bool:
        return self.queue_url == "qstash"

    @property
    def uses_sandbox(self) -> bool:
        return self.apify_token is None

    def actor_for(self, platform: str, kind: str = "keyword") -> str:
        """The actor for a platform's keyword search, or its `profile` scraper."""
        suffix = "_profile" if kind == "profile" else ""
        return str(getattr(self, f"apify_actor_{platform}{suffix}"))

    def base_url(self) -> str:
        """Where people reach this deployment: PUBLIC_URL, else the address it serves on."""
        if self.public_url:
            return self.public_url.rstrip("/")
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{shown}:{self.port}"

    def resolved_apify_api_url(self) -> str:
        """Where apify-client sends requests: the real API, or our own sandbox mount."""
        if self.apify_api_url:
            return self.apify_api_url
        if self.uses_sandbox:
            return f"http://{self.host}:{self.port}/sandbox"
        return "https://api.apify.com"

    def sandbox_token(self) -> str | None:
        """The token the embedded sandbox requires and the app sends it: derived from
        SECRET_KEY (see with_secret_key), so every process of one deployment knows it and
        nobody else does. None when searches go elsewhere (Apify, or APIFY_API_URL)."""
        if not self.uses_sandbox or self.apify_api_url or self.secret_key is None:
            return None
        return hmac.new(self.secret_key.get_secret_value().encode(), b"scrapetrack sandbox",
                        hashlib.sha256).hexdigest()

    def with_secret_key(self) -> Settings:
        """Settings whose SECRET_KEY is set: from the environment, else a file in data_dir."""
        if self.secret_key is not None:
            return self
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return self.model_copy(update={"secret_key": SecretStr(path.read_text().strip())})


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; the entry points call this once."""
    return Settings(**overrides)  # type: ignore[arg-type]
