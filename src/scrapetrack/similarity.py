"""Similar creators, pure: the terms of a post, what a profile is about, and how alike two
creators are. No I/O; the similar-creators pipeline feeds it and stores what it returns.

Scoring (every part is 0..1, the score is their weighted sum, so 0..1 too):

    hashtags    0.45 * shared hashtags / the source's top hashtags
    keywords    0.20 * shared keywords / the source's top keywords
    audience    0.20 * max(0, 1 - |log10(followers) - log10(source followers)| / 2)
                       (1 at the same size, 0.5 at 10 times apart, 0 at 100 times or more)
    engagement  0.15 * min(rate, source rate) / max(rate, source rate)

An unknown follower count or engagement rate scores 0 for that part.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

WEIGHTS = {"hashtags": 0.45, "keywords": 0.20, "audience": 0.20, "engagement": 0.15}
TOP_HASHTAGS = 5
TOP_KEYWORDS = 5
SEARCH_TERMS = 3
MAX_TERMS_PER_ITEM = 30
# Words every kind of caption uses ("3 mistakes everyone makes"): no niche in them.
FILLER_WORDS = frozenset({
    "budget", "hack", "hacks", "make", "makes", "mistake", "mistakes", "rating", "routine",
    "secret", "story", "time", "today", "trick", "tricks", "tried", "truth", "vlog", "watch",
    "week", "year",
})
# Tags everybody adds to reach the feed; they say nothing about a creator's niche.
GENERIC_TAGS = frozenset({
    "fyp", "foryou", "foryoupage", "fy", "fypシ", "viral", "trending", "explore", "reels",
    "reel", "shorts", "short", "tiktok", "instagram", "youtube", "instagood", "parati",
    "xyzbca", "trend", "video", "new", "like", "follow", "love", "tips", "howto",
})
STOPWORDS = frozenset({
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "but", "by", "can", "clicks", "could", "day",
    "days", "did", "dm", "do", "does", "doing", "done", "dont", "down", "each", "end", "even",
    "every", "everyone", "few", "finally", "for", "from", "get", "gets", "got", "had", "has",
    "have", "having", "he", "her", "here", "hers", "him", "his", "honest", "how", "i", "if", "im",
    "in", "into", "is", "it", "its", "just", "know", "let", "like", "make", "me", "more", "most",
    "my", "new", "no", "nobody", "not", "now", "of", "off", "on", "once", "one", "only", "or",
    "other", "our", "out", "over", "own", "pov", "really", "replying", "same", "see", "she",
    "should", "so", "some", "still", "such", "tell", "tells", "than", "that", "thats", "the",
    "their", "them", "then", "there", "these", "they", "thing", "things", "this", "those",
    "through", "to", "too", "try", "until", "up", "us", "very", "video", "wait", "want", "was",
    "way", "we", "well", "were", "what", "when", "where", "which", "while", "who", "why", "will",
    "with", "would", "yes", "yet", "you", "your", "yours",
})
_HASHTAG = re.compile(r"#([^\s#.,;:!?()\[\]{}\"'`]+)")
# Hashtags, @mentions, e-mail addresses and links are not what a creator talks about.
_NOT_WORDS = re.compile(r"#\S+|@\S+|\S+@\S+|https?://\S+|www\.\S+")
_WORD = re.compile(r"[^\W\d_]{3,}")
_TEXT_FIELDS = ("text", "caption", "title", "description", "desc", "videoDescription")


def fold_tag(value: object) -> str | None:
    """A hashtag as compared: lower-case, without '#'; None if nothing is left."""
    if not isinstance(value, str):
        return None
    tag = value.strip().lstrip("#").strip().casefold()
    return tag or None


def post_hashtags(item: Mapping[str, Any]) -> list[str]:
    """The hashtags of a post, video or reel: its `hashtags` list (strings or {name}) and the
    #tags written in its text, caption or title; each once, in order."""
    found: list[str] = []
    tags = item.get("hashtags")
    if isinstance(tags, list):
        for tag in tags:
            found.append(fold_tag(tag.get("name") if isinstance(tag, Mapping) else tag) or "")
    for field in _TEXT_FIELDS:
        text = item.get(field)
        if isinstance(text, str):
            found.extend(fold_tag(match) or "" for match in _HASHTAG.findall(text))
    return [tag for tag in dict.fromkeys(found) if tag][:MAX_TERMS_PER_ITEM]


def words(text: object) -> list[str]:
    """The meaningful words of a text: letters only, 3+ long; no stopwords, hashtags,
    mentions or links."""
    if not isinstance(text, str):
        return []
    text = _NOT_WORDS.sub(" ", text)
    return [w for w in (m.casefold() for m in _WORD.findall(text))
            if w not in STOPWORDS and w not in FILLER_WORDS]


def post_words(item: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for field in _TEXT_FIELDS:
        out.extend(words(item.get(field)))
    return out


@dataclass(frozen=True, slots=True)
class Profile:
    """The source creator as its profile run showed it, with what its posts talk about."""

    handle: str
    display_name: str | None
    followers: int | None
    engagement_rate: float | None
    bio: str | None
    posts: int
    hashtags: Mapping[str, int]  # tag → posts using it
    words: Mapping[str, int]  # word → times used in captions and bio

    def to_json(self) -> dict[str, Any]:
        return {"handle": self.handle, "displayName": self.display_name,
                "followers": self.followers, "engagementRate": self.engagement_rate,
                "bio": self.bio, "posts": self.posts, "hashtags": dict(self.hashtags),
                "words": dict(self.words)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        return cls(handle=str(data["handle"]), display_name=data.get("displayName"),
                   followers=data.get("followers"), engagement_rate=data.get("engagementRate"),
                   bio=data.get("bio"), posts=int(data.get("posts") or 0),
                   hashtags=dict(data.get("hashtags") or {}), words=dict(data.get("words") or {}))


def build_profile(handle: str, display_name: str | None, followers: int | None,
                  engagement_rates: Iterable[float | None], bio: str | None,
                  posts: Sequence[Mapping[str, Any]], keep_words: int = 50) -> Profile:
    """A source profile from its normalised fields and its raw posts."""
    tags: Counter[str] = Counter()
    said: Counter[str] = Counter()
    for post in posts:
        tags.update(post_hashtags(post))
        said.update(post_words(post))
    said.update(words(bio))
    rates = [r for r in engagement_rates if r is not None]
    return Profile(handle=handle, display_name=display_name, followers=followers,
                   engagement_rate=round(sum(rates) / len(rates), 6) if rates else None,
                   bio=bio, posts=len(posts), hashtags=dict(_top(tags, 30)),
                   words=dict(_top(said, keep_words)))


@dataclass(frozen=True, slots=True)
class Terms:
    """What the analysis derived: the source's niche hashtags and keywords, and the search
    terms the keyword runs use."""

    hashtags: tuple[str, ...]
    keywords: tuple[str, ...]
    search: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"hashtags": list(self.hashtags), "keywords": list(self.keywords),
                "search": list(self.search)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Terms:
        return cls(tuple(data.get("hashtags") or ()), tuple(data.get("keywords") or ()),
                   tuple(data.get("search") or ()))


def analyze(profile: Profile) -> Terms:
    """The top niche hashtags (generic ones like #fyp left out), the top keywords of the
    captions and bio (said at least twice, unless nothing is), and up to three search terms:
    the top hashtags, topped up with keywords. Empty search terms mean there is nothing to
    search for."""
    hashtags = tuple(tag for tag, _ in _top(
        Counter({t: n for t, n in profile.hashtags.items() if t not in GENERIC_TAGS}),
        TOP_HASHTAGS))
    candidates = Counter({w: n for w, n in profile.words.items()
                          if w not in GENERIC_TAGS and w not in hashtags})
    repeated = Counter({w: n for w, n in candidates.items() if n >= 2})
    keywords = tuple(w for w, _ in _top(repeated or candidates, TOP_KEYWORDS))
    search = tuple(dict.fromkeys([*hashtags, *keywords]))[:SEARCH_TERMS]
    return Terms(hashtags=hashtags, keywords=keywords, search=search)


def candidate_terms(item: Mapping[str, Any], keywords: Iterable[str]) -> tuple[str, ...]:
    """What a search item says about its creator: its hashtags ("#tag") and those of the
    source's keywords its text uses. Only those are kept, so rows stay small."""
    wanted = set(keywords)
    tags = [f"#{tag}" for tag in post_hashtags(item)]
    said = [w for w in dict.fromkeys(post_words(item)) if w in wanted]
    return tuple([*tags, *said][:MAX_TERMS_PER_ITEM])


@dataclass(frozen=True, slots=True)
class Candidate:
    handle: str
    followers: int | None
    engagement_rate: float | None
    bio: str | None
    terms: Sequence[str]


@dataclass(frozen=True, slots=True)
class Similarity:
    score: float
    reason: str


def score(source: Profile, terms: Terms, candidate: Candidate) -> Similarity:
    """How alike `candidate` is to the source, and why, in a sentence."""
    tags = {t[1:] for t in candidate.terms if t.startswith("#")}
    said = {t for t in candidate.terms if not t.startswith("#")} | set(words(candidate.bio))
    shared_tags = [t for t in terms.hashtags if t in tags]
    shared_words = [w for w in terms.keywords if w in said]
    parts = {
        "hashtags": len(shared_tags) / len(terms.hashtags) if terms.hashtags else 0.0,
        "keywords": len(shared_words) / len(terms.keywords) if terms.keywords else 0.0,
        "audience": audience_likeness(source.followers, candidate.followers),
        "engagement": engagement_likeness(source.engagement_rate, candidate.engagement_rate),
    }
    total = round(sum(WEIGHTS[k] * v for k, v in parts.items()), 4)
    reasons: list[str] = []
    if shared_tags:
        reasons.append("shares " + ", ".join(f"#{t}" for t in shared_tags[:3]))
    if shared_words:
        reasons.append("talks about " + ", ".join(shared_words[:3]))
    if parts["audience"] >= 0.75 and candidate.followers is not None:
        reasons.append(f"a similar audience ({compact(candidate.followers)} followers)")
    if parts["engagement"] >= 0.75 and candidate.engagement_rate is not None:
        reasons.append(f"similar engagement ({candidate.engagement_rate * 100:.1f}%)")
    if not reasons:
        reasons.append("found by the search, with little in common")
    return Similarity(score=total, reason="; ".join(reasons))


def audience_likeness(source: int | None, other: int | None) -> float:
    if source is None or other is None:
        return 0.0
    distance = abs(math.log10(source + 1) - math.log10(other + 1))
    return max(0.0, 1.0 - distance / 2)


def engagement_likeness(source: float | None, other: float | None) -> float:
    if source is None or other is None or max(source, other) <= 0:
        return 0.0
    return min(source, other) / max(source, other)


def compact(count: int) -> str:
    """12345 → "12.3K", 2500000 → "2.5M"."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= size:
            return f"{count / size:.1f}".rstrip("0").rstrip(".") + suffix
    return str(count)


def _top(counts: Counter[str], n: int) -> list[tuple[str, int]]:
    """The n most frequent, ties in alphabetical order (so analysis is deterministic)."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
