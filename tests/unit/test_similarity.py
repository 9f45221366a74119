"""Similarity, pure: terms of posts, the analysis of a profile, scores and their reasons;
reading a source profile from each platform's profile-run items; the profile inputs."""

from __future__ import annotations

from typing import Any

import pytest

from scrapetrack.config import Settings
from scrapetrack.jobs import Stage, stage_progress
from scrapetrack.providers.platforms import PLATFORMS, get_platform
from scrapetrack.sandbox.generate import (
    ItemFactory,
    ProfileFactory,
    profile_from_input,
    target_items,
)
from scrapetrack.similarity import (
    WEIGHTS,
    Candidate,
    Profile,
    Terms,
    analyze,
    audience_likeness,
    build_profile,
    candidate_terms,
    compact,
    engagement_likeness,
    post_hashtags,
    score,
    words,
)

SOURCE = Profile(handle="mia", display_name="Mia", followers=10_000, engagement_rate=0.05,
                 bio="Coach", posts=10, hashtags={"fitness": 9, "hiit": 6, "fyp": 9, "gym": 2},
                 words={"cardio": 4, "protein": 2, "amara": 1})
TERMS = analyze(SOURCE)


def test_hashtags_come_from_lists_objects_and_text_once_each() -> None:
    item = {"hashtags": [{"name": "Fitness"}, "#HIIT", None, {"name": None}, 5],
            "text": "Leg day #fitness #Gym, then #hiit!", "title": "#"}
    assert post_hashtags(item) == ["fitness", "hiit", "gym"]
    assert post_hashtags({"hashtags": None, "caption": None}) == []


def test_words_leave_out_stopwords_filler_mentions_links_and_tags() -> None:
    text = "Replying to @amara_fit: 3 cardio mistakes everyone makes https://x.co #fitness"
    assert words(text) == ["cardio"]
    assert words(None) == [] and words(42) == []


def test_analysis_keeps_niche_hashtags_and_repeated_keywords() -> None:
    assert TERMS.hashtags == ("fitness", "hiit", "gym")  # #fyp says nothing about a niche
    assert TERMS.keywords == ("cardio", "protein")  # said at least twice
    assert TERMS.search == ("fitness", "hiit", "gym")
    empty = analyze(Profile("x", None, None, None, None, 0, {"fyp": 3}, {}))
    assert empty.search == ()
    words_only = analyze(Profile("x", None, None, None, None, 1, {}, {"pasta": 1}))
    assert words_only.search == ("pasta",)  # nothing said twice: the words there are
    assert Terms.from_json(TERMS.to_json()) == TERMS
    assert Profile.from_json(SOURCE.to_json()) == SOURCE


def test_scores_add_up_their_weighted_parts_and_say_why() -> None:
    twin = Candidate("twin", 10_000, 0.05, "cardio and protein", ["#fitness", "#hiit", "#gym"])
    assert score(SOURCE, TERMS, twin).score == pytest.approx(sum(WEIGHTS.values()))
    assert score(SOURCE, TERMS, twin).reason == (
        "shares #fitness, #hiit, #gym; talks about cardio, protein; "
        "a similar audience (10K followers); similar engagement (5.0%)")
    half = Candidate("half", 100_000, 0.025, None, ["#fitness", "cardio", "#cats"])
    found = score(SOURCE, TERMS, half)
    assert found.score == pytest.approx(0.45 / 3 + 0.20 / 2 + 0.20 * 0.5 + 0.15 * 0.5, abs=1e-4)
    assert found.reason == "shares #fitness; talks about cardio"
    stranger = Candidate("x", None, None, None, [])
    assert score(SOURCE, TERMS, stranger) == score(SOURCE, TERMS, stranger)
    assert score(SOURCE, TERMS, stranger).score == 0
    assert score(SOURCE, TERMS, stranger).reason == "found by the search, with little in common"


def test_audience_engagement_and_compact_numbers() -> None:
    assert audience_likeness(1000, 1000) == 1
    assert audience_likeness(1000, 10_000) == pytest.approx(0.5, abs=1e-3)
    assert audience_likeness(100, 1_000_000) == 0
    assert audience_likeness(None, 5) == 0
    assert engagement_likeness(0.02, 0.04) == pytest.approx(0.5)
    assert engagement_likeness(0, 0) == 0 and engagement_likeness(None, 0.1) == 0
    assert [compact(n) for n in (999, 1000, 12_345, 2_500_000, 3_000_000_000)] == \
        ["999", "1K", "12.3K", "2.5M", "3B"]


def test_candidate_terms_keep_hashtags_and_only_the_sources_keywords() -> None:
    item = {"text": "Morning cardio with my dog #Fitness", "hashtags": [{"name": "fitness"}]}
    assert candidate_terms(item, ["cardio", "protein"]) == ("#fitness", "cardio")


def test_the_stage_percentages_of_the_seed() -> None:
    assert [stage_progress(s) for s in Stage] == [0, 20, 40, 60, 80, 100]
    assert stage_progress(Stage.SEARCHING, 50, 100) == 70
    assert stage_progress(Stage.SEARCHING, 100, 100) == 79  # the next stage says 80
    assert stage_progress(Stage.PROCESSING, 5, 0) == 80


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_each_platforms_profile_run_reads_as_its_creator(platform: str) -> None:
    settings = Settings(SIMILAR_PROFILE_POSTS=12)
    spec = get_platform(platform)
    run_input = spec.build_profile_input("fitwithmia", settings)
    assert profile_from_input(run_input) == "fitwithmia"
    total = target_items(platform, run_input)  # type: ignore[arg-type]
    assert total == (1 if platform == "instagram" else 12)
    factory = ProfileFactory(platform, "fitwithmia", total, "unit")  # type: ignore[arg-type]
    items = [factory.item(i) for i in range(total)]
    profile = spec.read_profile(items, "@FitWithMia")
    assert profile is not None
    assert profile.handle == "fitwithmia" and profile.posts == 12
    assert profile.followers is not None and profile.followers >= 2_000
    assert profile.engagement_rate is not None and 0 < profile.engagement_rate < 1
    assert analyze(profile).hashtags[0] in ("fitness", "workout")
    missing = ProfileFactory(platform, "sandbox.notfound", 1, "unit")  # type: ignore[arg-type]
    assert spec.read_profile([missing.item(0)], "sandbox.notfound") is None


def test_a_profile_whose_handle_differs_is_read_from_its_items() -> None:
    items: list[dict[str, Any]] = [
        {"channelUrl": "https://www.youtube.com/channel/UCabc", "channelName": "Tom",
         "numberOfSubscribers": 500, "viewCount": 100, "likes": 10, "title": "#tech review"},
        {"error": "Video unavailable"}]
    profile = get_platform("youtube").read_profile(items, "TechTom")
    assert profile is not None and profile.handle == "UCabc" and profile.posts == 1
    assert profile.hashtags == {"tech": 1} and profile.engagement_rate == pytest.approx(0.1)
    built = build_profile("a", None, None, [None], None, [])
    assert built.engagement_rate is None and built.posts == 0


def test_profile_inputs_match_the_default_actors() -> None:
    settings = Settings()
    assert get_platform("tiktok").profile_actor_id(settings) == \
        "clockworks~tiktok-profile-scraper"
    assert get_platform("instagram").profile_actor_id(settings) == \
        "apify~instagram-profile-scraper"
    assert get_platform("youtube").profile_actor_id(settings) == "streamers~youtube-scraper"
    assert get_platform("instagram").build_profile_input("ana", settings) == \
        {"usernames": ["ana"]}
    assert get_platform("tiktok").build_profile_input("ana", settings)["profiles"] == ["ana"]
    youtube = get_platform("youtube")
    assert youtube.build_profile_input("ana", settings)["startUrls"] == [
        {"url": "https://www.youtube.com/@ana/videos"}]
    channel = "UC" + "x" * 22
    assert youtube.build_profile_input(channel, settings)["startUrls"] == [
        {"url": f"https://www.youtube.com/channel/{channel}/videos"}]
    assert profile_from_input({"searchQueries": ["a"]}) is None
    assert profile_from_input({"startUrls": [{"url": "https://www.tiktok.com/search?q=a"}]}) \
        is None


def test_sandbox_search_items_share_niche_hashtags_and_miss_some_fields() -> None:
    factory = ItemFactory("youtube", ["fitness", "workout"], 300, "unit")
    items = [factory.item(i) for i in range(300)]
    tags = {tag for item in items for tag in post_hashtags(item)}
    assert {"fitness", "workout", "hiit"} <= tags
    assert any(item.get("likes", 0) is None for item in items)  # hidden likes
    assert any("channelAvatarUrl" not in item for item in items if "channelUrl" in item)
