"""Dataset items → Creator: every shape the actors produce, junk, numbers, engagement maths;
and the platform table (actor inputs) that goes with it."""

from __future__ import annotations

from typing import Any

import pytest

from scrapetrack.config import Settings
from scrapetrack.exceptions import UnknownPlatform
from scrapetrack.providers.normalize import (
    engagement_rate,
    matched_keyword,
    normalize_item,
    parse_count,
)
from scrapetrack.providers.platforms import get_platform
from scrapetrack.sandbox.generate import ItemFactory

VIDEO = {"playCount": 10_000, "diggCount": 500, "commentCount": 40, "shareCount": 60,
         "searchQuery": "Fitness Coach"}
AUTHOR_META = {"id": "6800", "name": "mia.lopez", "nickName": "Mia López", "fans": 12_345,
               "signature": "Coach in Madrid", "avatar": "https://cdn/x.jpg",
               "profileUrl": "https://www.tiktok.com/@mia.lopez", "verified": True}
CHANNEL = {"username": "@mia.lopez", "name": "Mia López", "followers": "12,345",
           "bio": "Coach in Madrid", "avatar": "https://cdn/x.jpg",
           "url": "https://www.tiktok.com/@mia.lopez", "verified": "true", "id": "6800"}


def _flat(name: str, block: dict[str, Any]) -> dict[str, Any]:
    return {f"{name}.{key}": value for key, value in block.items()}


@pytest.mark.parametrize("item", [
    {**VIDEO, "authorMeta": AUTHOR_META},
    {**VIDEO, **_flat("authorMeta", AUTHOR_META)},
    {**VIDEO, "channel": CHANNEL},
    {**VIDEO, **_flat("channel", CHANNEL)},
], ids=["authorMeta", "authorMeta-flat", "channel", "channel-flat"])
def test_both_tiktok_shapes_nested_or_flat_give_the_same_creator(item: dict[str, Any]) -> None:
    creator = normalize_item("tiktok", item, ["fitness coach", "yoga"])
    assert creator is not None
    assert creator.handle == "mia.lopez"
    assert creator.display_name == "Mia López"
    assert creator.followers == 12_345
    assert creator.bio == "Coach in Madrid"
    assert creator.avatar_url == "https://cdn/x.jpg"
    assert creator.profile_url == "https://www.tiktok.com/@mia.lopez"
    assert creator.verified is True
    assert creator.matched_keyword == "fitness coach"  # the job's spelling, matched by case
    assert creator.engagement_rate == pytest.approx((500 + 40 + 60) / 10_000)


def test_apidojo_stat_names_and_missing_profile_url() -> None:
    item = {"views": "2K", "likes": 100, "comments": None, "shares": 0,
            "channel": {"username": "solo", "followers": "1.2M"}}
    creator = normalize_item("tiktok", item, ["yoga"])
    assert creator is not None
    assert creator.profile_url == "https://www.tiktok.com/@solo"
    assert creator.followers == 1_200_000
    assert creator.engagement_rate == pytest.approx(100 / 2000)
    assert creator.matched_keyword == "yoga"  # the job's only keyword
    assert creator.display_name is None and creator.bio is None and creator.verified is False


def test_instagram_post_and_profile_items() -> None:
    post = {"ownerUsername": "chef.ana", "ownerFullName": "Ana Cruz", "likesCount": 90,
            "commentsCount": 10, "url": "https://www.instagram.com/p/abc/",
            "inputUrl": "https://www.instagram.com/explore/tags/vegan%20food/"}
    creator = normalize_item("instagram", post, ["Vegan Food", "keto"])
    assert creator is not None
    assert (creator.handle, creator.display_name) == ("chef.ana", "Ana Cruz")
    assert creator.profile_url == "https://www.instagram.com/chef.ana/"  # not the post URL
    assert creator.followers is None and creator.engagement_rate is None
    assert creator.matched_keyword == "Vegan Food"

    profile = {"username": "chef.ana", "fullName": "Ana Cruz", "followersCount": 2_000,
               "biography": "Plants", "profilePicUrl": "https://cdn/a.jpg", "verified": False,
               "likesCount": 90, "commentsCount": 10}
    creator = normalize_item("instagram", profile, ["vegan"])
    assert creator is not None
    assert creator.followers == 2_000 and creator.bio == "Plants"
    assert creator.engagement_rate == pytest.approx((90 + 10) / 2_000)


def test_youtube_items() -> None:
    item = {"channelName": "Tech Tom", "channelUrl": "https://www.youtube.com/@techtom",
            "numberOfSubscribers": "123K", "viewCount": 1_000, "likes": 50,
            "commentsCount": 5, "title": "Review", "input": "gadgets"}
    creator = normalize_item("youtube", item, ["gadgets", "phones"])
    assert creator is not None
    assert creator.handle == "techtom" and creator.display_name == "Tech Tom"
    assert creator.followers == 123_000
    assert creator.profile_url == "https://www.youtube.com/@techtom"
    assert creator.engagement_rate == pytest.approx(55 / 1_000)
    assert creator.matched_keyword == "gadgets"
    by_channel_id = normalize_item("youtube", {"channelUrl":
                                               "https://www.youtube.com/channel/UC123"}, [])
    assert by_channel_id is not None and by_channel_id.handle == "UC123"


@pytest.mark.parametrize("item", [
    None, "text", 42, [], {}, {"error": "Video is unavailable", "searchQuery": "yoga"},
    {"id": "1", "text": "no author", "playCount": 5},
    {"authorMeta": None}, {"authorMeta": "mia"}, {"authorMeta": {"name": ""}},
    {"authorMeta": {"name": 12}}, {"channel": {"username": "two words"}},
    {"channel": {"name": "only a display name"}}, {"channel.username": None},
])
def test_items_without_a_creator_give_none(item: object) -> None:
    assert normalize_item("tiktok", item, ["yoga"]) is None


@pytest.mark.parametrize("platform", ["instagram", "youtube"])
def test_junk_gives_none_on_other_platforms(platform: str) -> None:
    for item in ({}, {"error": "Post not found"}, {"ownerUsername": ""}, {"channelUrl": 5}):
        assert normalize_item(platform, item, []) is None


def test_unknown_platform_is_a_bug_not_data() -> None:
    with pytest.raises(UnknownPlatform):
        normalize_item("myspace", {}, [])


@pytest.mark.parametrize(("raw", "expected"), [
    (12, 12), (12.7, 12), ("12,345", 12_345), ("1 234", 1_234), ("1.2M", 1_200_000),
    ("3k", 3_000), ("2.5b", 2_500_000_000), (" 7 ", 7), ("0", 0),
    (-1, None), ("-5", None), ("many", None), ("", None), (None, None), (True, None),
    (float("nan"), None), (float("inf"), None), ([1], None), ({"n": 1}, None), ("1.2.3", None),
])
def test_parse_count(raw: object, expected: int | None) -> None:
    assert parse_count(raw) == expected


def test_engagement_rate_formulas() -> None:
    assert engagement_rate(likes=10, comments=5, shares=5, views=100) == pytest.approx(0.2)
    assert engagement_rate(likes=10, comments=None, views=100) == pytest.approx(0.1)
    assert engagement_rate(likes=10, comments=5, followers=50) == pytest.approx(0.3)
    assert engagement_rate(likes=10, comments=5, views=0, followers=0) is None
    assert engagement_rate(likes=None, comments=None, views=100) is None
    assert engagement_rate(likes=10, comments=1) is None


def test_matched_keyword_rules() -> None:
    assert matched_keyword({"keyword": "#Yoga"}, ["yoga", "pilates"]) == "yoga"
    assert matched_keyword({"query": "tennis"}, ["yoga", "pilates"]) is None
    assert matched_keyword({}, ["yoga"]) == "yoga"
    assert matched_keyword({}, []) is None
    url = {"fromYTUrl": "https://www.youtube.com/results?search_query=home+workout"}
    assert matched_keyword(url, ["yoga", "Home Workout"]) == "Home Workout"


@pytest.mark.parametrize(("platform", "shape"), [
    ("tiktok", "authorMeta"), ("tiktok", "channel"), ("tiktok", "flat"), ("tiktok", "mixed"),
    ("instagram", "channel"), ("youtube", "channel"),
])
def test_every_sandbox_item_shape_normalizes(platform: Any, shape: Any) -> None:
    factory = ItemFactory(platform, ["fitness", "yoga"], 600, seed="unit", shape=shape)
    items = [factory.item(i) for i in range(600)]
    assert items == [ItemFactory(platform, ["fitness", "yoga"], 600, "unit", shape).item(i)
                     for i in range(600)]  # deterministic
    creators = [normalize_item(platform, item, ["fitness", "yoga"]) for item in items]
    found = [c for c in creators if c is not None]
    assert 0 < len(items) - len(found) < 40  # ~2 % junk, counted and skipped
    assert len({c.key for c in found}) <= 200  # a pool of ~total/3: creators repeat
    assert {c.matched_keyword for c in found} == {"fitness", "yoga"}
    assert all(c.profile_url and c.handle for c in found)


def test_platform_inputs() -> None:
    settings = Settings(SCRAPE_LOCATION="ES")
    tiktok = get_platform("tiktok")
    assert tiktok.actor_id(settings) == "apidojo~tiktok-scraper"
    assert tiktok.build_keyword_input(["fitness coach", "café"], 50, settings) == {
        "keywords": ["fitness coach", "café"],
        "maxItems": 50,
        "location": "ES",
        "includeSearchKeywords": True,
    }
    instagram = get_platform("instagram").build_keyword_input(["vegan food", "keto"], 25,
                                                              settings)
    assert instagram["resultsLimit"] == 13 and len(instagram["directUrls"]) == 2
    youtube = get_platform("youtube").build_keyword_input(["a", "b", "c"], 10, settings)
    assert youtube["searchQueries"] == ["a", "b", "c"] and youtube["maxResults"] == 4
    for name in ("TikTok", "twitter", ""):
        with pytest.raises(UnknownPlatform, match="Unknown platform"):
            get_platform(name)
