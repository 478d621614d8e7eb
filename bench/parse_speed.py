"""Rough parse throughput: ~2,000 generated ~12 KB messages through ``parse_message``.

Run: python bench/parse_speed.py [COUNT]
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pdmail.mime.parse import parse_message

WORDS = (
    "pricing proposal renewal contract meeting quarter budget licence seats discount invoice "
    "schedule demo onboarding support escalation timeline deliverable signature approval"
).split()


def make_message(rng: random.Random, index: int, *, html_only: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {index} <buyer{index}@customer{index % 50}.example.com>"
    msg["To"] = "Sales Rep <rep@seller.example.com>"
    msg["Cc"] = ", ".join(f"cc{j}@customer{index % 50}.example.com" for j in range(rng.randint(0, 3)))
    msg["Subject"] = "Re: " + " ".join(rng.choices(WORDS, k=6))
    msg["Date"] = format_datetime(datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=index))
    msg["Message-ID"] = make_msgid(domain="customer.example.com")
    msg["References"] = " ".join(make_msgid(domain="seller.example.com") for _ in range(rng.randint(0, 6)))
    for hop in range(4):
        msg["Received"] = (
            f"from mx{hop}.example.net (mx{hop}.example.net [192.0.2.{hop}]) by mx.seller.example.com "
            f"with ESMTPS id {index:08x}{hop}; Fri, 1 Mar 2024 10:0{hop}:00 +0000"
        )
    msg["Authentication-Results"] = "mx.seller.example.com; dkim=pass header.d=customer.example.com; dmarc=pass"
    paragraphs = [" ".join(rng.choices(WORDS, k=rng.randint(40, 80))) for _ in range(rng.randint(6, 11))]
    plain = "\n\n".join(paragraphs)
    html = "<html><body>" + "".join(f"<p style='margin:0'>{p}</p>" for p in paragraphs) + "</body></html>"
    if html_only:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(plain)
        msg.add_alternative(html, subtype="html")
    if index % 4 == 0:
        msg.add_attachment(rng.randbytes(2048), maintype="application", subtype="pdf", filename="quote.pdf")
    return msg.as_bytes()


def measure(label: str, messages: list[bytes]) -> None:
    average = sum(map(len, messages)) / len(messages)
    started = time.perf_counter()
    for raw in messages:
        parse_message(raw)
    elapsed = time.perf_counter() - started
    print(
        f"{label}: {len(messages)} messages, {average / 1024:.1f} KB on average, {len(messages) / elapsed:.0f} messages/s"
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rng = random.Random(7)
    parse_message(make_message(rng, 0, html_only=True))  # warm up the HTML converter's import
    measure("text+html", [make_message(rng, i) for i in range(count)])
    measure("html only", [make_message(rng, i, html_only=True) for i in range(count // 4)])


if __name__ == "__main__":
    main()
