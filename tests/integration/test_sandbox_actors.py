"""The sandbox as strict as the platform, through the real apify-client over HTTP: inputs
refused as the actors refuse them, their documented items, the run's caps and its cost, and
the platform's limits (402, an early 404, an approval 403)."""

from __future__ import annotations

from typing import Any

import pytest

from scrapetrack.config import Settings
from scrapetrack.exceptions import ProviderBusy, ProviderRejected, RunNotFound
from scrapetrack.providers.apify import ApifyProvider
from scrapetrack.providers.base import RunCaps, RunStatus
from scrapetrack.providers.platforms import get_platform
from tests.conftest import HeldSandbox

TIKTOK = "apidojo~tiktok-scraper"


@pytest.fixture
def provider(held_provider: ApifyProvider) -> ApifyProvider:
    return held_provider  # every test here runs on the held sandbox


def all_items(provider: ApifyProvider, dataset_id: str) -> list[dict[str, Any]]:
    return provider.items_page(dataset_id, 0, 100_000).items


@pytest.mark.parametrize(("actor", "run_input", "message"), [
    (TIKTOK, {"startUrls": [{"url": "https://www.tiktok.com/search?q=yoga"}]},
     "Field input.startUrls.0 must be string"),
    (TIKTOK, {"keywords": ["yoga"], "searchKeywords": True},
     "Property input.searchKeywords is not allowed"),
    (TIKTOK, {"keywords": "yoga"}, "Field input.keywords must be array"),
    (TIKTOK, {"keywords": ["yoga"], "sortType": "NEWEST"},
     "Field input.sortType must be equal to one of the allowed values"),
    (TIKTOK, {"keywords": ["yoga"], "maxItems": True}, "Field input.maxItems must be integer"),
    ("apify~instagram-profile-scraper", {"includeAboutSection": False},
     "Field input.usernames is required"),
    ("apify~instagram-scraper", {"directUrls": ["https://www.instagram.com/explore/tags/a/"],
                                 "resultsType": "videos"},
     "Field input.resultsType must be equal to one of the allowed values"),
    ("clockworks~tiktok-profile-scraper", {"profiles": [{"name": "mia"}]},
     "Field input.profiles.0 must be string"),
    ("streamers~youtube-scraper", {"searchQueries": ["a"], "maxResults": -1},
     "Field input.maxResults must be >= 0"),
])
def test_inputs_the_actor_refuses_are_refused_with_apifys_error(
        provider: ApifyProvider, held_sandbox: HeldSandbox, actor: str, run_input: dict[str, Any],
        message: str) -> None:
    with pytest.raises(ProviderRejected, match=r"\(HTTP 400 invalid-input\): " + message):
        provider.start(actor, run_input)
    assert held_sandbox.state.runs_started == 0


@pytest.mark.parametrize("name", ["tiktok", "instagram", "youtube"])
def test_what_scrapetrack_sends_each_default_actor_is_accepted(
        provider: ApifyProvider, held_sandbox: HeldSandbox, name: str) -> None:
    settings, platform = Settings(), get_platform(name)
    provider.start(platform.actor_id(settings),
                   platform.build_keyword_input(["vegan food", "keto"], 40, settings))
    provider.start(platform.profile_actor_id(settings),
                   platform.build_profile_input("fitwithmia", settings))
    assert held_sandbox.state.runs_started == 2


def test_apidojo_names_the_keyword_only_when_asked(provider: ApifyProvider,
                                                  held_sandbox: HeldSandbox) -> None:
    asked = provider.start(TIKTOK, {"keywords": ["yoga", "hiit"], "maxItems": 60,
                                    "includeSearchKeywords": True})
    silent = provider.start(TIKTOK, {"keywords": ["yoga", "hiit"], "maxItems": 60})
    held_sandbox.finish(asked.run_id)
    held_sandbox.finish(silent.run_id)
    with_keyword = [i for i in all_items(provider, asked.dataset_id) if "channel" in i]
    assert {i["searchKeyword"] for i in with_keyword} == {"yoga", "hiit"}
    assert all(isinstance(tag, str) for i in with_keyword for tag in i["hashtags"])
    assert not any("searchKeyword" in i for i in all_items(provider, silent.dataset_id))


def test_an_empty_search_writes_no_results(provider: ApifyProvider,
                                           held_sandbox: HeldSandbox) -> None:
    run = provider.start(TIKTOK, {"keywords": ["sandbox:empty"], "maxItems": 50})
    held_sandbox.finish(run.run_id)
    assert provider.get_run(run.run_id).status == RunStatus.SUCCEEDED
    assert all_items(provider, run.dataset_id) == [{"noResults": True}]


@pytest.mark.parametrize(("name", "expected"), [("instagram", 2 * 4), ("youtube", 3 * 4)])
def test_limits_count_per_url_or_query(provider: ApifyProvider, held_sandbox: HeldSandbox,
                                       name: str, expected: int) -> None:
    run_input: dict[str, Any] = {
        "instagram": {"directUrls": ["https://www.instagram.com/explore/tags/a/",
                                     "https://www.instagram.com/explore/tags/b/"],
                      "resultsType": "posts", "resultsLimit": 4},
        "youtube": {"searchQueries": ["a", "b", "c"], "maxResults": 4},
    }[name]
    run = provider.start(get_platform(name).actor_id(Settings()), run_input)
    held_sandbox.finish(run.run_id)
    assert len(all_items(provider, run.dataset_id)) == expected


def test_a_run_is_capped_and_reports_what_it_cost(provider: ApifyProvider,
                                                  held_sandbox: HeldSandbox) -> None:
    by_items = provider.start(TIKTOK, {"keywords": ["yoga"], "maxItems": 100},
                              RunCaps(max_items=7))
    by_charge = provider.start(TIKTOK, {"keywords": ["yoga"], "maxItems": 100},
                               RunCaps(max_charge_usd=0.0015))  # 5 results at $0.0003
    held_sandbox.write(by_charge.run_id, 3)
    assert provider.get_run(by_charge.run_id).usage_usd == pytest.approx(0.0009)
    held_sandbox.finish(by_items.run_id)
    held_sandbox.finish(by_charge.run_id)
    assert len(all_items(provider, by_items.dataset_id)) == 7
    assert len(all_items(provider, by_charge.dataset_id)) == 5
    assert provider.get_run(by_items.run_id).usage_usd == pytest.approx(7 * 0.0003)
    assert provider.get_run(by_charge.run_id).usage_usd == pytest.approx(0.0015)


def test_an_account_at_its_limit_is_busy(provider: ApifyProvider,
                                         held_sandbox: HeldSandbox) -> None:
    with pytest.raises(ProviderBusy, match=r"actor-memory-limit-exceeded.*exceed the memory"):
        provider.start(TIKTOK, {"keywords": ["yoga"], "_sandbox": {"faults": "runs:402x1"}})
    assert held_sandbox.state.runs_started == 0


def test_an_actor_awaiting_approval_says_where_to_approve(provider: ApifyProvider) -> None:
    with pytest.raises(ProviderRejected) as refused:
        provider.start(TIKTOK, {"keywords": ["yoga"], "_sandbox": {"faults": "runs:approval"}})
    assert "needs your approval" in refused.value.message
    assert "https://console.apify.com/actors/" in refused.value.message
    assert "approvePermissions=true" in refused.value.message
    assert "APIFY_TOKEN" not in refused.value.message


def test_a_run_unknown_for_a_moment_after_its_start_is_found(
        provider: ApifyProvider, held_sandbox: HeldSandbox) -> None:
    # The start is the first request of its runs family; the next two reads answer 404.
    run = provider.start(TIKTOK, {"keywords": ["yoga"], "_sandbox": {"faults": "runs:404+1x2"}})
    assert provider.get_run(run.run_id).run_id == run.run_id
    assert held_sandbox.state.injected["runs:404"] == 2


def test_a_run_unknown_for_good_is_not_found(provider: ApifyProvider) -> None:
    with pytest.raises(RunNotFound):
        provider.get_run("noSuchRun00000000")
