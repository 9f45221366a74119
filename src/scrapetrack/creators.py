"""The creator: what a search finds, whatever platform or dataset shape it came from."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
# Bidirectional overrides, embeddings and isolates: scraped text uses them to look like
# something else ("user\u202egnp.exe" shows as "userexe.png").
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True, slots=True)
class Creator:
    platform: str
    handle: str
    display_name: str | None = None
    followers: int | None = None
    engagement_rate: float | None = None
    bio: str | None = None
    profile_url: str | None = None
    avatar_url: str | None = None
    verified: bool = False
    matched_keyword: str | None = None
    # Hashtags ("#fitness") and keywords seen in the item: what similarity is scored on.
    terms: tuple[str, ...] = ()
    # For outreach, where the actor gives them: addresses found in the bio, the bio link or
    # website, the country or region, the language.
    emails: tuple[str, ...] = ()
    external_url: str | None = None
    country: str | None = None
    language: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """Creators are the same person when platform and lower-cased handle agree."""
        return (self.platform, self.handle.lower())


def http_url(value: object) -> str | None:
    """`value` if it is an http(s) URL of sane length, else None: a profile or avatar link
    never becomes javascript:, data: or anything else a browser would run."""
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        return None
    if value != value.strip() or any(ch.isspace() or unicodedata.category(ch) == "Cc"
                                     for ch in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def clean_text(value: str, *, multiline: bool = False) -> str:
    """Scraped text without control characters (line breaks and tabs kept where
    `multiline`), bidirectional overrides or stray surrogates, which no database or page
    needs and PostgreSQL refuses (NUL)."""
    keep = "\n\t" if multiline else ""
    return "".join(ch for ch in value if ch in keep or not (
        ch in BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs")))
