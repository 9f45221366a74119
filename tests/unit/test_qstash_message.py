"""The body of a verified QStash delivery: what it may ask for."""

from __future__ import annotations

import pytest

from scrapetrack.exceptions import InputError
from scrapetrack.qstash import Message


def test_a_message_names_a_job_and_maybe_since_when_it_has_had_no_news() -> None:
    assert Message.parse(b'{"jobId": "j1"}') == Message(job_id="j1")
    assert Message.parse(b'{"jobId": "j1", "quietSince": 1700000000.5}') == Message(
        job_id="j1", quiet_since=1700000000.5)
    assert Message.parse(b'{"reap": true}') == Message(reap=True)


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b'"j1"', b"{}", b'{"jobId": ""}', b'{"jobId": 7}',
    b'{"jobId": "j1", "quietSince": "yesterday"}', b'{"jobId": "j1", "quietSince": true}',
    b'{"reap": 1}',
])
def test_anything_else_is_refused_with_a_sentence(body: bytes) -> None:
    with pytest.raises(InputError) as refused:
        Message.parse(body)
    assert refused.value.message
