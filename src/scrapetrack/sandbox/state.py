"""The sandbox's runs and datasets, and how a run progresses with the clock.

Nothing runs in the background: a run stores its start time and its plan, and every question
("how many items now?", "which status?") is answered from the injected clock. That keeps the
sandbox deterministic under a fake clock, free of tasks to cancel, and cheap with many runs.

Faults (see `faults.py`) are counted here: the sandbox-wide plan on `SandboxState`, a run's own
plan on its `RunPlan`, its counter on the `SandboxRun`. `requests` and `injected` count what the
sandbox saw and what it broke, for tests and figures; with `log_requests`, `request_log` keeps
when each request came (on the clock), its method and its path, for benchmarks.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import secrets
import string
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from scrapetrack.providers.base import RunStatus
from scrapetrack.sandbox.actors import (
    SANDBOX_KEY,
    TIKTOK_SEARCH,
    InvalidInput,
    max_by_charge,
    spec_for,
)
from scrapetrack.sandbox.faults import Family, Fault, FaultCounter, FaultPlan, FaultSpecError
from scrapetrack.sandbox.generate import (
    TIKTOK_SHAPES,
    ItemFactory,
    ManyProfiles,
    ProfileFactory,
    TikTokShape,
    keywords_from_input,
    platform_for_actor,
    profile_from_input,
    target_items,
    usernames_from_input,
)
from scrapetrack.sandbox.persist import RunFile

Clock = Callable[[], float]
log = logging.getLogger(__name__)
T = TypeVar("T")

# Apify reports a dataset's itemCount from a counter that trails the writes by a second or so.
DEFAULT_COUNT_LAG_SECONDS = 1.0
# A search for `sandbox:overdeliver` writes this many items past its caps, as an actor may.
OVER_DELIVERY = 100
# An aborted run shows ABORTING this long before it settles as ABORTED.
ABORT_SECONDS = 0.2
_OUTCOMES = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ABORTED}
# A keyword, or the handle of a profile run ("sandbox.failed"), that asks for an outcome.
_KEYWORD_OUTCOME = re.compile(r"^sandbox[:._-]?(failed|timed-?out|aborted)$", re.IGNORECASE)
_KEYWORD_HOSTILE = re.compile(r"^sandbox:?hostile$", re.IGNORECASE)
_KEYWORD_EMPTY = re.compile(r"^sandbox:?(?:empty|no-?results)$", re.IGNORECASE)
_KEYWORD_OVER = re.compile(r"^sandbox:?over-?deliver$", re.IGNORECASE)
_KNOWN_ACTOR = re.compile(r"tiktok|instagram|youtube", re.IGNORECASE)


class SandboxError(Exception):
    """An Apify-style error answer: HTTP status, error type, message."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message


def new_id() -> str:
    """An id shaped like Apify's: 17 random letters and digits."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(17))


@dataclass(frozen=True, slots=True)
class Caps:
    """What a run start asks to be capped at: its `maxItems` and `maxTotalChargeUsd`."""

    max_items: int | None = None
    max_total_charge_usd: float | None = None


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What a run will do: its pace, its size, and how it ends."""

    items_per_second: float
    start_delay: float
    target: int  # the items the actor writes when nothing stops it early
    stop_after: int  # items written before the run ends (fewer than target when it fails)
    outcome: RunStatus
    status_message: str | None
    shape: TikTokShape
    count_lag: float
    seed: str
    faults: FaultPlan = field(default_factory=FaultPlan)  # the run's own rules
    never_finishes: bool = False  # stays RUNNING once it has written `stop_after` items
    hostile: bool = False  # creators made of script tags, javascript: URLs, formulas, ...
    price_per_item_usd: float = 0.0
    attributed: bool = False  # items say which search keyword found them
    no_results: bool = False  # a search that finds nothing: one `{"noResults": true}` item
    caps: Caps = field(default_factory=Caps)

    @classmethod
    def from_input(cls, actor_id: str, run_input: dict[str, Any], *, items_per_second: float,
                   start_delay: float, caps: Caps | None = None,
                   faults: FaultPlan | None = None) -> RunPlan:
        """Read the actor input (refused as the actor refuses it: see actors.py) and its
        hidden `_sandbox` overrides.

        `faults` is the sandbox-wide plan: its run: rule applies unless the run has its own.
        """
        spec = spec_for(actor_id)
        try:
            spec.validate(run_input)
        except InvalidInput as exc:
            raise _invalid(exc.message) from None
        caps = caps or Caps()
        options = run_input.get(SANDBOX_KEY) or {}
        if not isinstance(options, dict):
            raise _invalid("Field input._sandbox must be an object")
        profile = profile_from_input(run_input)
        keywords = [profile] if profile else keywords_from_input(run_input)
        options = {**_keyword_options(keywords), **options}
        raw_max = run_input.get("maxItems")
        if raw_max is not None and (not isinstance(raw_max, int) or isinstance(raw_max, bool)
                                    or raw_max < 1):
            raise _invalid("Field input.maxItems must be an integer greater than 0")
        platform = platform_for_actor(actor_id)
        no_results = options.get("noResults") is True
        target = 1 if no_results else target_items(platform, run_input, spec)
        # What the run is paid for ends it: the run's own maxItems, then what the charge cap
        # buys. An actor may write more than that regardless (`_sandbox.overDeliver`).
        for cap in (caps.max_items, max_by_charge(spec.price_per_item_usd,
                                                  caps.max_total_charge_usd)):
            if cap is not None:
                target = min(target, cap)
        target += _option(options, "overDeliver", int, 0)
        outcome_name = _option(options, "outcome", str, RunStatus.SUCCEEDED.value)
        if outcome_name not in _OUTCOMES:
            raise _invalid(f"_sandbox.outcome must be one of {sorted(_OUTCOMES)}")
        outcome = RunStatus(outcome_name)
        # A failing run stops half-way unless told where; a succeeding one writes everything.
        default_stop = target if outcome == RunStatus.SUCCEEDED else target // 2
        stop_after = min(target, _option(options, "failAfterItems", int, default_stop))
        own_faults = _faults_option(options.get("faults"))
        behaviour = own_faults if own_faults.never_finish else (faults or FaultPlan())
        if behaviour.never_finish and behaviour.hang_after is not None:
            stop_after = min(stop_after, behaviour.hang_after)
        default_shape = "apidojo" if spec is TIKTOK_SEARCH else (
            "channel" if "apidojo" in actor_id.lower() else "authorMeta")
        shape = _option(options, "shape", str, default_shape)
        if shape not in TIKTOK_SHAPES:
            raise _invalid(f"_sandbox.shape must be one of {list(TIKTOK_SHAPES)}")
        return cls(
            items_per_second=_option(options, "itemsPerSecond", float, items_per_second),
            start_delay=_option(options, "startDelaySeconds", float, start_delay),
            target=target, stop_after=max(0, stop_after), outcome=outcome,
            status_message=_option(options, "statusMessage", str, None),
            shape=shape,  # type: ignore[arg-type]  # checked against TIKTOK_SHAPES above
            count_lag=_option(options, "itemCountLagSeconds", float, DEFAULT_COUNT_LAG_SECONDS),
            seed=_option(options, "seed", str, f"{actor_id}|{'|'.join(sorted(keywords))}"),
            faults=own_faults, never_finishes=behaviour.never_finish,
            hostile=options.get("hostile") is True,
            price_per_item_usd=spec.price_per_item_usd,
            # apidojo says which keyword found an item only when asked to; others as they do.
            attributed=run_input.get("includeSearchKeywords") is True
            if spec is TIKTOK_SEARCH else True,
            no_results=no_results, caps=caps,
        )

    def usage_usd(self, items: int) -> float:
        """What `items` results cost (pay per result)."""
        return round(items * self.price_per_item_usd, 6)


def _keyword_options(keywords: list[str]) -> dict[str, Any]:
    """A search for `sandbox:failed`, `sandbox:timed-out` or `sandbox:aborted` ends that way,
    one for `sandbox:fault=SPEC` gets those faults (several such keywords add up), one for
    `sandbox:hostile` gets creators built to break pages and spreadsheets, one for
    `sandbox:empty` finds nothing, and one for `sandbox:overdeliver` writes more items than
    it was asked for, so each can be tried from the page, the API or the CLI like any other
    search."""
    options: dict[str, Any] = {}
    specs: list[str] = []
    for keyword in keywords:
        if _KEYWORD_HOSTILE.match(keyword.strip()):
            options["hostile"] = True
        if _KEYWORD_EMPTY.match(keyword.strip()):
            options["noResults"] = True
        if _KEYWORD_OVER.match(keyword.strip()):
            options["overDeliver"] = OVER_DELIVERY
        match = _KEYWORD_OUTCOME.match(keyword.strip())
        if match and "outcome" not in options:
            outcome = match.group(1).upper().replace("TIMEDOUT", "TIMED-OUT")
            options.update(outcome=outcome,
                           statusMessage=f"Sandbox run ended {outcome} as the keyword asked")
        try:
            plan = FaultPlan.from_keyword(keyword)
        except FaultSpecError as exc:
            raise _invalid(f"Search keyword {keyword!r}: {exc.message}") from None
        if plan:
            specs.append(plan.spec)
    if specs:
        options["faults"] = ",".join(specs)
    return options


def _faults_option(value: object) -> FaultPlan:
    """`_sandbox.faults`: a spec string, or a list of rule strings."""
    if value is None:
        return FaultPlan()
    if not (isinstance(value, str) or (isinstance(value, list)
                                       and all(isinstance(rule, str) for rule in value))):
        raise _invalid("_sandbox.faults must be a fault spec string or a list of rule strings")
    try:
        return FaultPlan.parse(value)
    except FaultSpecError as exc:
        raise _invalid(f"_sandbox.faults: {exc.message}") from None


def _invalid(message: str) -> SandboxError:
    return SandboxError(400, "invalid-input", message)


def _option(options: dict[str, Any], name: str, kind: type[T], default: T) -> T:
    value = options.get(name)
    if value is None:
        return default
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0 or (name == "itemsPerSecond" and value <= 0) or math.isnan(value):
            raise _invalid(f"_sandbox.{name} must be a positive number")
        return float(value)  # type: ignore[return-value]  # kind is float here
    if isinstance(value, kind) and not isinstance(value, bool):
        return value
    raise _invalid(f"_sandbox.{name} must be of type {kind.__name__}")


@dataclass(slots=True)
class SandboxRun:
    id: str
    actor_id: str
    dataset_id: str
    plan: RunPlan
    factory: ItemFactory | ProfileFactory | ManyProfiles
    started: float  # injected-clock time of the start
    started_at: datetime  # wall time of the start, for the timestamps Apify shows
    input_len: int
    faults: FaultCounter | None = None  # the run's own rules, counting requests about it
    aborted_at: float | None = None
    run_input: dict[str, Any] = field(default_factory=dict)  # kept: it rebuilds the run
    _items: list[dict[str, Any]] = field(default_factory=list)
    # Items are made off the event loop, by more than one request at a time.
    _making: threading.Lock = field(default_factory=threading.Lock)

    def to_json(self) -> dict[str, Any]:
        """What rebuilds the run after a restart: item i is a function of its plan, so its
        input, caps, ids and times are all there is to keep."""
        return {"id": self.id, "actorId": self.actor_id, "datasetId": self.dataset_id,
                "input": self.run_input, "inputLen": self.input_len,
                "maxItems": self.plan.caps.max_items,
                "maxTotalChargeUsd": self.plan.caps.max_total_charge_usd,
                "started": self.started, "startedAt": self.started_at.isoformat(),
                "abortedAt": self.aborted_at}

    def produced(self, now: float) -> int:
        """Items written by `now`: none during the start delay, then a steady pace."""
        if self.aborted_at is not None:
            now = min(now, self.aborted_at)
        elapsed = now - self.started - self.plan.start_delay
        if elapsed <= 0:
            return 0
        return min(self.plan.stop_after, math.floor(elapsed * self.plan.items_per_second))

    def natural_end(self) -> float:
        """Clock time when the run ends by itself (its last item, then its outcome)."""
        if self.plan.never_finishes:
            return math.inf
        return (self.started + self.plan.start_delay
                + self.plan.stop_after / self.plan.items_per_second)

    def ended_at(self) -> float:
        if self.aborted_at is not None and self.aborted_at < self.natural_end():
            return self.aborted_at + ABORT_SECONDS
        return self.natural_end()

    def status(self, now: float) -> RunStatus:
        if self.aborted_at is not None and self.aborted_at < self.natural_end():
            return RunStatus.ABORTED if now >= self.ended_at() else RunStatus.ABORTING
        if now >= self.natural_end():
            return self.plan.outcome
        return RunStatus.READY if now < self.started + self.plan.start_delay else RunStatus.RUNNING

    def status_message(self, now: float) -> str:
        status, count = self.status(now), self.produced(now)
        if status.finished and self.plan.status_message and self.aborted_at is None:
            return self.plan.status_message
        return {
            RunStatus.READY: "Starting the scraper...",
            RunStatus.RUNNING: f"Scraped {count} of {self.plan.target} items",
            RunStatus.SUCCEEDED: f"Finished! Scraped {count} items",
            RunStatus.FAILED: f"The Actor process failed after {count} items",
            RunStatus.TIMED_OUT: f"The run timed out after {count} items",
            RunStatus.ABORTING: "Aborting the run...",
            RunStatus.ABORTED: f"Aborted by the user after {count} items",
        }.get(status, status.value)

    def item_count(self, now: float) -> int:
        """The dataset's itemCount as Apify reports it: as of `count_lag` seconds ago."""
        return self.produced(now - self.plan.count_lag)

    def items(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Items [start, stop) of the dataset, generated on first need and kept."""
        with self._making:
            while len(self._items) < stop:
                self._items.append(self.factory.item(len(self._items)))
            return self._items[start:stop]

    def wall(self, clock_time: float) -> datetime:
        return self.started_at + timedelta(seconds=clock_time - self.started)


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """What a served sandbox holds at most, whoever asks: the items one run writes (a larger
    maxItems or input is cut to it), the runs going at once (one more is refused with 402
    actor-memory-limit-exceeded, as Apify refuses an account at its limit), and how long a
    finished run is kept (then it is forgotten, and answers 404 as an expired one does)."""

    max_run_items: int | None = 10_000
    max_live_runs: int | None = 200
    forget_after_seconds: float | None = 3600.0


NO_LIMITS = SandboxLimits(None, None, None)


class SandboxState:
    """Every run and dataset the sandbox knows, in memory, while it is kept.

    Only the app's event loop changes it, so it needs no lock (a run's items, made on a
    thread, have their own); tests read the counters.
    """

    def __init__(self, *, items_per_second: float, start_delay_seconds: float,
                 clock: Clock, faults: FaultPlan | None = None,
                 keep: RunFile | None = None, limits: SandboxLimits = NO_LIMITS,
                 log_requests: bool = False) -> None:
        self.limits = limits
        self.items_per_second = items_per_second
        self.start_delay_seconds = start_delay_seconds
        self.clock = clock
        self.faults = faults or FaultPlan()
        self.requests: Counter[Family] = Counter()  # requests seen, by family
        self.injected: Counter[str] = Counter()  # faults answered, by "family:kind"
        # (clock time, method, path) of each request, oldest first; it grows without bound,
        # so only when asked for (benchmarks and tests).
        self.request_log: list[tuple[float, str, str]] | None = [] if log_requests else None
        self._shared = self.faults.counter()
        self._runs: dict[str, SandboxRun] = {}
        self._by_dataset: dict[str, SandboxRun] = {}
        self._started = 0
        # A start that a run's own rule fails creates no run, so until one does, that rule's
        # counter lives here, keyed by the request (the client's retries send the same one).
        self._starting: dict[str, FaultCounter] = {}
        # With a file to keep them in, the runs outlive a restart (the embedded sandbox).
        self._keep = keep
        for saved in keep.load() if keep is not None else ():
            try:
                self._restore(saved)
            except (SandboxError, KeyError, TypeError, ValueError) as exc:
                log.warning("sandbox: a kept run cannot be rebuilt, it is forgotten: %r", exc)

    @property
    def runs(self) -> list[SandboxRun]:
        """Every run begun, oldest first."""
        return list(self._runs.values())

    @property
    def runs_started(self) -> int:
        """Runs begun: a client retrying a start must not have paid for a second one."""
        return self._started

    def plan(self, actor_id: str, run_input: dict[str, Any], *,
             caps: Caps | None = None) -> RunPlan:
        """The plan of a run `start` would begin; 404/400 for an unknown actor or bad input."""
        if not _KNOWN_ACTOR.search(actor_id):
            raise SandboxError(404, "record-not-found",
                               f"Actor with ID or name '{actor_id}' was not found")
        caps = caps or Caps()
        if (most := self.limits.max_run_items) is not None:
            caps = dataclasses.replace(caps, max_items=min(caps.max_items or most, most))
        return RunPlan.from_input(actor_id, run_input, items_per_second=self.items_per_second,
                                  start_delay=self.start_delay_seconds,
                                  caps=caps, faults=self.faults)

    def start(self, actor_id: str, run_input: dict[str, Any], *, input_len: int = 0,
              caps: Caps | None = None, plan: RunPlan | None = None,
              start_key: str | None = None) -> SandboxRun:
        if plan is None:
            plan = self.plan(actor_id, run_input, caps=caps)
        now = self.clock()
        self._forget_finished(now)
        live = sum(1 for run in self._runs.values() if not run.status(now).finished)
        if self.limits.max_live_runs is not None and live >= self.limits.max_live_runs:
            raise SandboxError(402, "actor-memory-limit-exceeded",
                               f"By launching this job you will exceed the sandbox's limit "
                               f"of {self.limits.max_live_runs} runs at once")
        counter = self._starting.pop(start_key, None) if start_key else None
        if counter is None and plan.faults.rules:
            counter = plan.faults.counter()
        run = SandboxRun(id=new_id(), actor_id=actor_id, dataset_id=new_id(), plan=plan,
                         factory=_factory(actor_id, run_input, plan), started=self.clock(),
                         started_at=datetime.now(UTC), input_len=input_len, faults=counter,
                         run_input=run_input)
        self._add(run)
        self._started += 1
        return run

    def _add(self, run: SandboxRun) -> None:
        self._runs[run.id] = run
        self._by_dataset[run.dataset_id] = run
        self._save()

    def _forget_finished(self, now: float) -> None:
        """Drop the runs that finished longer than forget_after_seconds ago, with their
        items."""
        keep_for = self.limits.forget_after_seconds
        if keep_for is None:
            return
        gone = [run for run in self._runs.values()
                if run.status(now).finished and now - run.ended_at() > keep_for]
        for run in gone:
            del self._runs[run.id]
            del self._by_dataset[run.dataset_id]
        if gone:
            self._save()

    def _save(self) -> None:
        if self._keep is not None:
            self._keep.save([run.to_json() for run in self._runs.values()])

    def _restore(self, saved: dict[str, Any]) -> None:
        """A run kept before a restart, rebuilt from its input as it was planned then."""
        actor_id, run_input = saved["actorId"], saved["input"]
        plan = self.plan(actor_id, run_input, caps=Caps(
            max_items=saved.get("maxItems"),
            max_total_charge_usd=saved.get("maxTotalChargeUsd")))
        run = SandboxRun(id=saved["id"], actor_id=actor_id, dataset_id=saved["datasetId"],
                         plan=plan, factory=_factory(actor_id, run_input, plan),
                         started=saved["started"],
                         started_at=datetime.fromisoformat(saved["startedAt"]),
                         input_len=saved.get("inputLen", 0), aborted_at=saved.get("abortedAt"),
                         run_input=run_input)
        self._runs[run.id] = run
        self._by_dataset[run.dataset_id] = run
        self._started += 1

    def start_faults(self, start_key: str, plan: RunPlan) -> FaultCounter | None:
        """The counter of a run's own rules for a start request not yet answered."""
        if not plan.faults.rules:
            return None
        return self._starting.setdefault(start_key, plan.faults.counter())

    def run_faults(self, run_id: str) -> FaultCounter | None:
        run = self._runs.get(run_id)
        return run.faults if run else None

    def dataset_faults(self, dataset_id: str) -> FaultCounter | None:
        run = self._by_dataset.get(dataset_id)
        return run.faults if run else None

    def next_fault(self, family: Family, own: FaultCounter | None) -> Fault | None:
        """Count a request of `family` (about a run with rules `own`, if any); its fault."""
        self.requests[family] += 1
        mine = own.next(family) if own else None
        shared = self._shared.next(family)
        fault = mine or shared
        if fault:
            self.injected[f"{family}:{fault.kind}"] += 1
        return fault

    def run(self, run_id: str) -> SandboxRun:
        try:
            return self._runs[run_id]
        except KeyError:
            raise SandboxError(404, "record-not-found",
                               f"Actor run with ID '{run_id}' was not found") from None

    def dataset(self, dataset_id: str) -> SandboxRun:
        """The run that owns the dataset (every sandbox dataset is a run's default one)."""
        try:
            return self._by_dataset[dataset_id]
        except KeyError:
            raise SandboxError(404, "record-not-found",
                               f"Dataset with ID '{dataset_id}' was not found") from None

    def abort(self, run_id: str) -> SandboxRun:
        """Stop producing items now; a finished run is left as it was, as Apify does."""
        run = self.run(run_id)
        now = self.clock()
        if run.aborted_at is None and not run.status(now).finished:
            run.aborted_at = now
            self._save()
        return run


def _factory(actor_id: str, run_input: dict[str, Any],
             plan: RunPlan) -> ItemFactory | ProfileFactory | ManyProfiles:
    """What makes the run's items: a search's, one profile's, or several profiles'."""
    platform = platform_for_actor(actor_id)
    profile = profile_from_input(run_input)
    usernames = usernames_from_input(run_input)
    if len(usernames) > 1:
        return ManyProfiles(platform, usernames, plan.seed)
    if profile:
        return ProfileFactory(platform, profile, plan.target, plan.seed)
    return ItemFactory(platform, keywords_from_input(run_input), plan.target, plan.seed,
                       plan.shape, hostile=plan.hostile, attributed=plan.attributed,
                       no_results=plan.no_results)
