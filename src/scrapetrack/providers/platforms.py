"""The platforms we search, each with its actor input for a keyword search and its normaliser.

The actor ids come from Settings (`APIFY_ACTOR_TIKTOK`, ...), so a deployment can swap actors
without code; the inputs match the default actors' input schemas.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
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

InputBuilder = Callable[[Sequence[str], int, Settings], dict[str, Any]]
Normalizer = Callable[[Mapping[str, Any], Sequence[str]], Creator | None]


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    label: str
    build_keyword_input: InputBuilder  # (keywords, target item count, settings) → run input
    normalize: Normalizer  # (dataset item, job keywords) → Creator or None

    def actor_id(self, settings: Settings) -> str:
        return settings.actor_for(self.name)


def tiktok_keyword_input(keywords: Sequence[str], target: int,
                         settings: Settings) -> dict[str, Any]:
    """The seed's input for apidojo~tiktok-scraper: one search URL per keyword.

    `maxItems` caps the whole run (the actor charges per item), so it is the job's target.
    """
    return {
        "startUrls": [{"url": f"https://www.tiktok.com/search?q={quote(k, safe='')}"}
                      for k in keywords],
        "maxItems": target,
        "location": settings.location,
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


PLATFORMS: dict[str, Platform] = {
    "tiktok": Platform("tiktok", "TikTok", tiktok_keyword_input, normalize_tiktok),
    "instagram": Platform("instagram", "Instagram", instagram_keyword_input, normalize_instagram),
    "youtube": Platform("youtube", "YouTube", youtube_keyword_input, normalize_youtube),
}


def get_platform(name: str) -> Platform:
    """The platform called `name` (exactly: "tiktok", "instagram" or "youtube")."""
    try:
        return PLATFORMS[name]
    except (KeyError, TypeError):
        raise UnknownPlatform() from None
