"""The normalisers on one documented sample item per default actor (tests/fixtures/actors,
each naming its source), and the sandbox's items held to the fields each actor documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scrapetrack.creators import Creator
from scrapetrack.providers.normalize import normalize_item
from scrapetrack.sandbox.actors import ACTORS, spec_for
from scrapetrack.sandbox.generate import ItemFactory, ProfileFactory, platform_for_actor

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "actors"


def sample(actor: str) -> dict[str, Any]:
    item: dict[str, Any] = json.loads((SAMPLES / f"{actor}.json").read_text())
    assert item.pop("_source")
    return item


def creator(platform: str, item: dict[str, Any], keywords: list[str]) -> Creator:
    found = normalize_item(platform, item, keywords)
    assert found is not None
    return found


def test_apidojo_video_with_its_search_keyword() -> None:
    item = sample("apidojo-tiktok-scraper")
    found = creator("tiktok", item, ["autumn looks", "capsule wardrobe"])
    assert (found.handle, found.display_name, found.followers, found.verified) == (
        "jacksonstips", "Джексон", 566_322, True)
    assert found.profile_url == "https://www.tiktok.com/@jacksonstips"
    assert found.engagement_rate == pytest.approx((7420 + 201 + 1236) / 101_399, abs=1e-6)
    assert found.matched_keyword == "capsule wardrobe"  # what the item says


def test_apidojo_video_without_attribution_matches_by_hashtag() -> None:
    item = sample("apidojo-tiktok-scraper")
    del item["searchKeyword"]
    assert creator("tiktok", item, ["men's style", "Capsule"]).matched_keyword == "Capsule"
    # Folded to letters and digits: "self-care" is #selfcare.
    item["hashtags"] = ["selfcare"]
    item["title"] = "Sunday reset"
    assert creator("tiktok", item, ["yoga", "self-care"]).matched_keyword == "self-care"
    assert creator("tiktok", item, ["yoga", "pilates"]).matched_keyword is None


def test_an_empty_apidojo_search_holds_no_creator() -> None:
    assert normalize_item("tiktok", {"noResults": True}, ["yoga"]) is None


def test_clockworks_profile_video() -> None:
    found = creator("tiktok", sample("clockworks-tiktok-profile-scraper"), [])
    assert (found.handle, found.display_name, found.followers) == ("nasaofficial", "NASA", 2049)
    assert found.bio == "National Aeronautics Space Association"
    assert found.engagement_rate == pytest.approx((100 + 5 + 2) / 1000)
    # Outreach: its region; no bio link (null in the sample) and no address in the bio.
    assert (found.country, found.external_url, found.emails) == ("US", None, ())
    item = sample("clockworks-tiktok-profile-scraper")
    item["authorMeta"].update(bioLink="https://fkrtrz-v0.myshopify.com/collections/all",
                              signature="Shop below ✉️ Hello@Brand.co, hello@brand.co")
    found = creator("tiktok", {**item, "textLanguage": "EN"}, [])
    assert found.external_url == "https://fkrtrz-v0.myshopify.com/collections/all"
    assert (found.emails, found.language) == (("hello@brand.co",), "en")
    assert creator("tiktok", {**item, "textLanguage": "un"}, []).language is None


def test_instagram_hashtag_post_names_its_owner_only() -> None:
    found = creator("instagram", sample("apify-instagram-scraper"), ["supernova", "stars"])
    assert (found.handle, found.display_name) == ("nasa", "NASA")
    assert found.followers is None and found.engagement_rate is None  # no follower count
    assert found.matched_keyword == "supernova"  # from its inputUrl's tag page
    assert found.profile_url == "https://www.instagram.com/nasa/"


def test_instagram_profile() -> None:
    found = creator("instagram", sample("apify-instagram-profile-scraper"), [])
    assert (found.handle, found.followers, found.verified) == ("nasa", 96_718_778, True)
    assert found.bio is not None and found.bio.startswith("🚀")
    assert (found.external_url, found.emails) == ("https://nasa.gov", ())


def test_a_youtube_channel_item_gives_its_location_links_and_addresses() -> None:
    """Channel fields as apify/agent-skills streamers-youtube-scraper.md names them, with
    its README's values; they come with a channel's items, not a search's."""
    item = {**sample("streamers-youtube-scraper"), "channelLocation": "France",
            "channelDescription": "Business: team@lofigirl.com",
            "channelDescriptionLinks": [{"text": "Merch", "url": "https://lofigirlshop.com/"}]}
    found = creator("youtube", item, [])
    assert (found.country, found.external_url, found.emails) == (
        "France", "https://lofigirlshop.com/", ("team@lofigirl.com",))
    plain = creator("youtube", sample("streamers-youtube-scraper"), [])
    assert (plain.country, plain.external_url, plain.emails) == (None, None, ())


def test_youtube_search_item_names_its_channel_by_url() -> None:
    found = creator("youtube", sample("streamers-youtube-scraper"), ["bechdel test", "film"])
    assert (found.handle, found.display_name) == ("fantano", "fantano")
    assert found.profile_url == "https://www.youtube.com/@fantano"
    assert found.matched_keyword == "bechdel test"  # from fromYTUrl's search_query
    assert found.followers is None and found.engagement_rate is None


@pytest.mark.parametrize("actor", sorted(ACTORS))
def test_the_sandbox_writes_only_documented_fields(actor: str) -> None:
    spec = spec_for(actor)
    platform = platform_for_actor(actor)
    if actor.endswith("profile-scraper"):
        factory: ItemFactory | ProfileFactory = ProfileFactory(platform, "fitwithmia", 30, "s")
    else:
        factory = ItemFactory(platform, ["fitness", "yoga"], 300, "s",
                              "apidojo" if platform == "tiktok" else "channel")
    items = [factory.item(i) for i in range(300 if isinstance(factory, ItemFactory) else 1)]
    written = set().union(*(item.keys() for item in items if "error" not in item))
    assert written <= spec.output_fields, written - spec.output_fields
