from datetime import UTC, datetime, timedelta

import pytest

from pdmail.linking.threads import (
    has_reply_prefix,
    normalize_subject,
    pick_fallback_thread,
    subject_fallback_allowed,
    thread_ids,
)

pytestmark = pytest.mark.both_engines

SUBJECTS = [
    ("plain", "Quarterly pricing", "quarterly pricing"),
    ("english reply", "Re: Quarterly pricing", "quarterly pricing"),
    ("upper-case reply", "RE: Quarterly pricing", "quarterly pricing"),
    ("forward fwd", "Fwd: Quarterly pricing", "quarterly pricing"),
    ("forward fw", "FW: Quarterly pricing", "quarterly pricing"),
    ("space before colon", "Re : Quarterly pricing", "quarterly pricing"),
    ("no space after colon", "Re:Quarterly pricing", "quarterly pricing"),
    ("german reply and forward", "AW: WG: Angebot", "angebot"),
    ("dutch", "Antw: Offerte", "offerte"),
    ("swedish", "SV: Offert", "offert"),
    ("finnish", "VS: Tarjous", "tarjous"),
    ("french forward", "TR: Devis", "devis"),
    ("spanish forward", "RV: Presupuesto", "presupuesto"),
    ("portuguese forward", "Enc: Orçamento", "orçamento"),
    ("italian reply", "R: Preventivo", "preventivo"),
    ("italian rif", "RIF: Preventivo", "preventivo"),
    ("polish", "Odp: Oferta", "oferta"),
    ("turkish", "Ynt: Teklif", "teklif"),
    ("greek", "ΑΠ: Προσφορά", "προσφορά"),
    ("russian", "Отв: Предложение", "предложение"),
    ("chinese reply full-width colon", "回复：报价", "报价"),
    ("chinese answer", "答复: 报价", "报价"),
    ("chinese forward", "转发：报价", "报价"),
    ("traditional chinese reply", "回覆：報價", "報價"),
    ("traditional chinese forward", "轉寄: 報價", "報價"),
    ("nested mixed prefixes", "Re: AW: Fwd: RE: SV: Pricing", "pricing"),
    ("bracket counter", "Re[2]: Pricing", "pricing"),
    ("paren counter", "Re(3): Pricing", "pricing"),
    ("counter then prefix", "RE[12]: Fwd: Pricing", "pricing"),
    ("list tag", "[sales-list] Pricing", "pricing"),
    ("list tag inside reply", "Re: [sales-list] Re: Pricing", "pricing"),
    ("tag before reply", "[sales-list] Re: [sales-list] Pricing", "pricing"),
    ("two tags", "[EXTERNAL] [sales] Re: Pricing", "pricing"),
    ("collapse whitespace", "Re:   Quarterly \t\n pricing  ", "quarterly pricing"),
    ("casefold", "Re: STRASSE", "strasse"),
    ("casefold sharp s", "Re: Straße", "strasse"),
    ("word starting like a prefix", "Rex: the dog", "rex: the dog"),
    ("aws is not aw", "AWS: outage report", "aws: outage report"),
    ("prefix word without colon", "Re pricing", "re pricing"),
    ("prefix in the middle stays", "Pricing Re: terms", "pricing re: terms"),
    ("empty", "", ""),
    ("only prefixes", "Re: Fwd:", ""),
]


@pytest.mark.parametrize("name,subject,expected", SUBJECTS, ids=[row[0] for row in SUBJECTS])
def test_normalize_subject(name, subject, expected):
    assert normalize_subject(subject) == expected


@pytest.mark.parametrize(
    "subject,expected",
    [
        ("Re: x", True),
        ("Fwd: x", True),
        ("AW: x", True),
        ("SV: x", True),
        ("回复：x", True),
        ("Re[2]: x", True),
        ("[list] Re: x", True),
        ("x", False),
        ("[list] x", False),
        ("Rex: x", False),
        ("Regarding: x", False),
        ("", False),
    ],
)
def test_has_reply_prefix(subject, expected):
    assert has_reply_prefix(subject) is expected


def test_thread_ids_own_then_parents_nearest_first():
    assert thread_ids("c@x.example", ("b@x.example",), ("a@x.example", "b@x.example")) == (
        "c@x.example",
        "b@x.example",
        "a@x.example",
    )


def test_thread_ids_drop_self_references_and_loops():
    refs = ("a@x.example", "c@x.example", "b@x.example", "a@x.example", "b@x.example")
    assert thread_ids("c@x.example", ("c@x.example",), refs) == ("c@x.example", "b@x.example", "a@x.example")


def test_thread_ids_drop_empty_ids_and_normalize():
    assert thread_ids(None, ("", "  "), ("<A@X.Example>", "b@x.example ")) == ("b@x.example", "A@x.example")


def test_thread_ids_without_own_id():
    assert thread_ids(None, ("p@x.example",), ()) == ("p@x.example",)


def test_thread_ids_cap_keeps_last_hundred_distinct_references():
    refs = tuple(f"r{i}@x.example" for i in range(250))
    ids = thread_ids("own@x.example", (), refs)
    assert len(ids) == 101
    assert ids[1] == "r249@x.example"
    assert ids[-1] == "r150@x.example"


def test_thread_ids_cap_counts_distinct_references_only():
    refs = ("root@x.example",) + ("loop@x.example",) * 500
    assert thread_ids("own@x.example", (), refs) == ("own@x.example", "loop@x.example", "root@x.example")


def test_subject_fallback_allowed():
    assert subject_fallback_allowed(False, "Re: pricing") is True
    assert subject_fallback_allowed(True, "Re: pricing") is False
    assert subject_fallback_allowed(False, "pricing") is False


NOW = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
OWN = {"me@acme.example"}


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def test_fallback_picks_latest_thread_sharing_a_participant():
    candidates = [
        (1, ago(10), {"me@acme.example", "jane@cust.example"}),
        (2, ago(2), {"me@acme.example", "jane@cust.example"}),
        (3, ago(1), {"me@acme.example", "bob@other.example"}),
    ]
    assert pick_fallback_thread(candidates, {"Jane@Cust.example", "me@acme.example"}, OWN, NOW) == 2


def test_fallback_ignores_threads_sharing_only_the_user():
    candidates = [(1, ago(1), {"me@acme.example", "bob@other.example"})]
    assert pick_fallback_thread(candidates, {"me@acme.example", "jane@cust.example"}, OWN, NOW) is None


def test_fallback_own_address_case_does_not_count_as_shared():
    candidates = [(1, ago(1), {"ME@acme.example"})]
    assert pick_fallback_thread(candidates, {"me@ACME.example", "jane@cust.example"}, OWN, NOW) is None


def test_fallback_window_is_thirty_days_inclusive():
    inside = [(1, ago(30), {"jane@cust.example"})]
    outside = [(1, ago(30.01), {"jane@cust.example"})]
    assert pick_fallback_thread(inside, {"jane@cust.example"}, OWN, NOW) == 1
    assert pick_fallback_thread(outside, {"jane@cust.example"}, OWN, NOW) is None


def test_fallback_old_thread_skipped_for_newer_within_window():
    candidates = [(1, ago(45), {"jane@cust.example"}), (2, ago(20), {"jane@cust.example"})]
    assert pick_fallback_thread(candidates, {"jane@cust.example"}, OWN, NOW) == 2


def test_fallback_tie_on_date_is_broken_by_thread_id():
    candidates = [(7, ago(1), {"jane@cust.example"}), (4, ago(1), {"jane@cust.example"})]
    assert pick_fallback_thread(candidates, {"jane@cust.example"}, OWN, NOW) == 7
    assert pick_fallback_thread(list(reversed(candidates)), {"jane@cust.example"}, OWN, NOW) == 7


def test_fallback_needs_aware_times():
    with pytest.raises(ValueError):
        pick_fallback_thread([], {"jane@cust.example"}, OWN, NOW.replace(tzinfo=None))
    with pytest.raises(ValueError):
        pick_fallback_thread([(1, ago(1).replace(tzinfo=None), {"jane@cust.example"})], {"jane@cust.example"}, OWN, NOW)
