"""Deterministic, realistic dataset items for the sandbox's fake actors.

Item `i` of a run is a pure function of (seed, i): the sandbox can produce any slice of a
dataset lazily, and the same search yields the same creators in every run and test. Each run
draws its videos from a pool of about `total / 3` creators, so creators repeat across items
(deduplication matters, as with the real video scrapers), and about 2 % of items hold no
creator at all (an error item or a post without its author), which normalisers must skip.
A few items leave out or null a field (hidden likes, no bio, no share count), as real ones do.

Creators belong to a niche: each carries two pet hashtags of its keyword's niche (a quarter
of them of another niche), so search items share hashtags with a source creator of the same
niche to different degrees, which is what similarity scores. A profile run (`profiles`,
`usernames`, or a channel URL in `startUrls`) gets `ProfileFactory`: the one creator asked
for, with its recent posts, in the shape of that platform's profile actor.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

from scrapetrack.sandbox.actors import GENERIC, ActorSpec

Platform = Literal["tiktok", "instagram", "youtube"]
# "apidojo" is apidojo~tiktok-scraper's documented item; the others are the shapes other TikTok
# scrapers write (clockworks' `authorMeta`, a nested or flattened `channel`), for robustness.
TikTokShape = Literal["apidojo", "authorMeta", "channel", "flat", "mixed"]
TIKTOK_SHAPES: tuple[str, ...] = ("apidojo", "authorMeta", "channel", "flat", "mixed")

JUNK_FRACTION = 0.02
# Fixed epoch so generated timestamps do not depend on the day the tests run.
_EPOCH = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp())

_FIRST = ("Mia", "Liam", "Sofia", "Noah", "Valentina", "Mateo", "Emma", "Lucas", "Isabella",
          "Leo", "Camila", "Ethan", "Chloe", "Diego", "Ava", "Kai", "Zoe", "Aria", "Jayden",
          "Lucia", "Nina", "Omar", "Priya", "Yuki", "Hana", "Marco", "Elena", "Sam", "Maya",
          "Luca", "Amara", "Theo")
_LAST = ("Lopez", "Kim", "Nguyen", "Rossi", "Garcia", "Smith", "Patel", "Silva", "Martin",
         "Brown", "Khan", "Tanaka", "Moreau", "Costa", "Reyes", "Novak", "Ali", "Fischer",
         "Cruz", "Park", "Okafor", "Jensen")
_CITIES = ("Los Angeles", "Madrid", "London", "Miami", "Toronto", "Berlin", "Mexico City",
           "Sydney", "New York", "Lisbon", "Seoul", "Austin")
_BIOS = ("{Topic} tips every day 💡", "📍 {city} | {topic} lover", "",
         "Helping you get better at {topic} • DM for collabs",
         "{Topic} creator ✨ 📩 {handle}@gmail.com", "just a girl who loves {topic} 🌸",
         "Dad, husband, {topic} nerd. New video every Tuesday", "{Topic} | coffee | {city}",
         "Business: {handle}.collabs@gmail.com", "")
_CAPTIONS = ("POV: you finally tried {topic}", "Day {n} of {topic} until it clicks",
             "3 {topic} mistakes everyone makes", "Wait for the end 😳 {topic}",
             "My honest {topic} routine", "Rating viral {topic} hacks", "{Topic} on a budget",
             "Things nobody tells you about {topic}", "Replying to @{other} yes, more {topic}!")


# Related hashtags per niche, the first the most used; a keyword in none gets its own.
NICHES: dict[str, tuple[str, ...]] = {
    "fitness": ("fitness", "workout", "hiit", "gym", "fitnessmotivation", "homeworkout",
                "strength"),
    "yoga": ("yoga", "mindfulness", "stretching", "wellness", "meditation", "yogapractice"),
    "food": ("recipe", "foodie", "easyrecipes", "cooking", "mealprep", "healthyeating"),
    "vegan": ("vegan", "plantbased", "veganrecipes", "healthyeating", "foodie"),
    "beauty": ("makeup", "skincare", "beauty", "grwm", "makeuptutorial"),
    "travel": ("travel", "wanderlust", "traveltips", "backpacking", "travelvlog"),
    "tech": ("tech", "gadgets", "techreview", "unboxing", "smartphone"),
    "gaming": ("gaming", "gamer", "minecraft", "streamer", "gameplay"),
}
# Words a niche's captions use now and then, so captions share keywords too.
NICHE_WORDS: dict[str, tuple[str, ...]] = {
    "fitness": ("cardio", "squats", "protein", "reps"),
    "yoga": ("breathing", "flexibility", "balance", "flow"),
    "food": ("dinner", "pasta", "ingredients", "kitchen"),
    "vegan": ("tofu", "lentils", "dairyfree", "kitchen"),
    "beauty": ("foundation", "serum", "lashes", "glam"),
    "travel": ("flights", "hostel", "itinerary", "beaches"),
    "tech": ("iphone", "laptop", "battery", "specs"),
    "gaming": ("controller", "speedrun", "ranked", "setup"),
}
_HANDLE_HINTS = (("fit", "fitness"), ("gym", "fitness"), ("hiit", "fitness"), ("yoga", "yoga"),
                 ("chef", "food"), ("cook", "food"), ("food", "food"), ("vegan", "vegan"),
                 ("makeup", "beauty"), ("beauty", "beauty"), ("glow", "beauty"),
                 ("travel", "travel"), ("tech", "tech"), ("game", "gaming"))
_GENERIC_TAGS = ("fyp", "foryou", "viral", "tips", "howto")
NOT_FOUND = re.compile(r"^sandbox[._-]?not-?found", re.IGNORECASE)


def niche_of(topic: str) -> str | None:
    word = re.sub(r"[^a-z0-9]", "", topic.lower())
    return next((name for name, tags in NICHES.items() if word == name or word in tags), None)


def niche_tags(topic: str) -> tuple[str, ...]:
    """The hashtags of the niche a topic belongs to; a topic of none gets its own few."""
    niche = niche_of(topic)
    if niche is not None:
        return NICHES[niche]
    word = re.sub(r"[^a-z0-9]", "", topic.lower())[:20] or "daily"
    return (word, f"{word}tips", f"{word}life", f"learn{word}", f"{word}community")


def _with_niche_word(caption: str, topic: str, rng: random.Random) -> str:
    """Half the captions of a niche's posts name one of its words ("... | cardio")."""
    words = NICHE_WORDS.get(niche_of(topic) or "", ())
    return f"{caption} | {rng.choice(words)}" if words and rng.random() < 0.5 else caption


def platform_for_actor(actor_id: str) -> Platform:
    """The platform a fake actor scrapes, guessed from its id the way a person would."""
    lowered = actor_id.lower()
    if "instagram" in lowered:
        return "instagram"
    if "youtube" in lowered:
        return "youtube"
    return "tiktok"


def keywords_from_input(run_input: dict[str, Any]) -> list[str]:
    """The search keywords an actor input carries, in every form our platforms send."""
    found: list[str] = []
    for entry in _as_list(run_input.get("startUrls")) + _as_list(run_input.get("directUrls")):
        url = entry.get("url") if isinstance(entry, dict) else entry
        if isinstance(url, str) and (keyword := keyword_from_url(url)):
            found.append(keyword)
    for key in ("keywords", "searchQueries", "hashtags", "search", "searchTerms", "query"):
        for value in _as_list(run_input.get(key)):
            if isinstance(value, str):
                found.extend(part.strip() for part in value.split(",") if part.strip())
    return list(dict.fromkeys(found)) or ["trending"]


def keyword_from_url(url: str) -> str | None:
    """`q`/`search_query` of a search URL, or the tag of an Instagram tag page."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    for name in ("q", "search_query", "query"):
        if query.get(name):
            return query[name][0].strip() or None
    match = re.search(r"/(?:explore/tags|tag)/([^/?#]+)", parts.path)
    return match.group(1) if match else None


def profile_from_input(run_input: dict[str, Any]) -> str | None:
    """The handle a profile run scrapes: `profiles` (TikTok), `usernames` (Instagram), or a
    profile or channel URL in `startUrls`/`directUrls`; None for a search."""
    for key in ("profiles", "usernames"):
        for value in _as_list(run_input.get(key)):
            if isinstance(value, str) and value.strip().lstrip("@"):
                return value.strip().lstrip("@")
    for entry in _as_list(run_input.get("startUrls")) + _as_list(run_input.get("directUrls")):
        url = entry.get("url") if isinstance(entry, dict) else entry
        if not isinstance(url, str):
            continue
        parts = urlsplit(url)
        match = re.match(r"^/(?:@([^/?#]+)|channel/([^/?#]+))/?(?:videos|shorts|featured)?/?$",
                         unquote(parts.path))
        if match and not parts.query:
            return match.group(1) or match.group(2)
    return None


def usernames_from_input(run_input: dict[str, Any]) -> list[str]:
    """Every handle a profile run names in `usernames` (Instagram looks several up at once)."""
    return [value.strip().lstrip("@") for value in _as_list(run_input.get("usernames"))
            if isinstance(value, str) and value.strip().lstrip("@")]


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


class ItemFactory:
    """Makes item `i` of one run: the same arguments always give the same items."""

    def __init__(self, platform: Platform, keywords: Sequence[str], total: int, seed: str,
                 shape: TikTokShape = "channel", *, hostile: bool = False,
                 attributed: bool = True, no_results: bool = False) -> None:
        self.platform = platform
        self.hostile = hostile
        self.attributed = attributed
        self.no_results = no_results
        self.keywords = list(keywords) or ["trending"]
        self.seed = seed
        self.shape = shape
        self.pool_size = max(3, total // 3)
        self._creators: dict[int, dict[str, Any]] = {}

    def item(self, index: int) -> dict[str, Any]:
        if self.no_results:  # what apidojo~tiktok-scraper writes for an empty search
            return {"noResults": True}
        rng = random.Random(f"{self.seed}|item|{index}")
        slot = index % len(self.keywords)
        keyword = self.keywords[slot]
        # Creators are bound to one keyword each (number % len(keywords)), so a creator's
        # niche matches the videos it appears with, whatever order items are made in.
        per_keyword = max(1, self.pool_size // len(self.keywords))
        creator = self._creator(rng.randrange(per_keyword) * len(self.keywords) + slot)
        post = self._post(rng, creator, keyword)
        if rng.random() < JUNK_FRACTION:
            return self._junk(rng, post, keyword)
        if self.platform == "instagram":
            return _with_holes(_instagram_item(post, creator))
        if self.platform == "youtube":
            return _with_holes(_youtube_item(post, creator))
        shape = self.shape
        if shape == "mixed":
            shape = rng.choice(("authorMeta", "channel", "flat"))
        if shape == "apidojo":
            return _with_holes(_apidojo_item(post, creator, self.attributed))
        return _with_holes(_tiktok_item(post, creator, shape))

    def _creator(self, number: int) -> dict[str, Any]:
        if number not in self._creators:
            keyword = self.keywords[number % len(self.keywords)]
            rng = random.Random(f"{self.seed}|creator|{number}")
            self._creators[number] = _make_creator(rng, keyword)
            if self.hostile:
                self._creators[number].update(hostile_creator(number))
        return self._creators[number]

    def _post(self, rng: random.Random, creator: dict[str, Any], keyword: str) -> dict[str, Any]:
        topic = _topic(keyword)
        tags = [topic.replace(" ", ""), rng.choice(("fyp", "foryou", "viral", "tips", "howto"))]
        caption = rng.choice(_CAPTIONS).format(topic=topic, Topic=topic.capitalize(),
                                               n=rng.randint(2, 90), other=_handle(rng, topic))
        views = int(creator["followers"] * rng.lognormvariate(-0.7, 1.1)) + rng.randint(80, 900)
        likes = int(views * rng.uniform(0.02, 0.14))
        post_id = str(rng.randrange(7_100_000_000_000_000_000, 7_499_999_999_999_999_999))
        own = random.Random(f"{post_id}|tags")  # apart, so the item sequence is unchanged
        pets = [tag for tag in creator.get("pets", ()) if own.random() < 0.7]
        tags = list(dict.fromkeys([tags[0], *pets, tags[1]]))
        return {
            "id": post_id, "caption": _with_niche_word(caption, topic, own), "tags": tags,
            "keyword": keyword,
            "created": _EPOCH - rng.randrange(0, 365 * 86_400),
            "views": views, "likes": likes,
            "comments": int(likes * rng.uniform(0.004, 0.05)),
            "shares": int(likes * rng.uniform(0.003, 0.08)),
            "duration": rng.randint(7, 180),
        }

    def _junk(self, rng: random.Random, post: dict[str, Any], keyword: str) -> dict[str, Any]:
        # The two kinds of creator-less items real scrapers emit.
        if rng.random() < 0.5:
            return {"error": rng.choice(("Video is unavailable", "Post not found",
                                         "Request blocked, retrying later failed")),
                    "url": f"https://www.tiktok.com/search?q={quote(keyword)}"}
        # A post without its author, in the actor's own field names.
        if self.platform == "instagram":
            return {"id": post["id"], "caption": post["caption"], "likesCount": post["likes"]}
        if self.platform == "youtube":
            return {"id": post["id"], "title": post["caption"], "viewCount": post["views"]}
        if self.shape == "apidojo":
            return {"id": post["id"], "title": post["caption"], "views": post["views"]}
        return {"id": post["id"], "text": post["caption"], "createTime": post["created"],
                "playCount": post["views"]}


# (field, share of items): nulled, as hidden likes or an empty bio come back from scrapers.
_NULLED = (("shareCount", 0.05), ("likes", 0.05), ("commentsCount", 0.04),
           ("channelDescription", 0.05), ("numberOfSubscribers", 0.03))
# (field, share of items): left out altogether.
_MISSING = (("commentCount", 0.04), ("ownerFullName", 0.05), ("createTimeISO", 0.1),
            ("channelAvatarUrl", 0.05))


def _with_holes(item: dict[str, Any]) -> dict[str, Any]:
    """The item with a few fields nulled or left out (a generator of its own, keyed by the
    item's id, so the run's item sequence is unchanged)."""
    rng = random.Random(f"{item.get('id')}|holes")
    for name, share in _NULLED:
        if name in item and rng.random() < share:
            item[name] = None
    for name, share in _MISSING:
        if name in item and rng.random() < share:
            del item[name]
    for block, name in (("authorMeta", "signature"), ("channel", "bio")):
        if isinstance(item.get(block), dict) and rng.random() < 0.05:
            item[block][name] = None
    return item


class ProfileFactory:
    """Makes item `i` of a profile run for `handle`: its latest videos (TikTok, YouTube), or
    one profile item with `latestPosts` (Instagram). The creator's niche comes from its handle
    ("fitwithmia" is fitness) or, failing a hint, from a hash of it. A handle starting with
    `sandbox.notfound` gives only an error item, as for a profile that does not exist."""

    LATEST_POSTS = 12

    def __init__(self, platform: Platform, handle: str, total: int, seed: str) -> None:
        self.platform = platform
        self.handle = handle
        self.seed = seed
        self.total = total
        lowered = handle.lower()
        niche = next((n for hint, n in _HANDLE_HINTS if hint in lowered), None)
        rng = random.Random(f"{seed}|profile|{lowered}")
        self.tags = NICHES[niche or rng.choice(sorted(NICHES))]
        creator = _make_creator(rng, self.tags[0])
        creator.update(handle=handle, pets=self.tags[1:3],
                       followers=max(creator["followers"], 2_000))
        self.creator = creator
        self.missing = bool(NOT_FOUND.match(handle))

    def item(self, index: int) -> dict[str, Any]:
        if self.missing:
            return {"error": f"Profile @{self.handle} was not found", "input": self.handle,
                    "url": f"https://www.{self.platform}.com/@{self.handle}"}
        if self.platform == "instagram":
            return self._instagram_profile()
        post = self._post(index)
        if self.platform == "youtube":
            item = _youtube_item(post, self.creator)
            item.pop("input", None)
            item["fromYTUrl"] = f"https://www.youtube.com/@{self.handle}/videos"
            return _with_holes(item)
        item = _tiktok_item(post, self.creator, "authorMeta")
        item.pop("searchQuery", None)
        item["input"] = self.handle
        return _with_holes(item)

    def _post(self, index: int) -> dict[str, Any]:
        rng = random.Random(f"{self.seed}|profile-post|{self.handle}|{index}")
        topic = rng.choice(self.tags[:3])
        # The niche's first tags on most posts, the others now and then, a generic one often.
        tags = [tag for rank, tag in enumerate(self.tags) if rng.random() < 0.9 / (1 + rank / 2)]
        if rng.random() < 0.6:
            tags.append(rng.choice(_GENERIC_TAGS))
        views = int(self.creator["followers"] * rng.lognormvariate(-0.9, 0.8)) + 100
        likes = int(views * rng.uniform(0.04, 0.12))
        return {
            "id": str(rng.randrange(7_100_000_000_000_000_000, 7_499_999_999_999_999_999)),
            "caption": _with_niche_word(rng.choice(_CAPTIONS).format(
                topic=topic, Topic=topic.capitalize(), n=rng.randint(2, 90),
                other=_handle(rng, topic)), self.tags[0], rng),
            "tags": tags or [self.tags[0]], "keyword": topic,
            "created": _EPOCH - index * 86_400 * rng.randint(1, 4),
            "views": views, "likes": likes,
            "comments": int(likes * rng.uniform(0.01, 0.05)),
            "shares": int(likes * rng.uniform(0.01, 0.06)),
            "duration": rng.randint(10, 180),
        }

    def _instagram_profile(self) -> dict[str, Any]:
        creator = self.creator
        posts = []
        for index in range(self.LATEST_POSTS):
            post = _instagram_item(self._post(index), creator)
            post.pop("inputUrl", None)
            post["likesCount"] = int(creator["followers"] * random.Random(post["id"]).uniform(
                0.01, 0.08))
            posts.append(_with_holes(post))
        return {
            "inputUrl": f"https://www.instagram.com/{self.handle}",
            "id": creator["id"][:11], "username": self.handle,
            "url": f"https://www.instagram.com/{self.handle}",
            "fullName": creator["nickname"], "biography": creator["bio"] or None,
            "externalUrl": creator.get("link"), "externalUrlShimmed": None,
            "followersCount": creator["followers"], "followsCount": creator["following"],
            "hasChannel": False, "highlightReelCount": 0, "isBusinessAccount": False,
            "joinedRecently": False, "businessCategoryName": None, "private": False,
            "verified": creator["verified"],
            "profilePicUrl": f"https://scontent.cdninstagram.com/v/t51.2885-19/"
                             f"{creator['avatar_key']}_n.jpg",
            "profilePicUrlHD": None, "igtvVideoCount": 0, "relatedProfiles": [],
            "postsCount": creator["videos"], "latestIgtvVideos": [], "latestPosts": posts,
        }


class ManyProfiles:
    """apify~instagram-profile-scraper given several usernames: one profile item each, in
    the order asked for."""

    def __init__(self, platform: Platform, handles: Sequence[str], seed: str) -> None:
        self.profiles = [ProfileFactory(platform, handle, 1, seed) for handle in handles]

    def item(self, index: int) -> dict[str, Any]:
        return self.profiles[index % len(self.profiles)].item(0)


def _make_creator(rng: random.Random, keyword: str) -> dict[str, Any]:
    topic = _topic(keyword)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    handle = _handle(rng, topic, first, last)
    # Log-normal audience: most creators are small, a few are huge (median ~8k).
    followers = min(int(rng.lognormvariate(9.0, 2.0)), 150_000_000)
    nickname = rng.choice((f"{first} {last}", f"{first} | {topic.title()}", f"{first} ✨",
                           f"{first}{' ' + last[0] + '.' if rng.random() < 0.5 else ''}"))
    bio = rng.choice(_BIOS).format(topic=topic, Topic=topic.capitalize(), handle=handle,
                                   city=rng.choice(_CITIES))
    contact = _contact(handle)
    if contact["email"]:
        bio = f"{bio} · collabs: {contact['email']}"
    return {
        "id": str(rng.randrange(6_700_000_000_000_000_000, 7_299_999_999_999_999_999)),
        "handle": handle, "nickname": nickname, "bio": bio, "followers": followers,
        "following": int(rng.lognormvariate(5.5, 1.2)),
        "hearts": int(followers * rng.uniform(3, 30)),
        "videos": int(rng.lognormvariate(4.5, 1.0)) + 1,
        "verified": (followers > 1_000_000 and rng.random() < 0.6) or rng.random() < 0.004,
        "avatar_key": "".join(rng.choices(string.hexdigits.lower(), k=32)),
        "pets": _pet_tags(handle, topic),
        **_contact(handle),
    }


REGIONS = ("US", "US", "GB", "ES", "MX", "DE", "FR", "BR", "IN", "CA")


def _contact(handle: str) -> dict[str, Any]:
    """What outreach reads, as the actors document it (clockworks' `authorMeta.bioLink` and
    `region`, the Instagram profile's `externalUrl`), and an address in some bios, as creators
    write them; from a generator of its own, so item sequences stay as they were."""
    rng = random.Random(f"{handle}|contact")
    return {"email": f"{handle.strip('._')}@gmail.com" if rng.random() < 0.3 else None,
            "link": f"https://linktr.ee/{handle}" if rng.random() < 0.4 else None,
            "region": rng.choice(REGIONS),
            "language": "es" if rng.random() < 0.15 else "en"}


def _pet_tags(handle: str, topic: str) -> tuple[str, ...]:
    """Two hashtags a creator adds to most posts: of its niche, or for a quarter of
    creators of another one (a separate generator, so item sequences stay as they were)."""
    rng = random.Random(f"{handle}|pets")
    tags = niche_tags(topic)
    if rng.random() < 0.25:
        tags = NICHES[rng.choice(sorted(NICHES))]
    return tuple(rng.sample(tags[1:] if len(tags) > 2 else tags, k=min(2, len(tags) - 1) or 1))


# What a hostile scraper might send: markup and script, javascript: and data: URLs, formulas
# for spreadsheets, control characters, right-to-left overrides, and very long text. Pages and
# exports must show all of it as inert text (see tests/e2e/test_hostile_data.py).
TRAP = "window.__pwned=1"
HOSTILE_TEXT = (
    f"<script>{TRAP}</script>",
    f'<img src=x onerror="{TRAP}">',
    f'"><svg onload={TRAP}>',
    '=HYPERLINK("http://evil.example/","click me")',
    "+SUM(1,2)",
    "-2+3",
    "@SUM(A1:A2)",
    "user\u202egnp.exe",  # right-to-left override: would show as "userexe.png"
    "bell\x07 nul\x00 esc\x1b[31m red",
    "[/bold] [red]not markup[/red]",  # what a terminal's rich text would read as markup
    "long " + "A" * 20_000,
)
HOSTILE_HANDLES = (f"<script>{TRAP}</script>", f"<img/src=x/onerror={TRAP}>",
                   "=cmd|'/C calc'!A0", "javascript:alert(1)", "rtl\u202eevil", "@" + "x" * 300)
HOSTILE_URLS = (f"javascript:{TRAP}", f"JaVaScRiPt:{TRAP}", f" javascript:{TRAP}",
                f"data:text/html,<script>{TRAP}</script>", "vbscript:msgbox(1)",
                f'https://example.com/a"onmouseover="{TRAP}', "https://example.com/" + "a" * 5000)


def hostile_creator(number: int) -> dict[str, Any]:
    """Fields that replace a generated creator's, chosen by its number."""
    def pick(options: Sequence[str], shift: int = 0) -> str:
        return options[(number + shift) % len(options)]

    return {"handle": pick(HOSTILE_HANDLES) + (str(number) if number else ""),
            "nickname": pick(HOSTILE_TEXT), "bio": pick(HOSTILE_TEXT, 3),
            "profile_url": pick(HOSTILE_URLS), "avatar_url": pick(HOSTILE_URLS, 1)}


def _topic(keyword: str) -> str:
    return re.sub(r"\s+", " ", keyword.strip().lower().lstrip("#")) or "life"


def _handle(rng: random.Random, topic: str, first: str | None = None,
            last: str | None = None) -> str:
    first = (first or rng.choice(_FIRST)).lower()
    last = (last or rng.choice(_LAST)).lower()
    word = re.sub(r"[^a-z0-9]", "", topic)[:12] or "daily"
    pattern = rng.choice(("{f}.{l}", "{f}{l}{n}", "the{f}{w}", "{f}_{w}", "{w}with{f}",
                          "{f}.{w}{n}", "_{f}{l}_"))
    return pattern.format(f=first, l=last, w=word, n=rng.randint(1, 999))


def _tiktok_item(post: dict[str, Any], creator: dict[str, Any], shape: str) -> dict[str, Any]:
    handle = creator["handle"]
    avatar = creator.get("avatar_url") or (
        f"https://p16-sign-va.tiktokcdn.com/tos-maliva-avt-0068/"
        f"{creator['avatar_key']}~c5_720x720.jpeg")
    profile = creator.get("profile_url") or f"https://www.tiktok.com/@{handle}"
    item: dict[str, Any] = {
        "id": post["id"],
        "text": post["caption"] + "".join(f" #{tag}" for tag in post["tags"]),
        "createTime": post["created"],
        "createTimeISO": _iso(post["created"]),
        "playCount": post["views"], "diggCount": post["likes"],
        "commentCount": post["comments"], "shareCount": post["shares"],
        "webVideoUrl": f"{profile}/video/{post['id']}",
        "videoMeta": {"duration": post["duration"], "height": 1024, "width": 576},
        "hashtags": [{"name": tag} for tag in post["tags"]],
        "searchQuery": post["keyword"],
    }
    if shape == "authorMeta":
        item["authorMeta"] = {
            "id": creator["id"], "name": handle, "nickName": creator["nickname"],
            "verified": creator["verified"], "signature": creator["bio"], "avatar": avatar,
            "fans": creator["followers"], "following": creator["following"],
            "heart": creator["hearts"], "video": creator["videos"], "profileUrl": profile,
            "privateAccount": False, "bioLink": creator.get("link"),
            "region": creator.get("region"),
        }
        item["textLanguage"] = creator.get("language", "en")
        return item
    channel = {
        "username": handle, "name": creator["nickname"], "followers": creator["followers"],
        "following": creator["following"], "bio": creator["bio"], "avatar": avatar,
        "url": profile, "verified": creator["verified"], "id": creator["id"],
        "videos": creator["videos"],
    }
    if shape == "flat":
        item.update({f"channel.{key}": value for key, value in channel.items()})
    else:
        item["channel"] = channel
    return item


def _apidojo_item(post: dict[str, Any], creator: dict[str, Any],
                  attributed: bool) -> dict[str, Any]:
    """apidojo~tiktok-scraper's item: stats named `views`, `likes`, ...; hashtags as plain
    strings; the author under `channel`; `searchKeyword` only with includeSearchKeywords."""
    handle = creator["handle"]
    profile = creator.get("profile_url") or f"https://www.tiktok.com/@{handle}"
    rng = random.Random(f"{post['id']}|apidojo")
    item: dict[str, Any] = {
        "id": post["id"],
        "title": post["caption"] + "".join(f" #{tag}" for tag in post["tags"]),
        "views": post["views"], "likes": post["likes"], "comments": post["comments"],
        "shares": post["shares"], "bookmarks": int(post["likes"] * rng.uniform(0.01, 0.2)),
        "hashtags": list(post["tags"]),
        "uploadedAt": post["created"], "uploadedAtFormatted": _iso(post["created"]),
        "postPage": f"{profile}/video/{post['id']}",
        "video": {"width": 576, "height": 1024, "ratio": "540p",
                  "duration": float(post["duration"])},
        "channel": {"id": creator["id"], "name": creator["nickname"], "username": handle,
                    "verified": creator["verified"], "url": profile,
                    "followers": creator["followers"]},
    }
    if attributed:
        item["searchKeyword"] = post["keyword"]
    return item


def _instagram_item(post: dict[str, Any], creator: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(post["id"])
    short_code = "".join(rng.choices(string.ascii_letters + string.digits + "_-", k=11))
    is_video = rng.random() < 0.4
    item: dict[str, Any] = {
        "inputUrl": f"https://www.instagram.com/explore/tags/{quote(post['tags'][0])}/",
        "id": post["id"], "type": "Video" if is_video else rng.choice(("Image", "Sidecar")),
        "shortCode": short_code,
        "caption": post["caption"] + "".join(f" #{tag}" for tag in post["tags"]),
        "hashtags": post["tags"], "mentions": [],
        "url": f"https://www.instagram.com/p/{short_code}/",
        "commentsCount": post["comments"], "likesCount": post["likes"],
        "timestamp": _iso(post["created"]),
        "displayUrl": f"https://scontent.cdninstagram.com/v/t51.29350-15/{post['id']}_n.jpg",
        "ownerFullName": creator["nickname"], "ownerUsername": creator["handle"],
        "ownerId": creator["id"][:11],
    }
    if is_video:
        item["videoViewCount"] = post["views"]
    return item


def _youtube_item(post: dict[str, Any], creator: dict[str, Any]) -> dict[str, Any]:
    """streamers~youtube-scraper's video item: the channel by name, URL and subscribers only;
    `fromYTUrl` is the search (or channel page) that found it."""
    rng = random.Random(post["id"])
    video_id = "".join(rng.choices(string.ascii_letters + string.digits + "_-", k=11))
    return {
        "title": post["caption"], "id": video_id,
        "url": f"https://www.youtube.com/watch?v={video_id}",
        "thumbnailUrl": f"https://i.ytimg.com/vi/{video_id}/hqdefault.jpg",
        "viewCount": post["views"] * 3, "date": _iso(post["created"])[:10],
        "likes": post["likes"], "commentsCount": post["comments"],
        "channelName": creator["nickname"],
        # A channel is its URL here: a hostile handle comes percent-encoded, as YouTube's would.
        "channelUrl": "https://www.youtube.com/@" + quote(creator["handle"], safe="._-"),
        "numberOfSubscribers": creator["followers"],
        "duration": f"{post['duration'] // 60}:{post['duration'] % 60:02d}",
        "text": f"{post['caption']}\n\n" + " ".join(f"#{tag}" for tag in post["tags"]),
        "fromYTUrl": "https://www.youtube.com/results?search_query="
                     + quote(post["keyword"], safe=""),
    }


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def target_items(platform: Platform, run_input: dict[str, Any],
                 spec: ActorSpec | None = None, default: int = 100) -> int:
    """How many items the actor writes for this input: its own limits, per URL or query
    where the actor counts them so, with the defaults its publisher documents."""
    spec = spec or GENERIC
    if NOT_FOUND.match(profile_from_input(run_input) or "-"):
        return 1
    if platform == "instagram" and run_input.get("usernames"):
        return max(1, len(_as_list(run_input.get("usernames"))))
    if platform == "tiktok" and run_input.get("profiles"):
        per_profile = spec.value(run_input, "resultsPerPage") or default
        return int(per_profile) * len(_as_list(run_input.get("profiles")))
    if platform == "instagram":
        per_url = spec.value(run_input, "resultsLimit") or default
        sources = len(_as_list(run_input.get("directUrls")))
        if run_input.get("search"):
            sources += int(spec.value(run_input, "searchLimit") or 1)
        return int(per_url) * max(1, sources)
    if platform == "youtube":
        per_query = spec.value(run_input, "maxResults")
        per_query = default if per_query is None else int(per_query)
        sources = len(_as_list(run_input.get("searchQueries"))) + len(
            _as_list(run_input.get("startUrls")))
        return per_query * max(1, sources)
    value = run_input.get("maxItems")
    return value if isinstance(value, int) and value > 0 else default


__all__ = ["TIKTOK_SHAPES", "ItemFactory", "ManyProfiles", "ProfileFactory",
           "keywords_from_input", "platform_for_actor", "profile_from_input", "target_items",
           "usernames_from_input"]
