"""Re-run: an ended search starts again with the same input, in the same campaign."""

from __future__ import annotations

from tests.integration.conftest import App, wait_for_job
from tests.integration.test_keyword_job import start
from tests.integration.test_similar_job import start_similar

INPUT = ("campaignId", "platform", "kind", "keywords", "targetUsername", "targetResults")


def test_an_ended_search_runs_again_with_the_same_input(app: App) -> None:
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga", "pilates"], 20, platform="instagram")
    ended, _ = wait_for_job(alice, job)
    assert ended["status"] == "completed"

    again = alice.post(f"/api/jobs/{job['id']}/rerun")
    assert again.status_code == 202, again.text
    rerun = again.json()
    assert rerun["id"] != job["id"] and rerun["status"] == "pending"
    assert {k: rerun[k] for k in INPUT} == {k: job[k] for k in INPUT}
    final, _ = wait_for_job(alice, rerun)
    assert final["status"] == "completed" and final["creatorsCount"] > 0
    campaign = alice.get(f"/api/campaigns/{job['campaignId']}").json()
    assert {j["id"] for j in campaign["scrapingJobs"]} == {job["id"], rerun["id"]}

    bigger = alice.post(f"/api/jobs/{job['id']}/rerun", json={"targetResults": 30})
    assert bigger.status_code == 202
    assert (bigger.json()["targetResults"], bigger.json()["keywords"]) == (30, ["yoga", "pilates"])
    wait_for_job(alice, bigger.json())


def test_a_similar_search_reruns_as_a_similar_search(app: App) -> None:
    alice = app.user("alice@example.com")
    job = start_similar(alice, "@fitwithmia", 40, "youtube")
    assert alice.post(f"/api/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    rerun = alice.post(f"/api/jobs/{job['id']}/rerun").json()
    assert {k: rerun[k] for k in INPUT} == {k: job[k] for k in INPUT}
    assert rerun["kind"] == "similar" and rerun["targetUsername"] == "fitwithmia"
    alice.post(f"/api/jobs/{rerun['id']}/cancel")


def test_a_running_search_or_bad_input_is_refused_and_nothing_is_created(app: App) -> None:
    app.runtime.stop_worker()  # the job stays pending
    alice = app.user("alice@example.com")
    job = start(alice, ["hiit"], 20)
    running = alice.post(f"/api/jobs/{job['id']}/rerun")
    assert running.status_code == 409
    assert running.json() == {"error": "The search is still pending: wait for it to end, "
                                       "or cancel it, before running it again"}
    alice.post(f"/api/jobs/{job['id']}/cancel")
    for body, status in (({"targetResults": 0}, 400), ({"targetResults": "many"}, 422),
                         ({"targetResults": 10**9}, 400), ([1], 422)):
        answer = alice.post(f"/api/jobs/{job['id']}/rerun", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert set(answer.json()) == {"error"}
    assert alice.post("/api/jobs/0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f/rerun").status_code == 404
    campaign = alice.get(f"/api/campaigns/{job['campaignId']}").json()
    assert [j["id"] for j in campaign["scrapingJobs"]] == [job["id"]]
