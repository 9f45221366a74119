"""Untrusted values: scraped items, URLs, CSV cells, handles and text typed by users, and
settings that must never print their secrets."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from scrapetrack.config import load_settings
from scrapetrack.creators import clean_text, http_url
from scrapetrack.exceptions import InputError
from scrapetrack.exports import chunks, safe_cell
from scrapetrack.providers.normalize import normalize_item
from scrapetrack.sandbox.generate import HOSTILE_HANDLES, HOSTILE_TEXT, HOSTILE_URLS, ItemFactory
from scrapetrack.schemas import CreatorOut
from scrapetrack.serializers import creator_json
from scrapetrack.service import check_handle, check_text
from scrapetrack.store.models import CreatorRow

FIELDS = list(CreatorOut.model_fields)


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:x",
    "data:text/html,<script>x</script>", "vbscript:msgbox(1)", "//evil.example/x",
    "/relative", "https://", "http:/x", "https://example.com/\x00", "ftp://example.com/f",
    "https://example.com/" + "a" * 3000, "https://exa mple.com/", 5, None,
])
def test_only_http_urls_are_kept(url: object) -> None:
    assert http_url(url) is None


@pytest.mark.parametrize("url", [
    "https://www.tiktok.com/@coach", "http://example.com/a?b=c#d",
    'https://example.com/a"onmouseover="x',  # odd but inert: it is only ever an attribute value
])
def test_http_urls_pass(url: str) -> None:
    assert http_url(url) == url


def test_clean_text_drops_controls_overrides_and_surrogates() -> None:
    assert clean_text("a\x00b\x07c\x1b[31md\u202ee\u2066f\ud800g") == "abc[31mdefg"
    assert clean_text("line\nnext\tcol", multiline=True) == "line\nnext\tcol"
    assert clean_text("line\nnext\tcol") == "linenextcol"
    assert clean_text("emoji 👩‍👩‍👧 and NBSP\u00a0ok") == "emoji 👩‍👩‍👧 and NBSP\u00a0ok"


@pytest.mark.parametrize("platform", ["tiktok", "instagram", "youtube"])
def test_hostile_items_become_inert_bounded_creators(platform: str) -> None:
    factory = ItemFactory(platform, ["k"], 300, "seed", "mixed", hostile=True)  # type: ignore[arg-type]
    creators = [c for c in (normalize_item(platform, factory.item(i), ["k"]) for i in range(300))
                if c is not None]
    assert len(creators) > 150  # the 300-character handles are no handles: skipped
    for creator in creators:
        for url in (creator.profile_url, creator.avatar_url):
            assert url is None or url.startswith(("https://", "http://"))
        assert 1 <= len(creator.handle) <= 100
        assert not any(ch.isspace() for ch in creator.handle)
        for text in (creator.handle, creator.display_name or "", creator.bio or ""):
            assert clean_text(text, multiline=True) == text  # nothing left to strip
        assert len(creator.display_name or "") <= 200 and len(creator.bio or "") <= 2000
    names = {c.display_name for c in creators}
    assert "<script>window.__pwned=1</script>" in names  # kept, as text
    assert '=HYPERLINK("http://evil.example/","click me")' in names
    if platform != "youtube":  # a YouTube item names its channel by URL only
        assert any(c.handle.startswith("<img/src=x/onerror=") for c in creators)
    assert HOSTILE_URLS[0] not in {c.profile_url for c in creators}
    assert len(HOSTILE_TEXT) >= 8 and len(HOSTILE_HANDLES) >= 5


def test_csv_neutralises_formulas() -> None:
    for value in ("=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_cell(value) == "'" + value
    assert safe_cell("fine") == "fine"
    assert safe_cell(-5) == -5  # a number is a number
    row = CreatorRow(id=1, platform="tiktok", handle="=cmd|'/C calc'!A0",
                     display_name='=HYPERLINK("http://evil.example/","x")', followers=10,
                     engagement_sum=0.0, engagement_samples=0, bio="+1 555", items_count=1,
                     profile_url="javascript:alert(1)", avatar_url="@x",
                     matched_keyword="-k", verified=False)
    exported = b"".join(chunks("csv", [creator_json(row)], FIELDS)).decode()
    [header, cells] = list(csv.reader(io.StringIO(exported)))
    data = dict(zip(header, cells, strict=True))
    assert data["handle"] == "'=cmd|'/C calc'!A0"
    assert data["displayName"].startswith("'=HYPERLINK")
    assert data["bio"] == "'+1 555" and data["matchedKeyword"] == "'-k"
    assert data["profileUrl"] == "" and data["avatarUrl"] == ""  # not http(s): not exported
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


def test_xlsx_keeps_formulas_as_text() -> None:
    row = {"handle": "=cmd|'/C calc'!A0", "bio": '=HYPERLINK("http://evil.example/","x")',
           "followers": 10, "tags": ["=1+1", "fine"], "note": None}
    data = b"".join(chunks("xlsx", [row], list(row)))
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    header, cells = list(sheet.iter_rows())
    assert [c.value for c in header] == list(row)
    assert [c.value for c in cells] == ["'=cmd|'/C calc'!A0",
                                        '\'=HYPERLINK("http://evil.example/","x")', 10,
                                        "'=1+1; fine", None]
    assert [c.data_type for c in cells[:2]] == ["s", "s"]  # text, not a formula


@pytest.mark.parametrize("raw,expected", [("@coach.anna", "coach.anna"), (" fit_99 ", "fit_99"),
                                          ("a-b", "a-b")])
def test_handles_are_checked(raw: str, expected: str) -> None:
    assert check_handle(raw) == expected


@pytest.mark.parametrize("raw", ["", "@", "two words", "a" * 101, "<b>", "x\ny", "ñandu", 5, None])
def test_bad_handles_are_refused(raw: object) -> None:
    with pytest.raises(InputError, match="must be a handle"):
        check_handle(raw)


def test_text_is_checked() -> None:
    assert check_text("  Spring launch ", "name", 200) == "Spring launch"
    assert check_text("a\nb", "d", 10, multiline=True) == "a\nb"
    for bad in ("", "   ", "x" * 201, "a\nb", "nul\x00", "rtl\u202e", "\ud800"):
        with pytest.raises(InputError):
            check_text(bad, "name", 200)


def test_settings_never_print_their_secrets() -> None:
    secrets = {"SECRET_KEY": "sk-settings-secret", "APIFY_TOKEN": "apify-settings-secret",
               "QSTASH_TOKEN": "qstash-settings-secret",
               "QSTASH_CURRENT_SIGNING_KEY": "current-settings-secret",
               "QSTASH_NEXT_SIGNING_KEY": "next-settings-secret"}
    settings = load_settings(**{k.lower(): v for k, v in secrets.items()})
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for value in secrets.values():
        assert value not in shown
    assert settings.apify_token is not None
    assert settings.apify_token.get_secret_value() == "apify-settings-secret"
