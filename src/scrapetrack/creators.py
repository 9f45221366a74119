"""The creator: what a search finds, whatever platform or dataset shape it came from."""

from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def key(self) -> tuple[str, str]:
        """Creators are the same person when platform and lower-cased handle agree."""
        return (self.platform, self.handle.lower())
