"""Dataset items → `Creator`, whatever the actor and whatever shape its items take.

Scraper output is loose: the same actor nests the author (`authorMeta{...}`, `channel{...}`) or
flattens it (`"channel.username"`), writes numbers as `12345`, `"12,345"` or `"1.2M"`, and mixes
in error items with no author at all. Every function here takes anything and returns a value
or None; none of them raises on odd input.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from scrapetrack.creators import Creator, clean_text, http_url
from scrapetrack.exceptions import UnknownPlatform

_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9}
_NUMBER = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([kmb])?$")
# Where items say which search found them: apidojo's `searchKeyword` (with
# includeSearchKeywords on) or `inputSource`, clockworks' `searchQuery`, others' `input`, ...
_KEYWORD_FIELDS = ("searchKeyword", "searchQuery", "keyword", "input", "inputSource", "query",
                   "search", "searchTerm")
_KEYWORD_URL_FIELDS = ("inputSource", "inputUrl", "fromYTUrl", "searchUrl")
_TEXT_FIELDS = ("title", "text", "caption", "desc")
_FOLD = re.compile(r"[\s#_]+")
_TAG_FOLD = re.compile(r"[\W_]+")
_HASHTAG = re.compile(r"#(\w[\w-]*)")
# Scraped text is untrusted: longer than this is cut (a name) or dropped (a handle).
MAX_HANDLE = 100
MAX_NAME = 200
MAX_BIO = 2000


def parse_count(value: object) -> int | None:
    """A non-negative count from 1234, 1234.0, "1,234", "1 234", "1.2M", "3k"; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value) if math.isfinite(value) and value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower().replace(",", "").replace("_", "").replace(" ", "")
    match = _NUMBER.match(text)
    if not match:
        return None
    return round(float(match.group(1)) * _SUFFIXES.get(match.group(2) or "", 1))


def _text(value: object, limit: int = MAX_NAME, *, multiline: bool = False) -> str | None:
    """Trimmed, cleaned text cut to `limit` characters; None when nothing is left."""
    if not isinstance(value, str):
        return None
    text = clean_text(value, multiline=multiline).strip()
    return text[:limit].rstrip() or None


def _bio(value: object) -> str | None:
    return _text(value, MAX_BIO, multiline=True)


def _url(value: object) -> str | None:
    return http_url(value.strip()) if isinstance(value, str) else None


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return value is True or (isinstance(value, int) and value == 1)


def _handle(value: object) -> str | None:
    text = _text(value, limit=10 * MAX_HANDLE)
    if text is None:
        return None
    handle = text.lstrip("@").strip()
    # A handle is one token; anything with spaces is a display name, not a handle, and
    # anything longer than any platform allows is not one either.
    if not handle or len(handle) > MAX_HANDLE or any(ch.isspace() for ch in handle):
        return None
    return handle


def _profile(handle: str, base: str) -> str:
    return base + quote(handle, safe="._-")


def _block(item: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The `name` sub-object, nested (`item[name]`) merged with flattened (`"name.x"`) keys."""
    nested = item.get(name)
    merged: dict[str, Any] = dict(nested) if isinstance(nested, Mapping) else {}
    prefix = f"{name}."
    for key, value in item.items():
        if isinstance(key, str) and key.startswith(prefix):
            merged.setdefault(key[len(prefix):], value)
    return merged


def _first(source: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = source.get(key)
        if value is not None and value != "":
            return value
    return None


def engagement_rate(*, likes: int | None, comments: int | None, shares: int | None = None,
                    views: int | None = None, followers: int | None = None) -> float | None:
    """Engagement of one post, as a fraction (0.05 = 5 %).

    Video platforms (views known and > 0): (likes + comments + shares) / views.
    Otherwise, when followers are known and > 0 (Instagram): (likes + comments) / followers.
    None when likes and comments are both unknown or there is nothing to divide by; an
    unknown comment or share count counts as 0.
    """
    if likes is None and comments is None:
        return None
    if views:
        return round(((likes or 0) + (comments or 0) + (shares or 0)) / views, 6)
    if followers:
        return round(((likes or 0) + (comments or 0)) / followers, 6)
    return None


def matched_keyword(item: Mapping[str, Any], keywords: Sequence[str]) -> str | None:
    """The job keyword this item was found by.

    What the item says first: its searchKeyword/searchQuery/input/... field (or the
    `q`/`search_query`/tag of its input URL) when it equals one of the job's keywords,
    ignoring case, spaces and '#'. Else the first keyword its hashtags or text carry, folded
    to letters and digits ("self-care" matches #selfcare); else the job's only keyword;
    else None.
    """
    wanted = {_fold(k): k for k in keywords if isinstance(k, str) and _fold(k)}
    for field in _KEYWORD_FIELDS:
        candidate = item.get(field)
        if isinstance(candidate, str) and _fold(candidate) in wanted:
            return wanted[_fold(candidate)]
    for field in _KEYWORD_URL_FIELDS:
        url = item.get(field)
        if isinstance(url, str) and (candidate := _keyword_in_url(url)) is not None \
                and _fold(candidate) in wanted:
            return wanted[_fold(candidate)]
    if len(keywords) == 1:
        return keywords[0]
    return _keyword_in_content(item, keywords)


def _keyword_in_content(item: Mapping[str, Any], keywords: Sequence[str]) -> str | None:
    """The first keyword (by the job's order) among the item's hashtags, else in its text."""
    folded = [(k, _tag_fold(k)) for k in keywords if isinstance(k, str) and _tag_fold(k)]
    tags: set[str] = set()
    texts: list[str] = []
    raw_tags = item.get("hashtags")
    for tag in raw_tags if isinstance(raw_tags, list) else ():
        name = tag.get("name") if isinstance(tag, Mapping) else tag
        if isinstance(name, str):
            tags.add(_tag_fold(name))
    for field in _TEXT_FIELDS:
        text = item.get(field)
        if isinstance(text, str):
            tags.update(_tag_fold(tag) for tag in _HASHTAG.findall(text))
            texts.append(_tag_fold(text))
    for keyword, key in folded:
        if key in tags:
            return keyword
    joined = " ".join(texts)
    return next((keyword for keyword, key in folded if key in joined), None)


@functools.lru_cache(maxsize=4096)
def _tag_fold(text: str) -> str:
    return _TAG_FOLD.sub("", text.casefold())


@functools.lru_cache(maxsize=4096)  # a job's items repeat the same few search terms
def _fold(text: str) -> str:
    return _FOLD.sub("", text.casefold())


@functools.lru_cache(maxsize=1024)  # the same few search URLs, over and over
def _keyword_in_url(url: str) -> str | None:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    for name in ("q", "search_query", "query"):
        if query.get(name):
            return query[name][0]
    match = re.search(r"/(?:explore/tags|hashtag|tag)/([^/?#]+)", parts.path)
    return unquote(match.group(1)) if match else None


# An address as people write one in a bio; not RFC 5322, which bios never need.
EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*"
                   r"\.[A-Za-z]{2,24}")
MAX_EMAILS = 5
MAX_PLACE = 100
UNDETERMINED = {"un", "und", ""}  # TikTok's textLanguage for a caption with no words


def emails_in(text: str | None) -> tuple[str, ...]:
    """The addresses in a bio, lower-cased, first seen first."""
    found = dict.fromkeys(m.group(0).lower() for m in EMAIL.finditer(text or ""))
    return tuple(found)[:MAX_EMAILS]


def _place(value: object) -> str | None:
    return _text(value, limit=MAX_PLACE)


def _language(value: object) -> str | None:
    code = _text(value, limit=20)
    return None if code is None or code.lower() in UNDETERMINED else code.lower()


def _first_link(links: object) -> str | None:
    """The first http(s) link of a list like YouTube's `channelDescriptionLinks`."""
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping) and (url := _url(link.get("url"))):
            return url
    return None


def normalize_tiktok(item: Mapping[str, Any], keywords: Sequence[str]) -> Creator | None:
    """TikTok items: clockworks-style `authorMeta` or apidojo-style `channel`, nested or flat."""
    author = _block(item, "authorMeta") or _block(item, "author")
    channel = _block(item, "channel")
    if author:  # authorMeta.name is the handle, nickName the display name
        handle = _handle(_first(author, "name", "uniqueId", "username"))
        display = _text(_first(author, "nickName", "nickname"))
        followers = parse_count(_first(author, "fans", "followers", "followerCount"))
        bio = _bio(_first(author, "signature", "bio"))
        avatar = _url(_first(author, "avatar", "originalAvatarUrl", "avatarMedium"))
        url, verified = _url(_first(author, "profileUrl", "url")), _flag(author.get("verified"))
        link, country = _url(author.get("bioLink")), _place(author.get("region"))
    elif channel:  # channel.username is the handle, channel.name the display name
        handle = _handle(_first(channel, "username", "uniqueId"))
        display = _text(channel.get("name"))
        followers = parse_count(_first(channel, "followers", "fans", "followerCount"))
        bio = _bio(_first(channel, "bio", "signature"))
        avatar = _url(_first(channel, "avatar", "avatarUrl"))
        url, verified = _url(_first(channel, "url", "profileUrl")), _flag(channel.get("verified"))
        link, country = None, None  # apidojo's channel carries neither
    else:
        return None
    if handle is None:
        return None
    rate = engagement_rate(
        likes=parse_count(_first(item, "diggCount", "likes", "likeCount")),
        comments=parse_count(_first(item, "commentCount", "comments")),
        shares=parse_count(_first(item, "shareCount", "shares")),
        views=parse_count(_first(item, "playCount", "views", "viewCount")))
    return Creator(platform="tiktok", handle=handle, display_name=display, followers=followers,
                   engagement_rate=rate, bio=bio,
                   profile_url=url or _profile(handle, "https://www.tiktok.com/@"),
                   avatar_url=avatar,
                   verified=verified, matched_keyword=matched_keyword(item, keywords),
                   emails=emails_in(bio), external_url=link, country=country,
                   language=_language(item.get("textLanguage")))


def normalize_instagram(item: Mapping[str, Any], keywords: Sequence[str]) -> Creator | None:
    """Instagram post items (`ownerUsername`, ...) or profile items (`username`, ...)."""
    owner = _block(item, "owner")
    if _text(item.get("ownerUsername")) or owner:
        handle = _handle(_first(item, "ownerUsername") or owner.get("username"))
        display = _text(_first(item, "ownerFullName") or owner.get("fullName"))
        followers = parse_count(_first(item, "ownerFollowersCount")
                                or _first(owner, "followersCount", "followers"))
        bio = _bio(owner.get("biography"))
        avatar = _url(_first(item, "ownerProfilePicUrl") or owner.get("profilePicUrl"))
        verified = _flag(_first(item, "ownerIsVerified") or _first(owner, "isVerified",
                                                                    "verified"))
        url = None  # a post item's `url` is the post, not the profile
        link = None  # a post names its owner only
    elif _text(item.get("username")) and "error" not in item:
        handle = _handle(item.get("username"))
        display = _text(item.get("fullName"))
        followers = parse_count(_first(item, "followersCount", "followers"))
        bio = _bio(_first(item, "biography", "bio"))
        avatar = _url(_first(item, "profilePicUrlHD", "profilePicUrl"))
        verified, url = _flag(item.get("verified")), _url(item.get("url"))
        link = _url(item.get("externalUrl"))
    else:
        return None
    if handle is None:
        return None
    rate = engagement_rate(likes=parse_count(_first(item, "likesCount", "likes")),
                           comments=parse_count(_first(item, "commentsCount", "comments")),
                           followers=followers)
    return Creator(platform="instagram", handle=handle, display_name=display,
                   followers=followers, engagement_rate=rate, bio=bio,
                   profile_url=url or _profile(handle, "https://www.instagram.com/") + "/",
                   avatar_url=avatar,
                   verified=verified, matched_keyword=matched_keyword(item, keywords),
                   emails=emails_in(bio), external_url=link)


def normalize_youtube(item: Mapping[str, Any], keywords: Sequence[str]) -> Creator | None:
    """YouTube video items (`channelName`, `channelUrl`, `numberOfSubscribers`, ...)."""
    raw_url = _text(item.get("channelUrl"), limit=10 * MAX_NAME)
    channel_url = _url(raw_url)
    handle = _handle(_first(item, "channelUsername", "channelHandle"))
    if handle is None and raw_url:
        match = re.search(r"/(@[^/?#]+|channel/[^/?#]+|c/[^/?#]+|user/[^/?#]+)", raw_url)
        handle = _handle(unquote(match.group(1)).rsplit("/", 1)[-1]) if match else None
    if handle is None:
        return None
    rate = engagement_rate(likes=parse_count(_first(item, "likes", "likeCount")),
                           comments=parse_count(_first(item, "commentsCount", "commentCount")),
                           views=parse_count(_first(item, "viewCount", "views")))
    bio = _bio(item.get("channelDescription"))
    return Creator(platform="youtube", handle=handle,
                   display_name=_text(item.get("channelName")),
                   followers=parse_count(_first(item, "numberOfSubscribers", "subscriberCount")),
                   engagement_rate=rate, bio=bio,
                   profile_url=channel_url or _profile(handle, "https://www.youtube.com/@"),
                   avatar_url=_url(item.get("channelAvatarUrl")),
                   verified=_flag(item.get("isChannelVerified")),
                   matched_keyword=matched_keyword(item, keywords),
                   emails=emails_in(bio),
                   external_url=_first_link(item.get("channelDescriptionLinks")),
                   country=_place(item.get("channelLocation")))


_NORMALIZERS: dict[str, Callable[[Mapping[str, Any], Sequence[str]], Creator | None]] = {
    "tiktok": normalize_tiktok, "instagram": normalize_instagram, "youtube": normalize_youtube,
}


def normalize_item(platform: str, item: object, keywords: Sequence[str]) -> Creator | None:
    """The creator an item of `platform` holds, or None when it holds none (error items,
    missing or blank author, anything that is not an object).

    Raises `UnknownPlatform` for a platform we do not know: that is a bug, not odd data.
    """
    try:
        normalize = _NORMALIZERS[platform]
    except KeyError:
        raise UnknownPlatform(f"Unknown platform: {platform!r}") from None
    if not isinstance(item, Mapping):
        return None
    try:
        return normalize(item, keywords)
    except (TypeError, ValueError, AttributeError, OverflowError):
        return None  # belt and braces: odd data must never stop a job
