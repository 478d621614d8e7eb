"""Rough sending throughput: COUNT messages through the outbox to a local SMTP server over STARTTLS.

Each message is composed, queued, delivered (TLS handshake and login every time, as `pdmail send`
does), stored as outgoing mail and linked. The SMTP server is the test suite's aiosmtpd on 127.0.0.1,
so the figure is pdmail's own cost plus a loopback TLS session, not a real network's.

Run: python bench/send_speed.py [COUNT]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from smtpserver import SmtpServer  # noqa: E402

from pdmail.core.models import Address  # noqa: E402
from pdmail.send import compose, outbox  # noqa: E402
from pdmail.store import open_db  # noqa: E402
from pdmail.store.accounts import add_account  # noqa: E402
from pdmail.store.crm import add_contact, add_deal  # noqa: E402
from pdmail.store.users import init_company  # noqa: E402

SENDER = "maria@northwind.example"
PASSWORD = "bench-password"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as folder, SmtpServer(users={SENDER: PASSWORD}) as server:
        db = open_db(Path(folder) / "bench.db", create=True)
        user = init_company(db, company="Northwind", name="Maria Lopez", email=SENDER)
        with db.tx():
            contact = add_contact(db, "Ana Ruiz", ["ana@acme.example"])
        add_deal(db, "40 seats", contact_id=contact.id)
        os.environ["PDMAIL_BENCH_PASSWORD"] = PASSWORD
        add_account(
            db,
            user,
            name="work",
            kind="imap",
            provider="gmail",
            address=SENDER,
            imap_host="127.0.0.1",
            imap_port=1,
            imap_security="tls",
            smtp_host="127.0.0.1",
            smtp_port=server.port,
            smtp_security="starttls",
            secret_source={"env": "PDMAIL_BENCH_PASSWORD"},
            cafile=str(server.cafile),
        )

        draft = compose.Draft(
            sender=Address("Maria", SENDER),
            to=(Address("Ana", "ana@acme.example"),),
            subject="Quote",
            body="Hello Ana,\n" + "the quote follows. " * 200,
        )
        start = time.perf_counter()
        for _ in range(count):
            compose.compose(draft)
        compose_ms = (time.perf_counter() - start) * 1000 / count

        start = time.perf_counter()
        for i in range(count):
            req = outbox.SendRequest(to=["ana@acme.example"], subject=f"Quote {i}", body="Hello Ana,\n" * 50)
            result = outbox.send(db, user, req, datetime.now(UTC))
            assert result.status == "sent", result.detail
        elapsed = time.perf_counter() - start
        assert len(server.messages) == count
        linked = db.scalar("SELECT count(*) FROM emails WHERE deal_id IS NOT NULL")
        print(f"compose: {compose_ms:.2f} ms per message")
        print(
            f"send: {count} messages in {elapsed:.1f} s = {count / elapsed:.1f} messages/s "
            f"({elapsed * 1000 / count:.1f} ms each: STARTTLS, AUTH, DATA, store, link); {linked} linked to the deal"
        )


if __name__ == "__main__":
    main()
