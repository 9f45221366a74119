"""The campaign list in the store, on SQLite and PostgreSQL: merged from each page a search
saves (its numbers the newest seen, the team's status untouched), and built for the creators
saved before revision 0007."""

from __future__ import annotations

from scrapetrack.creators import Creator
from scrapetrack.store.campaign_list import CreatorFilter, WorkflowChange
from scrapetrack.store.migrate import downgrade, upgrade
from scrapetrack.store.models import ScrapingJob, utcnow
from scrapetrack.store.repository import Store
from tests.integration.conftest import new_job


def save(store: Store, job: ScrapingJob, creators: list[Creator], page: int = 0) -> None:
    if page == 0:
        assert store.claim(job.id, "w1", utcnow(), utcnow()) is not None
    assert store.ingest(job.id, "w1", from_offset=page * 10, to_offset=page * 10 + 10,
                        creators=creators, skipped=0, progress=page,
                        rate_per_second=None) is not None


def listed(store: Store, campaign_id: str) -> dict[str, tuple[int | None, str, list[str]]]:
    found = store.campaign_creators(campaign_id, CreatorFilter(), "newest", 500, None)
    return {c.handle: (c.followers, c.status, found.found_by[c.id]) for c in found.items}


def test_a_page_merges_into_the_list_newest_numbers_first(store: Store) -> None:
    first = new_job(store)
    second = new_job(store, first.campaign_id, first.user_id)
    other = new_job(store, user_id=first.user_id)  # another campaign's list
    save(store, first, [Creator("tiktok", "Mia", followers=100), Creator("tiktok", "ann")])
    save(store, second, [Creator("tiktok", "mia", followers=250)])
    save(store, other, [Creator("tiktok", "mia", followers=7)])
    assert listed(store, first.campaign_id) == {
        "mia": (250, "new", [first.id, second.id]), "ann": (None, "new", [first.id])}

    page = store.campaign_creators(first.campaign_id, CreatorFilter(), "newest", 500, None)
    mia = next(c.id for c in page.items if c.handle == "mia")
    assert store.change_campaign_creators(first.campaign_id, [mia],
                                          WorkflowChange(status="excluded")) == [mia]
    assert store.change_campaign_creators(other.campaign_id, [mia],
                                          WorkflowChange(status="new")) == []
    # A later page without a follower count keeps the one known; excluded stays excluded.
    save(store, second, [Creator("tiktok", "MIA", display_name="Mia M.")], page=1)
    assert listed(store, first.campaign_id)["mia"] == (250, "excluded", [first.id, second.id])
    assert [c.handle for c in store.creators(second.id)] == []  # hidden from its table
    assert listed(store, other.campaign_id) == {"mia": (7, "new", [other.id])}


def test_revision_0007_lists_the_creators_saved_before_it(store: Store) -> None:
    first = new_job(store)
    second = new_job(store, first.campaign_id, first.user_id)
    save(store, first, [Creator("tiktok", "mia", followers=100), Creator("tiktok", "ann")])
    save(store, second, [Creator("tiktok", "Mia", followers=300)])
    downgrade(store.engine, "0006")
    upgrade(store.engine)
    assert listed(store, first.campaign_id) == {
        "Mia": (300, "new", [first.id, second.id]), "ann": (None, "new", [first.id])}


def test_outreach_fields_are_kept_and_filtered(store: Store) -> None:
    job = new_job(store)
    save(store, job, [
        Creator("tiktok", "ana", country="ES", language="es", emails=("ana@fit.es",),
                external_url="https://linktr.ee/ana"),
        Creator("tiktok", "bo", country="US", language="en"),
        Creator("tiktok", "cy")])
    # A later page without them keeps what is known.
    save(store, job, [Creator("tiktok", "ana", followers=10)], page=1)

    def handles(**wanted: object) -> list[str]:
        found = store.campaign_creators(job.campaign_id, CreatorFilter(**wanted),  # type: ignore[arg-type]
                                        "newest", 500, None)
        return [c.handle for c in found.items]

    assert handles(has_email=True) == ["ana"]
    assert handles(has_email=False) == ["bo", "cy"]
    assert handles(country="es") == ["ana"] and handles(language="EN") == ["bo"]
    (ana,) = [c for c in store.creators(job.id) if c.handle == "ana"]
    assert (ana.emails, ana.external_url, ana.country, ana.followers) == (
        ["ana@fit.es"], "https://linktr.ee/ana", "ES", 10)
