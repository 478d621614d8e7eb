"""The quick reading of body, size and flag fetch responses gives exactly what imapclient's parser gives, or steps aside."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response

from pdmail.accounts.imap_fetch import read_bodies, read_flags, read_sizes


def _mostly(usual: list[bytes], odd: list[bytes]):
    """Usual values eleven times in twelve, so that many responses are read quickly and compared."""
    return st.integers(0, 11).flatmap(lambda n: st.sampled_from(odd if n == 0 else usual))


_flags = st.lists(
    _mostly(
        [b"\\Seen", b"\\Answered", b"\\Recent", b"$Forwarded", b"Junk", b"$label1", b"a.b"], [b"NIL", b"nil", b"123"]
    ),
    max_size=4,
)
_days = _mostly([b"01", b"07", b" 7", b"7", b"28", b"29"], [b"31", b"30", b"00"])
_months = _mostly([b"Jan", b"Feb", b"Jun", b"Dec"], [b"Foo", b"jan"])
_times = _mostly([b"10:15:00", b"23:59:59", b"00:00:00"], [b"24:00:00", b"00:00:60"])
_zones = _mostly([b"+0000", b"+0100", b"-0530", b"+1400", b"-2359"], [b"-0000", b"+2500", b"+0160"])


@st.composite
def messages(draw) -> tuple[bytes, bytes]:
    uid = draw(st.integers(1, 2**32 - 1))
    seq = draw(st.integers(1, 10**6))
    body = draw(st.binary(max_size=200))
    date = (
        draw(_days)
        + b"-"
        + draw(_months)
        + b"-"
        + draw(st.sampled_from([b"2024", b"1999", b"2026"]))
        + b" "
        + draw(_times)
        + b" "
        + draw(_zones)
    )
    modseq = draw(st.one_of(st.none(), st.integers(1, 2**63 - 1)))
    head = (
        b'%d (UID %d FLAGS (%s) INTERNALDATE "%s"' % (seq, uid, b" ".join(draw(_flags)), date)
        + (b" MODSEQ (%d)" % modseq if modseq is not None else b"")
        + b" BODY[] {%d}" % len(body)
    )
    return head, body


def _as_imaplib_gives(items: list[tuple[bytes, bytes]]) -> list:
    data: list = []
    for head, body in items:
        data += [(head, body), b")"]
    return data


def _plain(rows) -> dict:
    """Rows with each time as (wall-clock fields, offset): time zone classes differ, moments must not."""
    out = {}
    for uid, row in rows.items():
        row = dict(row)
        when = row.get(b"INTERNALDATE")
        if when is not None:
            row[b"INTERNALDATE"] = (when.replace(tzinfo=None), when.utcoffset())
        out[uid] = row
    return out


@settings(max_examples=800, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=2))
@example([(b'1 (UID 1 FLAGS (\\Recent) INTERNALDATE "07-Jul-2026 05:23:37 +0000" MODSEQ (2) BODY[] {5}', b"hello")])
def test_the_quick_reading_agrees_with_imapclient(items):
    data = _as_imaplib_gives(items)
    quick = read_bodies(data)
    if quick is not None:
        assert _plain(quick) == _plain(parse_fetch_response(data, False, True))


def test_the_usual_answer_is_read_quickly():
    data = _as_imaplib_gives(
        [
            (
                b'3 (UID 40 FLAGS (\\Seen $Forwarded) INTERNALDATE " 5-Mar-2024 10:15:00 +0100" MODSEQ (7) BODY[] {5}',
                b"hello",
            ),
            (b'4 (UID 41 FLAGS () INTERNALDATE "05-Mar-2024 23:00:00 -0530" BODY[] {0}', b""),
        ]
    )
    rows = read_bodies(data)
    assert rows is not None and sorted(rows) == [40, 41]
    assert rows[40][b"FLAGS"] == (b"\\Seen", b"$Forwarded") and rows[40][b"MODSEQ"] == (7,)
    assert rows[40][b"INTERNALDATE"].isoformat() == "2024-03-05T10:15:00+01:00"
    assert rows[41][b"INTERNALDATE"].isoformat() == "2024-03-05T23:00:00-05:30" and rows[41][b"BODY[]"] == b""


def test_other_shapes_are_left_to_imapclient():
    usual = (b'1 (UID 9 FLAGS () INTERNALDATE "05-Mar-2024 10:15:00 +0000" BODY[] {2}', b"hi")
    assert read_bodies([usual, b")"]) is not None
    for data in (
        [usual, b" X-GM-LABELS (a))"],  # more after the body
        [usual, b")", b"2 (FLAGS (\\Seen))"],  # an unsolicited flag update
        [(b'1 (UID 9 MODSEQ (3) FLAGS () INTERNALDATE "05-Mar-2024 10:15:00 +0000" BODY[] {2}', b"hi"), b")"],
        [(b'1 (UID 9 FLAGS ("odd") INTERNALDATE "05-Mar-2024 10:15:00 +0000" BODY[] {2}', b"hi"), b")"],
        [(b'1 (UID 9 FLAGS () INTERNALDATE "05-Mar-2024 10:15:00 +0000" BODY[] {3}', b"hi"), b")"],  # wrong size
        [(b'1 (UID 9 FLAGS () INTERNALDATE "05-Mar-2024 10:15:00 -0000" BODY[] {2}', b"hi"), b")"],  # zone unknown
        [usual, b")", usual, b")"],  # the same UID twice
    ):
        assert read_bodies(data) is None, data


@st.composite
def size_lines(draw) -> bytes:
    seq, uid = draw(st.integers(1, 10**6)), draw(st.integers(1, 2**32 - 1))
    size = draw(st.integers(0, 2**40))
    return draw(
        _mostly(
            [b"%d (UID %d RFC822.SIZE %d)" % (seq, uid, size)],
            [b"%d (RFC822.SIZE %d UID %d)" % (seq, size, uid), b"%d (UID %d)" % (seq, uid), b"%d (FLAGS ())" % seq],
        )
    )


@st.composite
def flag_lines(draw) -> bytes:
    seq, uid = draw(st.integers(1, 10**6)), draw(st.integers(1, 2**32 - 1))
    modseq = draw(st.one_of(st.none(), st.integers(1, 2**63 - 1)))
    flags = b" ".join(draw(_flags))
    tail = b" MODSEQ (%d)" % modseq if modseq is not None else b""
    return draw(
        _mostly(
            [b"%d (UID %d FLAGS (%s)%s)" % (seq, uid, flags, tail)],
            [b"%d (FLAGS (%s) UID %d%s)" % (seq, flags, uid, tail), b"%d (FLAGS (%s))" % (seq, flags)],
        )
    )


@settings(max_examples=500, deadline=None)
@given(st.lists(size_lines(), min_size=1, max_size=3))
@example([b"1 (UID 7 RFC822.SIZE 2310)", b"2 (UID 9 RFC822.SIZE 0)"])
def test_the_quick_reading_of_sizes_agrees_with_imapclient(lines):
    quick = read_sizes(lines)
    if quick is not None:
        assert quick == parse_fetch_response(lines, False, True)


@settings(max_examples=500, deadline=None)
@given(st.lists(flag_lines(), min_size=1, max_size=3))
@example([b"1 (UID 7 FLAGS (\\Seen $Forwarded) MODSEQ (12))", b"2 (UID 9 FLAGS ())"])
def test_the_quick_reading_of_flags_agrees_with_imapclient(lines):
    quick = read_flags(lines)
    if quick is not None:
        assert quick == parse_fetch_response(lines, False, True)


def test_the_usual_sizes_and_flags_are_read_quickly():
    assert read_sizes([b"1 (UID 7 RFC822.SIZE 2310)", b"2 (UID 9 RFC822.SIZE 0)"]) == {
        7: {b"SEQ": 1, b"RFC822.SIZE": 2310},
        9: {b"SEQ": 2, b"RFC822.SIZE": 0},
    }
    assert read_flags([b"1 (UID 7 FLAGS (\\Seen $Forwarded) MODSEQ (12))", b"2 (UID 9 FLAGS ())"]) == {
        7: {b"SEQ": 1, b"FLAGS": (b"\\Seen", b"$Forwarded"), b"MODSEQ": (12,)},
        9: {b"SEQ": 2, b"FLAGS": ()},
    }


def test_other_size_and_flag_shapes_are_left_to_imapclient():
    for data in (
        [b"1 (UID 7 RFC822.SIZE 2310)", b"1 (UID 7 RFC822.SIZE 2310)"],  # the same UID twice
        [b"1 (RFC822.SIZE 2310 UID 7)"],  # another order
        [b"1 (UID 7 RFC822.SIZE 2310)", b"3 (FLAGS (\\Seen))"],  # an unsolicited flag update
        [(b"1 (UID 7 RFC822.SIZE {4}", b"2310"), b")"],  # a literal
    ):
        assert read_sizes(data) is None, data
    for data in (
        [b"1 (UID 7 FLAGS (NIL))"],
        [b"1 (UID 7 FLAGS (123))"],
        [b'1 (UID 7 FLAGS ("odd"))'],
        [b"1 (UID 7 MODSEQ (3) FLAGS ())"],
        [b"1 (UID 7 FLAGS ())", b"1 (UID 7 FLAGS (\\Seen))"],
        [b"1 (UID 7 FLAGS ())", b"* 3 EXPUNGE"],
    ):
        assert read_flags(data) is None, data
