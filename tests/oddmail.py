"""Hand-written messages with what real mail carries and strict code trips on: odd addresses, and text
in charsets that decode to a lone UTF-16 surrogate or that read escape sequences.

Every message here was written for pdmail's tests.
"""

from __future__ import annotations

OWN = "Maria Lopez <maria@northwind.example>"
STRANGER = "Eve <eve@elsewhere.example>"
CAPTURE = "capture@bcc.northwind.example"

# (name, To header as written, what `show` lists as the address, whether a contact may be made of it)
ADDRESS_CLASSES = [
    ("dotless domain", "Greg <greg@inbucket>", "greg@inbucket", True),
    ("localhost", "root@localhost", "root@localhost", True),
    ("intranet host", "alice@intern", "alice@intern", True),
    ("quoted local part needing no quotes", '"bguste"@enron.com', "bguste@enron.com", True),
    ("quoted local part with a comma", '"a,b"@example.com', '"a,b"@example.com', True),
    ("quoted local part with a space", 'Ann <"ann lee"@example.com>', '"ann lee"@example.com', True),
    (
        "quoted local part with brackets",
        '"e-mail <.annette@enron.com>"@enron.com',
        '"e-mail <.annette@enron.com>"@enron.com',
        True,
    ),
    ("IPv4 address literal", "user@[192.0.2.1]", "user@[192.0.2.1]", True),
    ("IPv6 address literal", "ops@[IPv6:2001:db8::1]", "ops@[ipv6:2001:db8::1]", True),
    ("internationalized domain", "Jörg <jörg@bücher.example>", "jörg@bücher.example", True),
    ("punycode domain", "j@xn--bcher-kva.example", "j@xn--bcher-kva.example", True),
    ("two @", "brian.r.vassigh@accenture.com@enron", "brian.r.vassigh@accenture.com@enron", False),
    ("empty local part", "@mailman.enron.com", "@mailman.enron.com", False),
    ("group-ish junk", "e-mail <.annette@enron.com>@ENRON", "e-mail <.annette@enron.com>@ENRON", False),
]


def mail(
    *,
    frm: str = OWN,
    to: str = "Ada Byron <ada@acme.example>",
    subject: str = "Quote",
    mid: str | None = "<m1@northwind.example>",
    extra: tuple = (),
    body: str | bytes = "Hello Ada,\r\n",
) -> bytes:
    headers: list[tuple[str, str]] = [
        ("From", frm),
        ("To", to),
        ("Subject", subject),
        ("Date", "Mon, 16 Nov 2026 09:12:00 +0100"),
    ]
    if mid:
        headers.append(("Message-ID", mid))
    headers += list(extra)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers).encode("utf-8")
    return head + b"\r\n" + (body if isinstance(body, bytes) else body.encode("utf-8"))


# Encoded words whose charset makes Python produce a lone surrogate, or read escape sequences.
UTF7_SURROGATE = "=?utf-7?Q?+2D0-?="
ESCAPE_SURROGATE = "=?unicode_escape?Q?=5Cud800?="


def _multipart(
    frm: str, mid: str, parts: list[bytes], *, to: str = "Ada Byron <ada@acme.example>", subject: str = "Quote"
) -> bytes:
    head = (
        f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 16 Nov 2026 09:12:00 +0100\r\n"
        f"Message-ID: {mid}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
    )
    body = b"".join(b"--b1\r\n" + p + b"\r\n" for p in parts) + b"--b1--\r\n"
    return head.encode() + body


def poison(where: str, word: str, *, frm: str = OWN, mid: str = "<poison@northwind.example>") -> bytes:
    """A message with ``word`` (an encoded word) or an escape-reading charset in one place."""
    if where == "subject":
        return mail(frm=frm, mid=mid, subject=f"Quote {word}")
    if where == "display name":
        return mail(frm=frm, mid=mid, to=f"{word} <ada@acme.example>")
    if where == "attachment name":
        encoded = word.replace("?Q?", "?Q?file").replace("?=", ".txt?=")
        return _multipart(
            frm,
            mid,
            [
                b"Content-Type: text/plain\r\n\r\nSee the file.",
                (
                    f'Content-Type: text/plain; name="{encoded}"\r\n'
                    f'Content-Disposition: attachment; filename="{encoded}"\r\n\r\nx'
                ).encode(),
            ],
        )
    if where == "forwarded original":
        original = (
            f"From: Ada Byron <ada@acme.example>\r\nTo: {OWN}\r\nSubject: Order {word}\r\n"
            "Date: Sun, 15 Nov 2026 18:00:00 +0100\r\nMessage-ID: <orig@acme.example>\r\n\r\n"
            "Please send 40 units.\r\n"
        ).encode()
        return _multipart(
            frm,
            mid,
            [b"Content-Type: text/plain\r\n\r\nFYI", b"Content-Type: message/rfc822\r\n\r\n" + original],
            to=CAPTURE,
            subject="Fwd: Order",
        )
    if where == "body":
        charset = "utf-7" if "utf-7" in word else "unicode_escape"
        text = b"Caf+AOk- +2D0- done" if charset == "utf-7" else "caf\u00e9 \\ud800 done".encode()
        return _multipart(frm, mid, [f"Content-Type: text/plain; charset={charset}\r\n\r\n".encode() + text])
    raise ValueError(where)


POISON_PLACES = ["subject", "display name", "attachment name", "forwarded original", "body"]
POISON_WORDS = {"utf-7": UTF7_SURROGATE, "unicode_escape": ESCAPE_SURROGATE}
