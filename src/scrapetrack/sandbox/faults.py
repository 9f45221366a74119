"""Fault plans: which sandbox answers go wrong, and how, counted exactly (no randomness).

One grammar serves the three ways to set a plan: `SANDBOX_FAULTS` for the whole sandbox (read
by the entry point, passed to `create_sandbox_app(faults=...)`), a run input's hidden
`_sandbox.faults`, and a search keyword `sandbox:fault=SPEC` (so faults can be tried from the page).

    spec    = rule *( sep rule )           sep: "," ";" or whitespace
    rule    = family ":" action [ "+" SKIP ] [ when ]        a request fault
            | "run:never-finish" [ "+" ITEMS ] | "run:silent"   how a run behaves
    family  = runs        start, get and abort a run
            | items       read a dataset's items
            | datasets    read a dataset's info
            | all         every request
    action  = 429         Too Many Requests, with Retry-After
            | 500..599    a server error
            | 402         the account is at its memory limit (actor-memory-limit-exceeded)
            | 404         the run is not known (yet): record-not-found
            | approval    403 full-permission-actor-not-approved, with data.approvalUrl
            | reset       the connection is reset: no answer at all
            | slow[SECS]  the answer comes SECS late (default 35, above the client's 30 s; max 300)
            | malformed   a 200 whose body is not JSON
            | truncated   a 200 whose JSON stops half-way
            | nonobjects  (items only) every other item is not an object
            | mismatch    (items only) pagination headers that disagree with the body
    when    = xN          the first N requests (after SKIP): a transient fault
            | /K          every K-th request
            | @P          a share 0 < P <= 1, spread evenly (@0.25 = requests 4, 8, 12, ...)
            | (nothing)   every request (after SKIP): a persistent fault

`run:never-finish` keeps a run RUNNING forever once it has written its items (or ITEMS of them);
`run:silent` keeps it RUNNING with no items at all. Aborting such a run still works.

Each rule counts the requests of its family it sees, 1, 2, 3, ...; when several rules fire on
one request the first wins, a run's own rules before the sandbox-wide ones. Action names ignore
case, "-" and "_" (`non-objects`, `never_finish`). Example:

    SANDBOX_FAULTS="items:429x3,runs:503x2,items:reset/10,items:malformed+4x1,run:never-finish"

As a keyword: `sandbox:fault=items:503x3` (also `sandbox:fault:...`). It survives a TikTok
`q=` URL and keyword trimming; YouTube splits keywords on commas, so separate rules in one
keyword with ";" or spaces, or use one keyword per rule. Instagram keeps only letters and
digits of a tag, so the separators after `sandbox`, `fault` and the family are optional there
(`sandboxfaultitems503x3`), but `+ / @ .` are lost: use `xN` or nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from scrapetrack.exceptions import ConfigError

Family = Literal["runs", "items", "datasets"]
FAMILIES: tuple[Family, ...] = ("runs", "items", "datasets")
STATUS = "status"
DEFAULT_SLOW_SECONDS = 35.0
MAX_SLOW_SECONDS = 300.0
_ACTIONS = ("reset", "slow", "malformed", "truncated", "nonobjects", "mismatch", "approval")
_ITEMS_ONLY = ("nonobjects", "mismatch")
_RULE = re.compile(
    r"^(?P<action>\d{3}|[a-z]+?)(?P<seconds>\d+(?:\.\d+)?)?"
    r"(?:\+(?P<skip>\d+))?(?:x(?P<times>\d+)|/(?P<every>\d+)|@(?P<share>\d*\.?\d+))?$")
_RUN_RULE = re.compile(r"^(?P<action>neverfinish|silent)(?:\+?(?P<after>\d+))?$")
_KEYWORD = re.compile(r"^sandbox:?faults?[:=]?(?P<spec>.+)$", re.IGNORECASE)
# "runsilent" is run:silent, not runs:ilent, so the run rules are tried first.
_LENIENT_FAMILY = re.compile(
    r"^(?P<family>run(?=never|silent)|runs|items|datasets|all)(?P<rest>.+)$")


class FaultSpecError(ConfigError, ValueError):
    """The fault spec cannot be understood."""


@dataclass(frozen=True, slots=True)
class RequestRule:
    """One request fault: which family, what goes wrong, and on which requests."""

    text: str  # as written, for messages
    families: tuple[Family, ...]
    action: str  # "status" or one of _ACTIONS
    status: int | None = None
    seconds: float | None = None  # slow
    skip: int = 0
    times: int | None = None
    every: int | None = None
    share: Fraction | None = None

    def fires(self, seen: int) -> bool:
        """Whether the `seen`-th request of this rule's families gets the fault."""
        nth = seen - self.skip
        if nth <= 0:
            return False
        if self.times is not None:
            return nth <= self.times
        if self.every is not None:
            return nth % self.every == 0
        if self.share is not None:  # Bresenham: exactly floor(n * share) of the first n
            return int(nth * self.share) > int((nth - 1) * self.share)
        return True


@dataclass(frozen=True, slots=True)
class Fault:
    """The fault one request gets."""

    rule: RequestRule
    seen: int  # which request of the rule's families this was

    @property
    def kind(self) -> str:
        """`503`, `reset`, `slow`, ...: what the counters of injected faults are keyed by."""
        return str(self.rule.status) if self.rule.action == STATUS else self.rule.action

    def describe(self) -> str:
        return f"fault {self.rule.text}, request {self.seen}"


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """A parsed spec: request rules, and whether runs never finish (after how many items)."""

    rules: tuple[RequestRule, ...] = ()
    never_finish: bool = False
    hang_after: int | None = None  # items written before a never-finishing run stalls; None: all
    spec: str = ""

    @classmethod
    def parse(cls, spec: str | Iterable[str] | None) -> FaultPlan:
        """The plan for `spec` (a string, or a list of rule strings); FaultSpecError on nonsense."""
        if spec is None:
            return cls()
        if not isinstance(spec, str):
            spec = ",".join(spec)
        return _parse(spec, lenient=False)

    @classmethod
    def from_keyword(cls, keyword: str) -> FaultPlan | None:
        """The plan a `sandbox:fault=SPEC` search keyword asks for; None for other keywords."""
        match = _KEYWORD.match(keyword.strip())
        if match is None:
            return None
        return _parse(match.group("spec").lstrip(":="), lenient=True)

    def __bool__(self) -> bool:
        return bool(self.rules) or self.never_finish

    def __str__(self) -> str:
        return self.spec

    def counter(self) -> FaultCounter:
        return FaultCounter(self)


@dataclass(slots=True)
class FaultCounter:
    """Counts requests against one plan's rules (one counter per scope: sandbox or run)."""

    plan: FaultPlan
    seen: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.seen = [0] * len(self.plan.rules)

    def next(self, family: Family) -> Fault | None:
        """Count one request of `family` with every rule; the fault of the first that fires."""
        chosen: Fault | None = None
        for index, rule in enumerate(self.plan.rules):
            if family in rule.families:
                self.seen[index] += 1
                if chosen is None and rule.fires(self.seen[index]):
                    chosen = Fault(rule, self.seen[index])
        return chosen


def _parse(spec: str, *, lenient: bool) -> FaultPlan:
    rules: list[RequestRule] = []
    run_rules: list[tuple[bool, int | None]] = []
    texts = [text for text in re.split(r"[,;\s]+", spec.strip()) if text]
    for text in texts:
        family, sep, rest = text.lower().partition(":")
        if not sep and lenient and (match := _LENIENT_FAMILY.match(family)):
            family, rest = match.group("family"), match.group("rest")
        elif not sep:
            raise FaultSpecError(f"Fault rule {text!r} needs a family: runs:, items:, datasets:, "
                                 "all: or run: (e.g. items:503x3)")
        rest = re.sub(r"[-_]", "", rest)
        if family == "run":
            run_rules.append(_run_rule(text, rest))
        else:
            rules.append(_request_rule(text, family, rest))
    if len(run_rules) > 1:
        raise FaultSpecError(f"Fault spec {spec!r} has more than one run: rule")
    never_finish, hang_after = run_rules[0] if run_rules else (False, None)
    return FaultPlan(tuple(rules), never_finish, hang_after, ",".join(texts))


def _run_rule(text: str, rest: str) -> tuple[bool, int | None]:
    match = _RUN_RULE.match(rest)
    if match is None:
        hint = (f"; request faults go under runs:, e.g. runs:{rest}" if _RULE.match(rest)
                else "")
        raise FaultSpecError(f"Fault rule {text!r}: run: takes never-finish, never-finish+N "
                             f"or silent{hint}")
    if match.group("action") == "silent":
        return True, 0
    after = match.group("after")
    return True, None if after is None else int(after)


def _request_rule(text: str, family: str, rest: str) -> RequestRule:
    if family == "all":
        families: tuple[Family, ...] = FAMILIES
    elif family in FAMILIES:
        families = (family,)
    else:
        raise FaultSpecError(f"Fault rule {text!r}: unknown family {family!r}; use runs, items, "
                             "datasets, all or run")
    match = _RULE.match(rest)
    if match is None:
        raise FaultSpecError(f"Fault rule {text!r} is not ACTION[+SKIP][xN|/K|@P], "
                             "e.g. items:503x3, runs:429/4, items:reset@0.1")
    action, seconds = match.group("action"), match.group("seconds")
    status: int | None = None
    if action.isdigit():
        status = int(action)
        if status not in (402, 404, 429) and not 500 <= status <= 599:
            raise FaultSpecError(f"Fault rule {text!r}: status {status} is not 402, 404, "
                                 "429 or 5xx")
        action = STATUS
    elif action not in _ACTIONS:
        raise FaultSpecError(f"Fault rule {text!r}: unknown action {action!r}; use 402, 404, "
                             "429, 5xx, "
                             f"{', '.join(_ACTIONS)}")
    if seconds is not None and action != "slow":
        raise FaultSpecError(f"Fault rule {text!r}: only slow takes seconds")
    if action in _ITEMS_ONLY and families != ("items",):
        raise FaultSpecError(f"Fault rule {text!r}: {action} applies to items: only")
    slow = None
    if action == "slow":
        slow = DEFAULT_SLOW_SECONDS if seconds is None else float(seconds)
        if not 0 < slow <= MAX_SLOW_SECONDS:
            raise FaultSpecError(f"Fault rule {text!r}: slow takes 0 < seconds <= "
                                 f"{MAX_SLOW_SECONDS:g}")
    times, every, share = (match.group(name) for name in ("times", "every", "share"))
    if (times is not None and int(times) < 1) or (every is not None and int(every) < 1):
        raise FaultSpecError(f"Fault rule {text!r}: xN and /K take a whole number >= 1")
    fraction = Fraction(share) if share is not None else None
    if fraction is not None and not 0 < fraction <= 1:
        raise FaultSpecError(f"Fault rule {text!r}: @P takes a share 0 < P <= 1")
    return RequestRule(
        text=text, families=families, action=action, status=status, seconds=slow,
        skip=int(match.group("skip") or 0),
        times=None if times is None else int(times), every=None if every is None else int(every),
        share=fraction)
