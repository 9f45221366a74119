"""The default actors as their publishers document them: the input each accepts, how many
items an input asks for, and what a result costs.

The sandbox refuses what the platform refuses (HTTP 400 `invalid-input`, Apify's error body):
a field of the wrong type, an array item of the wrong type, a value outside an enum, a
missing required field, and, for an actor whose users report a 400 for it, a key the actor
does not accept. The message text is ours: Apify documents the status and the type, and its
messages read like "Field input.startUrls.0 must be string", which we follow.

Sources (also in docs/sandbox.md, with the output fields read):

    apidojo~tiktok-scraper            API Dojo's agent-skill docs (SKILL.md, "Inputs"); the
                                      integrations that call it (string startUrls; a 400 on
                                      an unknown key); its store issues (paid plan)
    apify~instagram-scraper           apify/agent-skills, reference/actors/
                                      apify-instagram-scraper.md
    apify~instagram-profile-scraper   apify/agent-skills, .../apify-instagram-profile-scraper.md
    streamers~youtube-scraper         apify/agent-skills, .../streamers-youtube-scraper.md
    clockworks~tiktok-profile-scraper apify/agent-skills, .../clockworks-tiktok-profile-scraper.md

Prices are the sandbox's own round figures, per result, so that costs and caps can be tried;
they are not Apify's price list.

Every input may also carry `_sandbox`, the sandbox's own options (pace, outcome, faults):
the real platform never sees it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["string", "integer", "number", "boolean", "array", "object"]
SANDBOX_KEY = "_sandbox"

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,),
}


class InvalidInput(Exception):
    """An input the actor refuses; the message is Apify's `error.message`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Field:
    kind: Kind
    items: Kind | None = None  # an array's item type
    enum: tuple[str, ...] = ()
    minimum: int | None = None

    def check(self, name: str, value: object) -> None:
        where = f"input.{name}"
        _check_kind(where, value, self.kind)
        if self.enum and value not in self.enum:
            raise InvalidInput(f"Field {where} must be equal to one of the allowed values: "
                               + ", ".join(self.enum))
        if self.minimum is not None and isinstance(value, int | float) \
                and value < self.minimum:
            raise InvalidInput(f"Field {where} must be >= {self.minimum}")
        if self.items is not None and isinstance(value, list):
            for index, item in enumerate(value):
                _check_kind(f"{where}.{index}", item, self.items)


def _check_kind(where: str, value: object, kind: Kind) -> None:
    types = _PYTHON_TYPES[kind]
    # JSON has no separate booleans-as-numbers: true is not an integer.
    if isinstance(value, bool) and bool not in types:
        raise InvalidInput(f"Field {where} must be {kind}")
    if not isinstance(value, types):
        raise InvalidInput(f"Field {where} must be {kind}")


@dataclass(frozen=True, slots=True)
class ActorSpec:
    """One actor's documented input, and the sandbox's price per result."""

    actor_id: str
    fields: Mapping[str, Field]
    required: tuple[str, ...] = ()
    closed: bool = False  # unknown keys are refused
    price_per_item_usd: float = 0.0
    source: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # The item fields its publisher documents: the sandbox writes no others.
    output_fields: frozenset[str] = frozenset()

    def validate(self, run_input: Mapping[str, Any]) -> None:
        for name in self.required:
            if run_input.get(name) in (None, [], ""):
                raise InvalidInput(f"Field input.{name} is required")
        for name, value in run_input.items():
            if name == SANDBOX_KEY:
                continue
            spec = self.fields.get(name)
            if spec is None:
                if self.closed:
                    raise InvalidInput(f"Property input.{name} is not allowed")
                continue
            if value is None:
                continue
            spec.check(name, value)

    def value(self, run_input: Mapping[str, Any], name: str) -> Any:
        value = run_input.get(name)
        return self.defaults.get(name) if value is None else value


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _strings() -> Field:
    return Field("array", items="string")


TIKTOK_SEARCH = ActorSpec(
    "apidojo~tiktok-scraper",
    fields={
        "startUrls": _strings(), "keywords": _strings(),
        "maxItems": Field("integer", minimum=1),
        "sortType": Field("string", enum=("RELEVANCE", "MOST_LIKED", "DATE_POSTED")),
        "location": Field("string"),
        "dateRange": Field("string", enum=("DEFAULT", "ALL_TIME", "YESTERDAY", "THIS_WEEK",
                                           "THIS_MONTH", "LAST_THREE_MONTHS",
                                           "LAST_SIX_MONTHS")),
        "includeSearchKeywords": Field("boolean"),
        "customMapFunction": Field("string"),
    },
    closed=True, price_per_item_usd=0.0003,
    source="API Dojo's agent-skill docs for apidojo/tiktok-scraper; integrations calling it",
    output_fields=_names(
        "id title views likes comments shares bookmarks hashtags uploadedAt "
        "uploadedAtFormatted postPage textLanguage video song subtitleInformation poi channel "
        "searchKeyword inputSource noResults"))
TIKTOK_PROFILE = ActorSpec(
    "clockworks~tiktok-profile-scraper",
    fields={
        "profiles": _strings(), "resultsPerPage": Field("integer", minimum=1),
        "profileSorting": Field("string", enum=("latest", "popular", "oldest")),
        "profileScrapeSections": Field("array", items="string"),
        "oldestPostDateUnified": Field("string"), "newestPostDate": Field("string"),
        "excludePinnedPosts": Field("boolean"), "shouldDownloadVideos": Field("boolean"),
        "shouldDownloadCovers": Field("boolean"), "shouldDownloadSubtitles": Field("boolean"),
        "shouldDownloadSlideshowImages": Field("boolean"),
    },
    required=("profiles",), price_per_item_usd=0.0003, defaults={"resultsPerPage": 100},
    source="apify/agent-skills: clockworks-tiktok-profile-scraper.md",
    output_fields=_names(
        "id text createTime createTimeISO webVideoUrl input isAd isSlideshow isPinned "
        "playCount diggCount commentCount shareCount collectCount hashtags mentions videoMeta "
        "musicMeta mediaUrls authorMeta textLanguage"))  # textLanguage: its README's sample
INSTAGRAM_SEARCH = ActorSpec(
    "apify~instagram-scraper",
    fields={
        "directUrls": _strings(), "search": Field("string"),
        "searchType": Field("string", enum=("user", "hashtag", "place")),
        "searchLimit": Field("integer", minimum=1),
        "resultsType": Field("string", enum=("posts", "comments", "details", "mentions",
                                             "reels", "stories")),
        "resultsLimit": Field("integer", minimum=1),
        "onlyPostsNewerThan": Field("string"), "addParentData": Field("boolean"),
    },
    price_per_item_usd=0.0023, defaults={"resultsLimit": 200, "searchLimit": 1},
    source="apify/agent-skills: apify-instagram-scraper.md",
    output_fields=_names(
        "inputUrl url type shortCode id caption timestamp hashtags mentions alt displayUrl "
        "images dimensionsHeight dimensionsWidth likesCount commentsCount firstComment "
        "latestComments childPosts ownerFullName ownerUsername ownerId videoViewCount "
        "videoPlayCount videoDuration videoUrl productType"))
INSTAGRAM_PROFILE = ActorSpec(
    "apify~instagram-profile-scraper",
    fields={"usernames": _strings(), "includeAboutSection": Field("boolean")},
    required=("usernames",), price_per_item_usd=0.0026,
    source="apify/agent-skills: apify-instagram-profile-scraper.md",
    output_fields=_names(
        "inputUrl id username url fullName biography followersCount followsCount postsCount "
        "highlightReelCount igtvVideoCount isBusinessAccount verified private joinedRecently "
        "hasChannel businessCategoryName externalUrl externalUrlShimmed externalUrls "
        "profilePicUrl profilePicUrlHD relatedProfiles latestPosts latestIgtvVideos"))
YOUTUBE_SEARCH = ActorSpec(
    "streamers~youtube-scraper",
    fields={
        "searchQueries": _strings(), "startUrls": Field("array"),
        "maxResults": Field("integer", minimum=0),
        "maxResultsShorts": Field("integer", minimum=0),
        "maxResultStreams": Field("integer", minimum=0),
        "sortingOrder": Field("string", enum=("relevance", "rating", "date", "views")),
        "dateFilter": Field("string", enum=("hour", "today", "week", "month", "year")),
        "videoType": Field("string", enum=("video", "movie")),
        "lengthFilter": Field("string", enum=("under4", "between420", "plus20")),
        "downloadSubtitles": Field("boolean"),
    },
    price_per_item_usd=0.005, defaults={"maxResults": 0},
    source="apify/agent-skills: streamers-youtube-scraper.md",
    output_fields=_names(
        "id title url thumbnailUrl duration date viewCount likes commentsCount text "
        "descriptionLinks location isMonetized commentsTurnedOff subtitles channelName "
        "channelUrl numberOfSubscribers channelDescription channelTotalVideos "
        "channelTotalViews channelJoinedDate channelLocation inputChannelUrl fromYTUrl"))

ACTORS: dict[str, ActorSpec] = {spec.actor_id: spec for spec in (
    TIKTOK_SEARCH, TIKTOK_PROFILE, INSTAGRAM_SEARCH, INSTAGRAM_PROFILE, YOUTUBE_SEARCH)}
# Any other actor the sandbox plays (a deployment's own choice) is read leniently.
GENERIC = ActorSpec("", fields={}, price_per_item_usd=0.0005)


def spec_for(actor_id: str) -> ActorSpec:
    return ACTORS.get(actor_id.replace("/", "~").lower(), GENERIC)


def max_by_charge(price_per_item_usd: float, max_total_charge_usd: float | None) -> int | None:
    """How many results a charge cap pays for; None when uncapped or free."""
    if max_total_charge_usd is None or price_per_item_usd <= 0:
        return None
    return max(0, math.floor(max_total_charge_usd / price_per_item_usd + 1e-9))
