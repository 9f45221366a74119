"""Every error scrapetrack raises on purpose.

    ScrapetrackError
    ├── ConfigError                  settings that cannot work together
    ├── InputError                   a request a person must correct (HTTP 400/422)
    │   └── UnknownPlatform          (HTTP 404)
    │   └── PayloadTooLarge          (HTTP 413)
    ├── Unauthorized                 no or bad credentials (HTTP 401)
    ├── Forbidden                    known, but not allowed to do this (HTTP 403)
    │   └── CsrfFailed
    ├── NotFound                     missing, or someone else's (HTTP 404)
    │   ├── CampaignNotFound
    │   ├── CreatorNotFound
    │   ├── JobNotFound
    │   ├── WorkspaceNotFound
    │   ├── InvitationNotFound
    │   ├── WebhookNotFound
    │   └── ScheduleNotFound
    ├── Conflict                     the resource is in the wrong state (HTTP 409)
    │   ├── JobFinished
    │   ├── JobStillRunning
    │   └── AlreadyFired             a schedule's firing that another process started
    ├── OverBudget                   the workspace's monthly budget cannot cover it (HTTP 402)
    ├── TooManyRequests              a per-user limit; carries retry_after (HTTP 429)
    │   ├── CampaignRateLimited
    │   ├── JobRateLimited
    │   ├── TooManyActiveJobs
    │   └── TooManyStreams
    ├── Unavailable                  a backend we need is down for now (HTTP 503)
    │   ├── StoreUnavailable
    │   └── QueueUnavailable
    ├── DeliveryFailed               a webhook, Slack or mail server did not take a message
    └── ProviderError                the scraping platform failed us
        ├── ProviderUnavailable      network error, timeout, 429/5xx after retries
        ├── ProviderBusy             402: the account is at its memory or concurrency limit
        ├── ProviderRejected         4xx: bad token, unknown actor, bad input
        │   └── BudgetSpent          the search's own budget allows no further run
        └── RunNotFound              the run id we saved is unknown to the platform

The class docstring is the default message; routes map each family to one HTTP status.
"""

from __future__ import annotations


class ScrapetrackError(Exception):
    """Something went wrong."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__class__.__doc__ or "").strip()
        super().__init__(self.message)


class ConfigError(ScrapetrackError):
    """The configuration is invalid."""


class InputError(ScrapetrackError):
    """The request is invalid."""


class UnknownPlatform(InputError):
    """Unknown platform"""


class PayloadTooLarge(InputError):
    """The request body is too large"""


class Unauthorized(ScrapetrackError):
    """Authentication required"""


class Forbidden(ScrapetrackError):
    """This is not allowed"""


class CsrfFailed(Forbidden):
    """The form has expired or did not come from this site; reload the page and try again"""


class NotFound(ScrapetrackError):
    """Not found"""


class CampaignNotFound(NotFound):
    """Campaign not found"""


class CreatorNotFound(NotFound):
    """Creator not found"""


class JobNotFound(NotFound):
    """Job not found"""


class WorkspaceNotFound(NotFound):
    """Workspace not found"""


class InvitationNotFound(NotFound):
    """That invitation is not valid: it works once, within 7 days, until it is revoked"""


class WebhookNotFound(NotFound):
    """Webhook not found"""


class ScheduleNotFound(NotFound):
    """Schedule not found"""


class Conflict(ScrapetrackError):
    """The resource is not in a state that allows this."""


class JobFinished(Conflict):
    """The job has already finished."""


class JobStillRunning(Conflict):
    """The job is still running."""


class OverBudget(ScrapetrackError):
    """This workspace's monthly budget is spent"""


class AlreadyFired(Conflict):
    """This firing of the schedule has already started its search."""


class TooManyRequests(ScrapetrackError):
    """Too many requests; try again later"""

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)  # whole seconds, for the Retry-After header


class CampaignRateLimited(TooManyRequests):
    """You are creating campaigns too fast; try again shortly"""


class JobRateLimited(TooManyRequests):
    """You are starting searches too fast; try again shortly"""


class TooManyActiveJobs(TooManyRequests):
    """You have too many searches running; wait for one to end or cancel one"""


class TooManyStreams(TooManyRequests):
    """You have too many live updates open; close a tab and try again"""


class Unavailable(ScrapetrackError):
    """A service scrapetrack needs is unavailable; try again shortly."""


class StoreUnavailable(Unavailable):
    """The database is unavailable; try again shortly."""


class QueueUnavailable(Unavailable):
    """The job queue is unavailable; try again shortly."""


class DeliveryFailed(ScrapetrackError):
    """The message was not delivered."""

    def __init__(self, message: str | None = None, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code  # the receiver's answer, None when there was none


class ProviderError(ScrapetrackError):
    """The scraping platform failed."""


class ProviderUnavailable(ProviderError):
    """The scraping platform could not be reached."""


class ProviderBusy(ProviderError):
    """The scraping platform has no capacity for another run now."""


class ProviderRejected(ProviderError):
    """The scraping platform rejected the request."""


class BudgetSpent(ProviderRejected):
    """This search's budget is spent."""


class RunNotFound(ProviderError):
    """The scraping run no longer exists on the platform."""
