"""A named corpus of bad and tricky input, generated so that each case says what it is.

``corpus()`` returns name → raw bytes. Every message here was written for pdmail's tests.
"""

from __future__ import annotations

import base64

CRLF = b"\r\n"

BASE_HEADERS = {
    "From": "Jane Doe <jane@acme.example>",
    "To": "Rep <rep@seller.example>",
    "Subject": "Pricing for 2024",
    "Date": "Tue, 05 Mar 2024 10:15:00 +0100",
    "Message-ID": "<base-1@acme.example>",
}


def message(
    headers: list[tuple[str, str | bytes]] | None = None, body: bytes | str = b"Hello Rep,\r\n", **replace
) -> bytes:
    """A message from header pairs (or the base header with ``replace`` applied; None drops a field)."""
    if headers is None:
        fields = dict(BASE_HEADERS)
        for key, value in replace.items():
            name = key.replace("_", "-")
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = value
        headers = list(fields.items())
    lines = []
    for name, value in headers:
        value_bytes = value if isinstance(value, bytes) else value.encode("utf-8")
        lines.append(name.encode("ascii") + b": " + value_bytes)
    body_bytes = body if isinstance(body, bytes) else body.encode("utf-8")
    return CRLF.join(lines) + CRLF + CRLF + body_bytes


def _base_list(**replace) -> list[tuple[str, str | bytes]]:
    fields = dict(BASE_HEADERS)
    fields.update({k.replace("_", "-"): v for k, v in replace.items()})
    return list(fields.items())


def multipart(
    subtype: str, parts: list[bytes], boundary: str, headers: list[tuple[str, str | bytes]] | None = None
) -> bytes:
    head = (headers if headers is not None else _base_list()) + [
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/{subtype}; boundary="{boundary}"'),
    ]
    body = (
        b"".join(b"--" + boundary.encode() + CRLF + part + CRLF for part in parts)
        + b"--"
        + boundary.encode()
        + b"--"
        + CRLF
    )
    return message(head, body)


def part(content_type: str, payload: bytes | str, *extra: str) -> bytes:
    head = [f"Content-Type: {content_type}", *extra]
    data = payload if isinstance(payload, bytes) else payload.encode("utf-8")
    return CRLF.join(h.encode("utf-8") for h in head) + CRLF + CRLF + data


def _nested(depth: int) -> bytes:
    """``depth`` multiparts, each inside the last, with one text part at the bottom."""
    opening = []
    closing = []
    for level in range(depth):
        opening.append(f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode())
        closing.append(f"\r\n--b{level}--".encode())
    inner = b"Content-Type: text/plain\r\n\r\ndeep text"
    head = CRLF.join(f"{k}: {v}".encode() for k, v in BASE_HEADERS.items()) + b"\r\nMIME-Version: 1.0\r\n"
    return head + b"".join(opening) + inner + b"".join(reversed(closing)) + CRLF


HTML_BODY = (
    "<html><head><style>p {color: red}</style><script>alert('x')</script></head>"
    "<body><p>Hello <b>Rep</b>,</p><p>Our budget is &euro;40k.</p>"
    "<img src='https://tracker.example/p.gif'></body></html>"
)

ICS = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Demo\r\nDTSTART:20240310T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

INNER_MESSAGE = message(
    [
        ("From", "Carl Customer <carl@customer.example>"),
        ("To", "Jane Doe <jane@acme.example>"),
        ("Subject", "Original question"),
        ("Date", "Mon, 04 Mar 2024 09:00:00 +0000"),
        ("Message-ID", "<inner-1@customer.example>"),
    ],
    b"Can you send a quote?\r\n",
)


def corpus() -> dict[str, bytes]:
    cases: dict[str, bytes] = {}
    cases["plain_ok"] = message()
    cases["no_message_id"] = message(Message_ID=None)
    cases["bad_date"] = message(Date="Someday, 99 Foo 20x4 25:61:00 +9999")
    cases["no_date"] = message(Date=None)
    cases["date_only_in_received"] = message(
        [
            ("Received", "from mx.acme.example by mx.seller.example; Wed, 06 Mar 2024 08:00:00 +0000"),
            ("Received", "from laptop by mx.acme.example; Wed, 06 Mar 2024 07:59:00 +0000"),
            ("From", "Jane Doe <jane@acme.example>"),
            ("To", "Rep <rep@seller.example>"),
            ("Subject", "No date here"),
            ("Message-ID", "<rcvd-1@acme.example>"),
        ]
    )
    cases["unknown_charset_label"] = message(
        _base_list(Content_Type="text/plain; charset=x-klingon-8", MIME_Version="1.0"), b"caf\xe9 ok\r\n"
    )
    cases["wrong_declared_charset"] = message(
        _base_list(Content_Type="text/plain; charset=utf-8", MIME_Version="1.0"), b"Caf\xe9 cr\xe8me br\xfbl\xe9e\r\n"
    )
    cases["raw_8bit_utf8_headers"] = message(
        _base_list(From="Jürgen Müller <juergen@acme.example>", Subject="Grüße aus Köln")
    )
    cases["rfc2047_name_in_from"] = message(
        _base_list(From="=?utf-8?q?Ren=C3=A9e_=C3=85berg?= <renee@acme.example>", Subject="=?iso-8859-1?q?Gr=FC=DFe?=")
    )
    cases["duplicate_subject"] = message(_base_list() + [("Subject", "Second subject")])
    cases["two_from_headers"] = message(_base_list() + [("From", "Mallory <mallory@evil.example>")])
    cases["from_with_two_mailboxes"] = message(
        _base_list(From="Jane <jane@acme.example>, Mallory <mallory@evil.example>")
    )
    cases["group_syntax_recipients"] = message(
        _base_list(To="undisclosed-recipients:;", Cc="unlisted-recipients:; Team: ann@acme.example, bo@acme.example;")
    )
    cases["html_only"] = message(_base_list(Content_Type="text/html; charset=utf-8", MIME_Version="1.0"), HTML_BODY)
    cases["alternative_html_only"] = multipart("alternative", [part("text/html; charset=utf-8", HTML_BODY)], "alt-1")
    cases["tnef_attachment"] = multipart(
        "mixed",
        [
            part("text/plain", "See attached."),
            part(
                'application/ms-tnef; name="winmail.dat"',
                base64.b64encode(b"\x78\x9f\x3e\x22" + b"\x00" * 96).decode(),
                "Content-Transfer-Encoding: base64",
                'Content-Disposition: attachment; filename="winmail.dat"',
            ),
        ],
        "tnef-1",
    )
    cases["calendar_invite"] = multipart(
        "alternative",
        [part("text/plain", "You are invited to a demo."), part("text/calendar; method=REQUEST; charset=utf-8", ICS)],
        "cal-1",
    )
    cases["attached_rfc822"] = multipart(
        "mixed",
        [
            part("text/plain", "FYI, see below."),
            part("message/rfc822", INNER_MESSAGE, 'Content-Disposition: attachment; filename="question.eml"'),
        ],
        "fwd-1",
        _base_list(Subject="Fwd: Original question"),
    )
    cases["nested_5000_deep"] = _nested(5000)
    cases["subject_20000_encoded_words"] = message(_base_list(Subject=" ".join(["=?utf-8?q?a?="] * 20000)))
    cases["parts_100000_empty"] = multipart("mixed", [b""] * 100_000, "many")
    cases["huge_header_block"] = message(_base_list() + [(f"X-Filler-{i}", "x" * 1000) for i in range(1200)])
    cases["bom_and_blank_lines"] = b"\xef\xbb\xbf\r\n  \r\n\r\n" + message()
    cases["mbox_from_line_first"] = b"From jane@acme.example Tue Mar  5 10:15:00 2024\n" + message()
    cases["non_header_line_in_header"] = message(
        [("From", "Jane Doe <jane@acme.example>")]
        + [("quite Delivered-To", "rep@seller.example")]  # written as a line with a space in the name
        + [
            ("To", "Rep <rep@seller.example>"),
            ("Subject", "After the odd line"),
            ("Message-ID", "<odd-1@acme.example>"),
        ]
    )
    cases["broken_base64"] = message(
        _base_list(MIME_Version="1.0", Content_Type="text/plain; charset=utf-8", Content_Transfer_Encoding="base64"),
        b"SGVsbG8gUmVw!!!LCBo*ZWxsbw\r\n",
    )
    cases["nul_bytes_in_header"] = message(_base_list(Subject=b"Null\x00 inside\x00"))
    cases["references_self_and_loop"] = message(
        _base_list(
            Message_ID="<loop-a@acme.example>",
            References="<loop-b@acme.example> <loop-a@acme.example> <loop-b@acme.example>",
            In_Reply_To="<loop-b@acme.example>",
        )
    )
    cases["references_bare_ids"] = message(
        _base_list(
            References="first@acme.example <second@acme.example> third@Acme.Example", In_Reply_To="third@acme.example"
        )
    )
    cases["references_5000"] = message(
        _base_list(References="\r\n ".join(f"<ref-{i}@acme.example>" for i in range(5000)))
    )
    cases["attachment_path_traversal"] = multipart(
        "mixed",
        [
            part("text/plain", "Files attached."),
            part("application/octet-stream", b"secret", 'Content-Disposition: attachment; filename="../../.bashrc"'),
            part(
                "application/octet-stream",
                b"x",
                "Content-Disposition: attachment; filename*=utf-8''%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            ),
            part("application/octet-stream", b"y", 'Content-Disposition: attachment; filename="C:\\\\x\\\\evil.exe"'),
        ],
        "trav-1",
    )
    cases["terminal_escape_and_bidi_subject"] = message(_base_list(Subject="\x1b[2J[b]x[/b] \u202eexe.pdf"))
    cases["empty_bytes"] = b""
    cases["binary_garbage"] = bytes(range(256)) * 4 + b"\x00\xff" * 300
    return cases


# Cases that must be refused, and a word their reason contains.
REFUSED = {
    "nested_5000_deep": "nesting",
    "parts_100000_empty": "parts",
    "huge_header_block": "header block",
    "subject_20000_encoded_words": "header field",
    "empty_bytes": "empty",
    "binary_garbage": "not an email",
}
