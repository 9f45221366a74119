"""The platforms we search, each with its actor inputs (a keyword search, and the profile
run of a similar-creators search) and its normaliser.

The actor ids come from Settings (`APIFY_ACTOR_TIKTOK`, `APIFY_ACTOR_TIKTOK_PROFILE`, ...), so a
deployment can swap actors without code; the inputs match the default actors' input schemas:

    tiktok     apidojo~tiktok-scraper (`keywords`); clockworks~tiktok-profile-scraper
               (`profiles`, `resultsPerPage`): one video item per post, `authorMeta` on each
    instagram  apify~instagram-scraper (hashtag pages); apify~instagram-profile-scraper
               (`usernames`): one profile item, its recent posts under `latestPosts`
    youtube    streamers~youtube-scraper for both: `searchQueries`, or the channel's
               videos page in `startUrls`; video items carry their channel
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from scrapetrack.config import Settings
from scrapetrack.creators import Creator
from scrapetrack.exceptions import UnknownPlatform
from scrapetrack.providers.normalize import (
    normalize_instagram,
    normalize_tiktok,
    normalize_youtube,
)
from scrapetrack.similarity import Profile, build_profile

InputBuilder = Callable[[Sequence[str], int, Settings], dict[str, Any]]
ProfileInputBuilder = Callable[[str, Settings], dict[str, Any]]
LookupInputBuilder = Callable[[Sequence[str], Settings], dict[str, Any]]
Normalizer = Callable[[Mapping[str, Any], Sequence[str]], Creator | None]


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    label: str
    build_keyword_input: InputBuilder  # (keywords, target item count, settings) → run input
    normalize: Normalizer  # (dataset item, job keywords) → Creator or None
    build_profile_input: ProfileInputBuilder  # (handle, settings) → profile run input
    # Its search items name creators without their numbers: look them up in batches with
    # (handles, settings) → the profile actor's input. None where the items carry them.
    build_lookup_input: LookupInputBuilder | None = None

    def actor_id(self, settings: Settings) -> str:
        return settings.actor_for(self.name)

    def profile_actor_id(self, settings: Settings) -> str:
        return settings.actor_for(self.name, "profile")

    def read_profile(self, items: Sequence[Mapping[str, Any]], handle: str) -> Profile | None:
        """The source creator from its profile run's items, or None if they hold no creator.

        Items of the handle asked for are used; if none match exactly (a channel whose URL
        is not its handle), the creator most items belong to: the run scraped one profile.
        """
        found: list[tuple[Creator, Mapping[str, Any]]] = []
        for item in items:
            creator = self.normalize(item, [])
            if creator is not None:
                found.append((creator, item))
        if not found:
            return None
        mine = [(c, i) for c, i in found if c.key[1] == handle.lower().lstrip("@")]
        if not mine:
            counts: dict[str, int] = {}
            for creator, _ in found:
                counts[creator.key[1]] = counts.get(creator.key[1], 0) + 1
            top = max(counts, key=lambda key: counts[key])
            mine = [(c, i) for c, i in found if c.key[1] == top]
        posts: list[Mapping[str, Any]] = []
        rates: list[float | None] = []
        for creator, item in mine:
            for post in profile_posts(item):
                posts.append(post)
                # A profile item's post is read as the profile with the post's own stats,
                # so it is scored against the profile's follower count (Instagram's formula).
                merged = creator if post is item else self.normalize(
                    {**item, **{k: v for k, v in post.items() if not k.startswith("owner")}},
                    [])
                rates.append(merged.engagement_rate if merged else None)
        best = max((c for c, _ in mine), key=lambda c: c.followers or -1)
        return build_profile(best.handle, _first_set(c.display_name for c, _ in mine),
                             best.followers, rates, _first_set(c.bio for c, _ in mine), posts)


def tiktok_keyword_input(keywords: Sequence[str], target: int,
                         settings: Settings) -> dict[str, Any]:
    """apidojo~tiktok-scraper searching `keywords` (its documented search input), each item
    saying which keyword found it (`includeSearchKeywords`).

    `maxItems` caps the whole run (the actor charges per item), so it is the job's target.
    """
    return {
        "keywords": list(keywords),
        "maxItems": target,
        "location": settings.location,
        "includeSearchKeywords": True,
    }


def instagram_keyword_input(keywords: Sequence[str], target: int,
                            settings: Settings) -> dict[str, Any]:
    """apify~instagram-scraper on each keyword's hashtag page; `resultsLimit` is per URL."""
    tags = [tag for tag in (re.sub(r"[^\w]", "", k.lower()) for k in keywords) if tag]
    return {
        "directUrls": [f"https://www.instagram.com/explore/tags/{quote(tag)}/" for tag in tags],
        "resultsType": "posts",
        "resultsLimit": math.ceil(target / max(1, len(tags))),
        "addParentData": False,
    }


def youtube_keyword_input(keywords: Sequence[str], target: int,
                          settings: Settings) -> dict[str, Any]:
    """streamers~youtube-scraper searches; `maxResults` is per query, shorts/streams off."""
    return {
        "searchQueries": list(keywords),
        "maxResults": math.ceil(target / max(1, len(keywords))),
        "maxResultsShorts": 0,
        "maxResultStreams": 0,
    }


def tiktok_profile_input(handle: str, settings: Settings) -> dict[str, Any]:
    """clockworks~tiktok-profile-scraper: the creator's latest videos, no downloads."""
    return {
        "profiles": [handle],
        "resultsPerPage": settings.similar_profile_posts,
        "profileScrapeSections": ["videos"],
        "profileSorting": "latest",
        "shouldDownloadVideos": False,
        "shouldDownloadCovers": False,
    }


def instagram_profile_input(handle: str, settings: Settings) -> dict[str, Any]:
    """apify~instagram-profile-scraper: one item per username, with its `latestPosts`."""
    return {"usernames": [handle]}


def instagram_lookup_input(handles: Sequence[str], settings: Settings) -> dict[str, Any]:
    """apify~instagram-profile-scraper on several usernames: one profile item each."""
    return {"usernames": list(handles)}


def youtube_profile_input(handle: str, settings: Settings) -> dict[str, Any]:
    """streamers~youtube-scraper on the channel's videos page (a channel id or a handle)."""
    path = f"channel/{handle}" if re.fullmatch(r"UC[\w-]{22}", handle) else f"@{handle}"
    return {
        "startUrls": [{"url": f"https://www.youtube.com/{quote(path, safe='/@')}/videos"}],
        "maxResults": settings.similar_profile_posts,
        "maxResultsShorts": 0,
        "maxResultStreams": 0,
    }


def profile_posts(item: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The posts an item of a profile run stands for: a profile item's `latestPosts`, or the
    item itself (a video)."""
    latest = item.get("latestPosts")
    if isinstance(latest, list):
        return [post for post in latest if isinstance(post, Mapping)]
    return [item]


def _first_set(values: Iterable[str | None]) -> str | None:
    return next((v for v in values if v), None)


PLATFORMS: dict[str, Platform] = {
    "tiktok": Platform("tiktok", "TikTok", tiktok_keyword_input, normalize_tiktok,
                       tiktok_profile_input),
    "instagram": Platform("instagram", "Instagram", instagram_keyword_input, normalize_instagram,
                          instagram_profile_input, build_lookup_input=instagram_lookup_input),
    "youtube": Platform("youtube", "YouTube", youtube_keyword_input, normalize_youtube,
                        youtube_profile_input),
}


def get_platform(name: str) -> Platform:
    """The platform called `name` (exactly: "tiktok", "instagram" or "youtube")."""
    try:
        return PLATFORMS[name]
    except (KeyError, TypeError):
        raise UnknownPlatform() from None
