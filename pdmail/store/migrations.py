"""The schema, as numbered migrations. Nothing else in pdmail creates or alters tables.

A migration is never edited once released: a change is a new migration appended to ``MIGRATIONS``.
``PRAGMA user_version`` holds how many have been applied, so a database made by a newer pdmail
(a higher number than this code knows) is recognized and refused before anything touches it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

Migration = tuple[str, Callable[[sqlite3.Connection], None]]
LEDGER = "_pdmail_migrations"  # the table that records which migrations a database has had


def run_script(db: sqlite3.Connection, script: str) -> None:
    """Run statements one by one: ``executescript`` would COMMIT the migration's transaction."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement.strip()[:60]}")


def m001_core(db: sqlite3.Connection) -> None:
    """Company, users, CRM records, captured email, links, quarantine and the search index."""
    run_script(
        db,
        """
        CREATE TABLE company (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            name TEXT NOT NULL,
            created_utc TEXT NOT NULL
        );
        CREATE TABLE company_settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE app_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            is_admin INTEGER NOT NULL DEFAULT 0,
            created_utc TEXT NOT NULL
        );
        CREATE TABLE user_settings (
            user_id INTEGER NOT NULL REFERENCES users(id),
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (user_id, key)
        );
        CREATE TABLE user_addresses (
            email TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            created_utc TEXT NOT NULL
        );
        CREATE INDEX user_addresses_by_user ON user_addresses(user_id);
        CREATE TABLE blocked (
            pattern TEXT PRIMARY KEY,
            created_utc TEXT NOT NULL
        );

        CREATE TABLE orgs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            domain TEXT,
            created_utc TEXT NOT NULL
        );
        CREATE INDEX orgs_by_name ON orgs(name COLLATE NOCASE);
        CREATE TABLE contacts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            org_id INTEGER REFERENCES orgs(id),
            title TEXT,
            phone TEXT,
            created_utc TEXT NOT NULL
        );
        CREATE INDEX contacts_by_org ON contacts(org_id);
        CREATE TABLE contact_emails (
            email TEXT PRIMARY KEY,
            contact_id INTEGER NOT NULL REFERENCES contacts(id),
            position INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE INDEX contact_emails_by_contact ON contact_emails(contact_id);
        CREATE TABLE deals (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            contact_id INTEGER REFERENCES contacts(id),
            org_id INTEGER REFERENCES orgs(id),
            value REAL,
            currency TEXT,
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'won', 'lost', 'deleted')),
            created_utc TEXT NOT NULL,
            updated_utc TEXT NOT NULL
        );
        CREATE INDEX deals_by_contact ON deals(contact_id, status);
        CREATE INDEX deals_by_org ON deals(org_id, status);

        -- Raw messages, content-addressed, so a better parser can re-parse them later.
        CREATE TABLE raw_messages (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            data BLOB NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE threads (
            id INTEGER PRIMARY KEY,
            owner_id INTEGER NOT NULL REFERENCES users(id),
            subject_norm TEXT NOT NULL DEFAULT '',
            deal_id INTEGER REFERENCES deals(id),
            deal_rule TEXT,
            is_deal_manual INTEGER NOT NULL DEFAULT 0,
            visibility TEXT NOT NULL CHECK (visibility IN ('shared', 'private')),
            last_date_utc TEXT,
            created_utc TEXT NOT NULL
        );
        CREATE INDEX threads_by_subject ON threads(owner_id, subject_norm, last_date_utc);
        -- Every Message-ID a thread has seen or been referred to by: how replies find their thread.
        CREATE TABLE thread_message_ids (
            owner_id INTEGER NOT NULL,
            message_id TEXT NOT NULL,
            thread_id INTEGER NOT NULL REFERENCES threads(id),
            PRIMARY KEY (owner_id, message_id)
        ) WITHOUT ROWID;
        CREATE INDEX thread_message_ids_by_thread ON thread_message_ids(thread_id);

        CREATE TABLE emails (
            id INTEGER PRIMARY KEY,
            owner_id INTEGER NOT NULL REFERENCES users(id),
            thread_id INTEGER NOT NULL REFERENCES threads(id),
            message_id TEXT,
            message_id_norm TEXT,
            alt_message_id TEXT,
            fingerprint TEXT NOT NULL,
            raw_sha256 TEXT NOT NULL REFERENCES raw_messages(sha256),
            wrapper_sha256 TEXT REFERENCES raw_messages(sha256),
            direction TEXT NOT NULL CHECK (direction IN ('incoming', 'outgoing')),
            source TEXT NOT NULL CHECK (source IN ('sync', 'bcc', 'sent')),
            from_name TEXT NOT NULL DEFAULT '',
            from_email TEXT NOT NULL DEFAULT '',
            to_json TEXT NOT NULL DEFAULT '[]',
            cc_json TEXT NOT NULL DEFAULT '[]',
            addresses TEXT NOT NULL DEFAULT '',
            subject TEXT NOT NULL DEFAULT '',
            date_utc TEXT NOT NULL,
            date_source TEXT NOT NULL DEFAULT 'header',
            snippet TEXT NOT NULL DEFAULT '',
            body_text TEXT NOT NULL DEFAULT '',
            attachments_json TEXT NOT NULL DEFAULT '[]',
            folder TEXT NOT NULL DEFAULT 'inbox'
                CHECK (folder IN ('inbox', 'sent', 'archive', 'trash')),
            is_read INTEGER NOT NULL DEFAULT 0,
            is_deleted INTEGER NOT NULL DEFAULT 0,
            visibility TEXT NOT NULL CHECK (visibility IN ('shared', 'private')),
            deal_id INTEGER REFERENCES deals(id),
            deal_rule TEXT,
            is_deal_manual INTEGER NOT NULL DEFAULT 0,
            is_links_manual INTEGER NOT NULL DEFAULT 0,
            needs_deal INTEGER NOT NULL DEFAULT 0,
            is_automated INTEGER NOT NULL DEFAULT 0,
            link_verdict TEXT,
            link_trace_json TEXT NOT NULL DEFAULT '[]',
            link_input_json TEXT NOT NULL DEFAULT '{}',
            bcc_deal_id INTEGER,
            parse_status TEXT NOT NULL DEFAULT 'ok',
            captured_utc TEXT NOT NULL,
            UNIQUE (owner_id, fingerprint)
        );
        CREATE INDEX emails_by_owner_date ON emails(owner_id, date_utc DESC, id DESC);
        CREATE INDEX emails_by_date ON emails(date_utc DESC, id DESC);
        CREATE INDEX emails_by_thread ON emails(thread_id, date_utc);
        CREATE INDEX emails_by_message_id ON emails(owner_id, message_id_norm);
        CREATE INDEX emails_by_alt_message_id ON emails(owner_id, alt_message_id)
            WHERE alt_message_id IS NOT NULL;
        CREATE INDEX emails_by_deal ON emails(deal_id) WHERE deal_id IS NOT NULL;
        CREATE INDEX emails_needing_deal ON emails(owner_id, date_utc) WHERE needs_deal = 1;

        -- Every address on an email, so new contacts can find earlier mail (retroactive linking).
        CREATE TABLE email_addresses (
            address TEXT NOT NULL,
            email_id INTEGER NOT NULL REFERENCES emails(id),
            role TEXT NOT NULL CHECK (role IN ('from', 'to', 'cc', 'reply_to')),
            PRIMARY KEY (address, email_id, role)
        ) WITHOUT ROWID;
        CREATE INDEX email_addresses_by_email ON email_addresses(email_id);

        CREATE TABLE email_contacts (
            email_id INTEGER NOT NULL REFERENCES emails(id),
            contact_id INTEGER NOT NULL REFERENCES contacts(id),
            address TEXT NOT NULL DEFAULT '',
            rule TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            is_manual INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (email_id, contact_id)
        ) WITHOUT ROWID;
        CREATE INDEX email_contacts_by_contact ON email_contacts(contact_id, email_id);

        -- Who changed visibility or links, when, from what to what: shown by `explain`.
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at_utc TEXT NOT NULL,
            user_id INTEGER REFERENCES users(id),
            action TEXT NOT NULL,
            email_id INTEGER,
            thread_id INTEGER,
            from_value TEXT,
            to_value TEXT
        );
        CREATE INDEX audit_log_by_thread ON audit_log(thread_id);
        CREATE INDEX audit_log_by_email ON audit_log(email_id);

        -- Smart BCC mail that was refused: kept with the reason, released only after review.
        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY,
            received_utc TEXT NOT NULL,
            source TEXT NOT NULL,
            recipient TEXT,
            raw_sha256 TEXT REFERENCES raw_messages(sha256),
            spool_path TEXT,
            size INTEGER NOT NULL,
            from_email TEXT,
            subject TEXT,
            reason TEXT NOT NULL,
            owner_id INTEGER REFERENCES users(id),
            status TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'released')),
            released_email_id INTEGER REFERENCES emails(id),
            released_utc TEXT
        );

        CREATE VIRTUAL TABLE email_fts USING fts5(
            subject, body_text, addresses,
            content='emails', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'
        );
        """,
    )


def m002_inbox_indexes(db: sqlite3.Connection) -> None:
    """The inbox reads one user's folder newest first: one index answers it, its count and its pages."""
    run_script(
        db,
        """
        CREATE INDEX emails_by_owner_folder_date ON emails(owner_id, folder, date_utc DESC, id DESC);
        """,
    )


def m003_accounts(db: sqlite3.Connection) -> None:
    """Mail accounts: where to connect and where the secret comes from, never the secret itself."""
    run_script(
        db,
        """
        CREATE TABLE accounts (
            id INTEGER PRIMARY KEY,
            owner_id INTEGER NOT NULL REFERENCES users(id),
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('imap', 'maildir')),
            provider TEXT,
            address TEXT NOT NULL,
            imap_host TEXT,
            imap_port INTEGER,
            imap_security TEXT CHECK (imap_security IN ('tls', 'starttls')),
            smtp_host TEXT,
            smtp_port INTEGER,
            smtp_security TEXT CHECK (smtp_security IN ('tls', 'starttls')),
            username TEXT,
            auth TEXT NOT NULL DEFAULT 'password' CHECK (auth IN ('password', 'oauth2')),
            secret_source TEXT,
            cafile TEXT,
            maildir_path TEXT,
            since TEXT,
            folders_json TEXT,
            past TEXT,
            is_default INTEGER NOT NULL DEFAULT 0,
            created_utc TEXT NOT NULL,
            UNIQUE (owner_id, name)
        );
        CREATE UNIQUE INDEX accounts_one_default ON accounts(owner_id) WHERE is_default = 1;
        """,
    )


def m004_sync_state(db: sqlite3.Connection) -> None:
    """What 2-way sync knows about each server: folders, where each email sits, and local intents.

    A folder's cursor (uidvalidity, last_uid, highestmodseq) is only written in the transaction that
    stores the messages it covers, so an interrupted run resumes without loss or duplicates.
    """
    run_script(
        db,
        """
        CREATE TABLE sync_folders (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            role TEXT NOT NULL DEFAULT 'other'
                CHECK (role IN ('inbox', 'sent', 'archive', 'trash', 'junk', 'other')),
            uidvalidity INTEGER,
            last_uid INTEGER NOT NULL DEFAULT 0,
            highestmodseq INTEGER,
            last_full_scan_utc TEXT,
            uidnext INTEGER,
            exists_count INTEGER,
            is_missing INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            UNIQUE (account_id, name)
        );
        -- Where each email sits on a server: one row per (folder, UIDVALIDITY, UID). A row whose message
        -- left the folder is kept with is_gone = 1; email_id is NULL for a message capture skipped.
        CREATE TABLE locations (
            id INTEGER PRIMARY KEY,
            folder_id INTEGER NOT NULL REFERENCES sync_folders(id) ON DELETE CASCADE,
            uidvalidity INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            source_key TEXT,
            email_id INTEGER REFERENCES emails(id),
            flags TEXT NOT NULL DEFAULT '',
            modseq INTEGER,
            is_gone INTEGER NOT NULL DEFAULT 0,
            updated_utc TEXT NOT NULL,
            UNIQUE (folder_id, uidvalidity, uid)
        );
        CREATE INDEX locations_by_email ON locations(email_id) WHERE email_id IS NOT NULL;
        CREATE INDEX locations_by_key ON locations(folder_id, source_key) WHERE source_key IS NOT NULL;
        -- A local change (read, unread, archive, delete, restore) waiting to reach one account's server.
        CREATE TABLE pending_ops (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            email_id INTEGER NOT NULL REFERENCES emails(id),
            kind TEXT NOT NULL CHECK (kind IN ('read', 'unread', 'archive', 'delete', 'restore')),
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'inflight', 'done', 'skipped', 'superseded', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_utc TEXT NOT NULL,
            updated_utc TEXT NOT NULL
        );
        CREATE INDEX pending_ops_open ON pending_ops(account_id, id) WHERE status IN ('pending', 'inflight');
        CREATE INDEX pending_ops_by_email ON pending_ops(email_id, status);
        CREATE TABLE sync_runs (
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            started_utc TEXT NOT NULL,
            finished_utc TEXT,
            outcome TEXT NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'ok', 'partial', 'tempfail', 'authfail', 'error', 'interrupted')),
            new INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            deleted INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            message TEXT,
            folder_errors_json TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX sync_runs_by_account ON sync_runs(account_id, id);
        -- Messages that could not be fetched or read: retried on later runs, never forgotten.
        CREATE TABLE fetch_failures (
            folder_id INTEGER NOT NULL REFERENCES sync_folders(id) ON DELETE CASCADE,
            uidvalidity INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            source_key TEXT,
            reason TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 1,
            first_utc TEXT NOT NULL,
            last_utc TEXT NOT NULL,
            PRIMARY KEY (folder_id, uidvalidity, uid)
        );
        """,
    )


def m005_outbox(db: sqlite3.Connection) -> None:
    """Mail waiting to be sent, what became of each attempt, and reusable templates.

    A row is written before any network traffic, with its Message-ID and token already fixed, so a
    crash leaves a record that says how far sending got. Outbox rows belong to their owner alone.
    """
    run_script(
        db,
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            owner_id INTEGER NOT NULL REFERENCES users(id),
            account_id INTEGER NOT NULL,  -- no foreign key: removing an account must not erase its history
            raw_sha256 TEXT NOT NULL REFERENCES raw_messages(sha256),
            message_id TEXT NOT NULL,
            token TEXT NOT NULL UNIQUE,
            envelope_from TEXT NOT NULL,
            recipients_json TEXT NOT NULL,
            bcc_json TEXT NOT NULL DEFAULT '[]',
            subject TEXT NOT NULL DEFAULT '',
            visibility TEXT CHECK (visibility IN ('shared', 'private')),
            reply_to_email_id INTEGER REFERENCES emails(id),
            due_utc TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'ambiguous', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            claimed_by TEXT,
            claimed_utc TEXT,
            body_sent_utc TEXT,
            sent_utc TEXT,
            email_id INTEGER REFERENCES emails(id),
            sent_copy TEXT NOT NULL DEFAULT 'pending'
                CHECK (sent_copy IN ('pending', 'done', 'by_provider', 'none', 'failed')),
            sent_copy_error TEXT,
            created_utc TEXT NOT NULL
        );
        CREATE INDEX outbox_due ON outbox(status, due_utc);
        CREATE INDEX outbox_by_owner ON outbox(owner_id, id);
        CREATE INDEX outbox_copy_pending ON outbox(owner_id) WHERE status = 'sent' AND sent_copy = 'pending';

        -- Reusable messages: a user's own (owner_id set) or the whole company's (owner_id NULL).
        CREATE TABLE templates (
            id INTEGER PRIMARY KEY,
            owner_id INTEGER REFERENCES users(id),
            name TEXT NOT NULL,
            subject TEXT NOT NULL DEFAULT '',
            body TEXT NOT NULL DEFAULT '',
            created_utc TEXT NOT NULL,
            updated_utc TEXT NOT NULL
        );
        CREATE UNIQUE INDEX templates_by_name ON templates(coalesce(owner_id, 0), name);
        """,
    )


def m006_contact_addresses_in_order(db: sqlite3.Connection) -> None:
    """Listing every contact with its addresses in order reads the index alone, with no sort per contact."""
    run_script(
        db,
        """
        DROP INDEX contact_emails_by_contact;
        CREATE INDEX contact_emails_by_contact ON contact_emails(contact_id, position, email);
        """,
    )


def m007_raw_messages_by_rowid(db: sqlite3.Connection) -> None:
    """Raw messages in an ordinary table, found through an index on their hash.

    A WITHOUT ROWID table keeps each row inside its B-tree, which SQLite advises only for rows far
    smaller than a page; a message is tens of kilobytes, and storing one took five times as long.
    Rebuilt the way SQLite documents for a changed table: new table, copy, drop, rename.
    """
    run_script(
        db,
        """
        CREATE TABLE raw_messages_new (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        INSERT INTO raw_messages_new (sha256, size, data) SELECT sha256, size, data FROM raw_messages;
        DROP TABLE raw_messages;
        ALTER TABLE raw_messages_new RENAME TO raw_messages;
        """,
    )


def m008_quarantine_by_content(db: sqlite3.Connection) -> None:
    """The quarantine keeps one entry per message, and alternative addresses wait for an admin.

    Each entry now records the hash of its bytes (kept in raw_messages, or in the spool folder for an
    oversized message, whose file is named by that hash), so the same message refused twice is held
    once. Older files may hold one message several times: the oldest held entry stays and the later
    ones go (their bytes are the very same); held entries whose message was already released go too.
    An entry can also end 'stored': the same bytes were captured another way (sync, an allowed sender).

    Alternative addresses get an approval. Those that exist were accepted under the old rules and stay
    in force, approved when they were added.

    Raw messages become findable from what refers to them, so that discarding a quarantined message
    can tell whether its bytes are still needed (and SQLite's own reference check stays quick).
    """
    run_script(
        db,
        """
        CREATE TABLE quarantine_new (
            id INTEGER PRIMARY KEY,
            received_utc TEXT NOT NULL,
            source TEXT NOT NULL,
            recipient TEXT,
            content_sha256 TEXT,
            raw_sha256 TEXT REFERENCES raw_messages(sha256),
            spool_path TEXT,
            size INTEGER NOT NULL,
            from_email TEXT,
            subject TEXT,
            reason TEXT NOT NULL,
            owner_id INTEGER REFERENCES users(id),
            status TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'released', 'stored')),
            released_email_id INTEGER REFERENCES emails(id),
            released_utc TEXT
        );
        INSERT INTO quarantine_new (id, received_utc, source, recipient, content_sha256, raw_sha256, spool_path,
                                    size, from_email, subject, reason, owner_id, status, released_email_id,
                                    released_utc)
        SELECT id, received_utc, source, recipient,
               CASE
                   WHEN raw_sha256 IS NOT NULL THEN raw_sha256
                   WHEN spool_path LIKE '%.eml' AND length(spool_path) >= 68
                        AND substr(spool_path, length(spool_path) - 67, 64) NOT GLOB '*[^0-9a-f]*'
                       THEN substr(spool_path, length(spool_path) - 67, 64)
               END,
               raw_sha256, spool_path, size, from_email, subject, reason, owner_id, status, released_email_id,
               released_utc
        FROM quarantine;
        DROP TABLE quarantine;
        ALTER TABLE quarantine_new RENAME TO quarantine;
        DELETE FROM quarantine
        WHERE status = 'held' AND content_sha256 IS NOT NULL
          AND EXISTS (SELECT 1 FROM quarantine AS other
                      WHERE other.content_sha256 = quarantine.content_sha256
                        AND (other.status != 'held' OR other.id < quarantine.id));
        CREATE INDEX quarantine_by_content ON quarantine(content_sha256);
        CREATE UNIQUE INDEX quarantine_held_once ON quarantine(content_sha256) WHERE status = 'held';
        CREATE INDEX quarantine_by_raw ON quarantine(raw_sha256) WHERE raw_sha256 IS NOT NULL;
        CREATE INDEX quarantine_by_date ON quarantine(status, received_utc);

        ALTER TABLE user_addresses ADD COLUMN approved_utc TEXT;
        ALTER TABLE user_addresses ADD COLUMN approved_by INTEGER REFERENCES users(id);
        UPDATE user_addresses SET approved_utc = created_utc;

        CREATE INDEX emails_by_raw ON emails(raw_sha256);
        CREATE INDEX emails_by_wrapper ON emails(wrapper_sha256) WHERE wrapper_sha256 IS NOT NULL;
        CREATE INDEX outbox_by_raw ON outbox(raw_sha256);
        """,
    )


def m009_links_caused_by_colleagues(db: sqlite3.Connection) -> None:
    """Who caused a link that another user's change added to an email, and whether it waits for the owner.

    Rule 4 of the sharing law: no action of one user makes another user's email visible to more
    people. A contact or deal link that a colleague's change adds to an email nobody else sees is
    *proposed*: recorded with who caused it and when, counted for sharing only once the owner
    accepts it. Links that exist already count as they did.
    """
    run_script(
        db,
        """
        ALTER TABLE email_contacts ADD COLUMN caused_by INTEGER REFERENCES users(id);
        ALTER TABLE email_contacts ADD COLUMN caused_utc TEXT;
        ALTER TABLE email_contacts ADD COLUMN is_proposed INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE emails ADD COLUMN deal_caused_by INTEGER REFERENCES users(id);
        ALTER TABLE emails ADD COLUMN deal_caused_utc TEXT;
        ALTER TABLE emails ADD COLUMN is_deal_proposed INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX email_contacts_proposed ON email_contacts(email_id) WHERE is_proposed = 1;
        CREATE INDEX emails_with_proposed_deal ON emails(owner_id, thread_id) WHERE is_deal_proposed = 1;
        """,
    )


def m010_sync_past_by_arrival(db: sqlite3.Connection) -> None:
    """``--past contacts`` judged by arrival, and the mail it leaves out remembered so it can come later.

    ``past_uidnext`` is the folder's UIDNEXT when pdmail first looked at it under its UIDVALIDITY:
    a UID at or above it arrived later. Each message left out as past is kept in ``past_skips`` with
    the addresses that would have made it wanted, so a later sync fetches it once one of them is a
    contact (or the account's choice becomes "everyone") without reading the server again.

    An older pdmail judged by the Date header and kept no such record: the messages it left out of
    such accounts are marked to be read once more and judged again. A message it quarantined is not.
    ``sync_runs.progress_utc`` is when a run last committed, so a run killed midway shows what it kept.
    """
    run_script(
        db,
        """
        ALTER TABLE sync_folders ADD COLUMN past_uidnext INTEGER;
        ALTER TABLE sync_runs ADD COLUMN progress_utc TEXT;
        CREATE TABLE past_skips (
            id INTEGER PRIMARY KEY,
            folder_id INTEGER NOT NULL REFERENCES sync_folders(id) ON DELETE CASCADE,
            uidvalidity INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            message_id_norm TEXT,
            recheck INTEGER NOT NULL DEFAULT 0,
            UNIQUE (folder_id, uidvalidity, uid)
        );
        CREATE INDEX past_skips_by_message_id ON past_skips(message_id_norm) WHERE message_id_norm IS NOT NULL;
        CREATE TABLE past_skip_addresses (
            skip_id INTEGER NOT NULL REFERENCES past_skips(id) ON DELETE CASCADE,
            address TEXT NOT NULL,
            PRIMARY KEY (skip_id, address)
        ) WITHOUT ROWID;
        INSERT INTO past_skips (folder_id, uidvalidity, uid, recheck)
            SELECT l.folder_id, l.uidvalidity, l.uid, 1
            FROM locations l JOIN sync_folders f ON f.id = l.folder_id JOIN accounts a ON a.id = f.account_id
            WHERE l.email_id IS NULL AND l.is_gone = 0 AND l.uidvalidity = f.uidvalidity AND a.past = 'contacts'
              AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.source =
                              'sync:' || a.name || ':' || f.name || '/' || l.uidvalidity || '/' || l.uid);
        """,
    )


# The minor units of ISO 4217 currencies that do not have two decimals, as they were when migration
# 011 was written. Frozen on purpose: a migration must do the same thing whenever it runs, so it
# keeps its own copy instead of following pdmail.core.money's table as that one grows.
_MINOR_UNITS_011 = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
                     "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}  # fmt: skip


def _exact_money_011(value: object, currency: str | None) -> str | None:
    """A deal value that was stored as a float, as decimal text with its currency's decimals.

    ``Decimal(str(value))`` reads the shortest text that gives back the same float, which is what was
    typed (120000.1, not 120000.100000000005...); rounding half up to the currency's minor units then
    gives the amount the float stood for.
    """
    from decimal import ROUND_HALF_UP, Decimal

    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value != value
        or value in (float("inf"), float("-inf"))
    ):
        raise RuntimeError(f"a deal value that is not a number cannot be converted: {value!r}")
    places = _MINOR_UNITS_011.get((currency or "").strip().upper(), 2)
    return f"{Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"


def m011_exact_money_and_first_names(db: sqlite3.Connection) -> None:
    """Deal values as exact decimal text instead of floats, and a contact's own first name.

    A float cannot hold most amounts of money exactly (480000.10 is stored as 480000.09999...); text
    with the currency's decimals can. The column is rebuilt in place (add, fill, drop, rename) so the
    deals keep their ids and every reference to them. A contact's first name is optional: when it is
    not given, templates read it from the full name.
    """
    run_script(
        db,
        """
        ALTER TABLE contacts ADD COLUMN first_name TEXT;
        ALTER TABLE deals ADD COLUMN value_exact TEXT;
        """,
    )
    rows = db.execute("SELECT id, value, currency FROM deals WHERE value IS NOT NULL").fetchall()
    db.executemany(
        "UPDATE deals SET value_exact = ? WHERE id = ?",
        [(_exact_money_011(value, currency), deal_id) for deal_id, value, currency in rows],
    )
    run_script(
        db,
        """
        ALTER TABLE deals DROP COLUMN value;
        ALTER TABLE deals RENAME COLUMN value_exact TO value;
        """,
    )


# Tables whose rows can be deleted and whose ids people and scripts are shown and hold on to.
_IDS_NEVER_REUSED_012 = ("quarantine", "contacts", "threads", "accounts")


def m012_ids_never_reused(db: sqlite3.Connection) -> None:
    """Ids that were shown once are never given to another row: quarantine, contacts, threads, accounts.

    SQLite gives a new row the largest id in use plus one, so deleting the newest row (a discarded
    quarantine entry, a removed contact) hands its id to the next one, and a script still holding
    "quarantined as 1" would release a different message. AUTOINCREMENT keeps the highest id ever
    used; it cannot be added in place, so each table is rebuilt the way SQLite documents (new table,
    copy with the same ids, drop, rename, indexes again). Copying the rows records their largest id as
    the table's high-water mark, so no id below today's largest comes back.
    """
    for table in _IDS_NEVER_REUSED_012:
        _rebuild_with_autoincrement_012(db, table)


def _rebuild_with_autoincrement_012(db: sqlite3.Connection, table: str) -> None:
    create = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
    create, found = re.subn(r"\bid INTEGER PRIMARY KEY\b", "id INTEGER PRIMARY KEY AUTOINCREMENT", create, count=1)
    create, named = re.subn(r'^CREATE TABLE\s+("?)\w+\1', f"CREATE TABLE {table}_new", create, count=1)
    if found != 1 or named != 1:
        raise RuntimeError(f"migration 012 does not recognize the table {table}")
    extras = [
        row[0]
        for row in db.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL",
            (table,),
        )
    ]
    columns = ", ".join(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
    db.execute(create)
    db.execute(f"INSERT INTO {table}_new ({columns}) SELECT {columns} FROM {table} ORDER BY id")
    db.execute(f"DROP TABLE {table}")
    db.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
    for sql in extras:
        db.execute(sql)


def m013_org_domains_and_replies(db: sqlite3.Connection) -> None:
    """Organizations by their email domains, email linked to organizations, and the replies index.

    An organization may have several domains (``org_domains``); the single ``orgs.domain`` of
    before moves there and leaves ``orgs``. A domain claimed by two organizations is allowed and
    identifies neither, so the key is the pair.

    ``email_orgs`` links an email to an organization as ``email_contacts`` links it to a contact:
    the rule and why, by hand or not, and (rule 4 of the sharing law) who caused it and whether it
    waits for the owner. ``emails.is_orgs_manual``: its organizations were chosen by hand.

    The inbox's "awaiting a reply" and "unanswered" views look only at mail that counts in a
    conversation (``link_verdict IS NULL``: not internal, automated or blocked): two partial indexes
    walk one user's such mail newest first without reading the emails themselves, and tell whether a
    thread has newer such mail; a third finds the threads of every user that hold a Message-ID (a
    colleague who had the same message and answered it).
    """
    run_script(
        db,
        """
        CREATE TABLE org_domains (
            domain TEXT NOT NULL,
            org_id INTEGER NOT NULL REFERENCES orgs(id),
            created_utc TEXT NOT NULL,
            PRIMARY KEY (domain, org_id)
        ) WITHOUT ROWID;
        CREATE INDEX org_domains_by_org ON org_domains(org_id, domain);
        INSERT INTO org_domains (domain, org_id, created_utc)
            SELECT lower(trim(domain)), id, created_utc FROM orgs WHERE domain IS NOT NULL AND trim(domain) != '';
        ALTER TABLE orgs DROP COLUMN domain;

        CREATE TABLE email_orgs (
            email_id INTEGER NOT NULL REFERENCES emails(id),
            org_id INTEGER NOT NULL REFERENCES orgs(id),
            address TEXT NOT NULL DEFAULT '',
            rule TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            is_manual INTEGER NOT NULL DEFAULT 0,
            caused_by INTEGER REFERENCES users(id),
            caused_utc TEXT,
            is_proposed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (email_id, org_id)
        ) WITHOUT ROWID;
        CREATE INDEX email_orgs_by_org ON email_orgs(org_id, email_id);
        CREATE INDEX email_orgs_proposed ON email_orgs(email_id) WHERE is_proposed = 1;
        ALTER TABLE emails ADD COLUMN is_orgs_manual INTEGER NOT NULL DEFAULT 0;

        CREATE INDEX emails_conversing_by_owner ON emails(owner_id, direction, date_utc DESC, id DESC, thread_id,
            folder, from_email, message_id_norm) WHERE link_verdict IS NULL;
        CREATE INDEX emails_conversing_by_thread ON emails(thread_id, date_utc, id, owner_id) WHERE link_verdict IS NULL;
        CREATE INDEX thread_message_ids_by_message_id ON thread_message_ids(message_id);
        """,
    )


def m014_logins_and_relinks_for_owners(db: sqlite3.Connection) -> None:
    """What the team server needs to know its people by their database logins; unused on a file.

    On PostgreSQL each user is a login role (``db_role``) and who you are is the role you connected
    as; a user who leaves keeps their mail, owner recorded, with the login taken away
    (``removed_utc``). There, a colleague's change cannot re-link mail its author may not see, so it
    is recorded (``relink_requests``) and each owner's pdmail re-links their own mail at their next
    command (``relink_progress``: how far each user got); mail captured meanwhile into a conversation
    the change touches waits for that (``relink_held``). A file has no logins and re-links at once;
    it keeps the same columns and tables (empty) so that ``pdmail db copy`` moves a database either
    way unchanged.
    """
    run_script(
        db,
        """
        ALTER TABLE users ADD COLUMN db_role TEXT;
        ALTER TABLE users ADD COLUMN removed_utc TEXT;
        CREATE UNIQUE INDEX users_by_db_role ON users(db_role) WHERE db_role IS NOT NULL;
        CREATE TABLE relink_requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            caused_by INTEGER REFERENCES users(id),
            caused_utc TEXT NOT NULL,
            scope_json TEXT NOT NULL
        );
        CREATE TABLE relink_progress (
            user_id INTEGER PRIMARY KEY REFERENCES users(id),
            request_id INTEGER NOT NULL
        );
        CREATE TABLE relink_held (
            request_id INTEGER NOT NULL REFERENCES relink_requests(id),
            email_id INTEGER NOT NULL REFERENCES emails(id),
            PRIMARY KEY (request_id, email_id)
        );
        """,
    )


# Whether a link that counts is left on an email, in the words of the triggers below.
_NO_LINK_COUNTS_015 = """NOT EXISTS (SELECT 1 FROM email_contacts WHERE email_id = OLD.email_id AND is_proposed = 0)
                AND NOT EXISTS (SELECT 1 FROM email_orgs WHERE email_id = OLD.email_id AND is_proposed = 0)"""

# The triggers that keep emails.has_link, for one link table.
_LINK_COUNTED_TRIGGERS_015 = f"""
        CREATE TRIGGER {{table}}_counted_added AFTER INSERT ON {{table}} WHEN NEW.is_proposed = 0
        BEGIN
            UPDATE emails SET has_link = 1 WHERE id = NEW.email_id AND has_link = 0;
        END;
        CREATE TRIGGER {{table}}_counted_removed AFTER DELETE ON {{table}} WHEN OLD.is_proposed = 0
        BEGIN
            UPDATE emails SET has_link = 0 WHERE id = OLD.email_id AND has_link = 1
                AND {_NO_LINK_COUNTS_015};
        END;
        CREATE TRIGGER {{table}}_counted_changed AFTER UPDATE OF email_id, is_proposed ON {{table}}
        BEGIN
            UPDATE emails SET has_link = 0 WHERE id = OLD.email_id AND has_link = 1
                AND {_NO_LINK_COUNTS_015};
            UPDATE emails SET has_link = 1 WHERE NEW.is_proposed = 0 AND id = NEW.email_id AND has_link = 0;
        END;
        """


def m015_links_counted(db: sqlite3.Connection) -> None:
    """Each email says whether it has a contact or organization link that counts for sharing (``has_link``).

    The sharing law asked, for every email another user might see, whether a contact or an
    organization link that counts exists: a look into ``email_contacts`` and ``email_orgs`` per
    email. Counting a team's inbox of a million emails made 370,000 of them. Now the email carries
    the answer, so the law reads the email's own columns and a team's count reads one narrow index
    (``emails_visibility_facts``). The database keeps the flag right itself: triggers on both link
    tables set it when a link that counts is added and clear it when the last one goes or becomes a
    proposal, whoever writes the links. Capture and re-linking write it with the email, so that the
    triggers find nothing left to do.

    The index leads with the email's id, which no listing asks for by equality: led by the folder,
    SQLite took it for listing pages too (a file that was never analyzed makes any index look
    selective) and sorted a whole team's inbox for a page of 50. A count names it (INDEXED BY).
    PostgreSQL's planner knows the data: its index leads with the folder (see its step).

    (On PostgreSQL the migration also stores raw messages uncompressed; SQLite never compresses.)
    """
    script = """
        ALTER TABLE emails ADD COLUMN has_link INTEGER NOT NULL DEFAULT 0;
        UPDATE emails SET has_link = 1 WHERE id IN (SELECT email_id FROM email_contacts WHERE is_proposed = 0)
            OR id IN (SELECT email_id FROM email_orgs WHERE is_proposed = 0);
        """
    for table in ("email_contacts", "email_orgs"):
        script += _LINK_COUNTED_TRIGGERS_015.format(table=table)
    script += """
        CREATE INDEX emails_visibility_facts
            ON emails(id, owner_id, folder, visibility, has_link, deal_id, is_deal_proposed, is_read, needs_deal);
        """
    run_script(db, script)


_OUTBOX_STATUSES_005 = "CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'ambiguous', 'cancelled'))"
_OUTBOX_STATUSES_016 = "CHECK (status IN ('draft', 'queued', 'sending', 'sent', 'failed', 'ambiguous', 'cancelled'))"


def m016_outbox_drafts(db: sqlite3.Connection) -> None:
    """The outbox keeps drafts: a message its owner saved to finish later, which no sender ever sends.

    ``status`` gains the value ``draft``. A draft that is discarded is deleted, so the outbox now
    keeps the highest id it ever gave (AUTOINCREMENT), like the tables of migration 12: "outbox 7"
    never comes to mean another message. SQLite changes neither a CHECK nor AUTOINCREMENT in place, so
    the table is rebuilt the way it documents (new table, copy with the same ids, drop, rename,
    indexes again).
    """
    create = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").fetchone()[0]
    create, widened = re.subn(re.escape(_OUTBOX_STATUSES_005), _OUTBOX_STATUSES_016, create, count=1)
    create, found = re.subn(r"\bid INTEGER PRIMARY KEY\b", "id INTEGER PRIMARY KEY AUTOINCREMENT", create, count=1)
    create, named = re.subn(r'^CREATE TABLE\s+("?)outbox\1', "CREATE TABLE outbox_new", create, count=1)
    if (widened, found, named) != (1, 1, 1):
        raise RuntimeError("migration 016 does not recognize the outbox table")
    extras = [
        row[0]
        for row in db.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'outbox' AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL"
        )
    ]
    columns = ", ".join(row[1] for row in db.execute("PRAGMA table_info(outbox)"))
    db.execute(create)
    db.execute(f"INSERT INTO outbox_new ({columns}) SELECT {columns} FROM outbox ORDER BY id")
    db.execute("DROP TABLE outbox")
    db.execute("ALTER TABLE outbox_new RENAME TO outbox")
    for sql in extras:
        db.execute(sql)


def m017_search_rows_read_their_email(db: sqlite3.Connection) -> None:
    """Nothing on a file: the team server's policies on the full-text index and an email's addresses
    ask the emails table itself (see its PostgreSQL step)."""


# The email that counts in a conversation last, as the team sees it: shared and linked (the sharing
# law's rule 2, pdmail.visibility.sql_condition without its owner's part).
_SEEN_BY_OTHERS_018 = (
    "l.visibility = 'shared' AND ((l.deal_id IS NOT NULL AND l.is_deal_proposed = 0) OR l.has_link = 1)"
)


def _mark_last_018(flag: str, thread: str, condition: str) -> str:
    """One statement that moves ``flag`` in ``thread`` onto its newest email that counts and meets ``condition``."""
    last = (
        f"SELECT l.id FROM emails l WHERE l.thread_id = {thread} AND l.link_verdict IS NULL{condition} "
        "ORDER BY l.date_utc DESC, l.id DESC LIMIT 1"
    )
    return f"UPDATE emails SET {flag} = 1 - {flag} WHERE thread_id = {thread} AND {flag} != (id IS ({last}));"


def _mark_both_018(thread: str) -> str:
    return (
        _mark_last_018("is_last_for_owner", thread, "")
        + "\n            "
        + _mark_last_018("is_last_for_team", thread, f" AND {_SEEN_BY_OTHERS_018}")
    )


_HELD_BY_COLLEAGUE_018 = """UPDATE emails SET held_by_colleague = 1 WHERE id = NEW.id AND held_by_colleague = 0
                AND EXISTS (SELECT 1 FROM thread_message_ids m
                            WHERE m.message_id = NEW.message_id_norm AND m.owner_id != NEW.owner_id);"""

_LAST_IN_THREAD_TRIGGERS_018 = f"""
        CREATE TRIGGER emails_last_added AFTER INSERT ON emails
        BEGIN
            {_mark_both_018("NEW.thread_id")}
            {_HELD_BY_COLLEAGUE_018}
        END;
        CREATE TRIGGER emails_last_removed AFTER DELETE ON emails
        BEGIN
            {_mark_both_018("OLD.thread_id")}
        END;
        CREATE TRIGGER emails_last_changed AFTER UPDATE OF thread_id, date_utc, link_verdict ON emails
            WHEN OLD.thread_id IS NOT NEW.thread_id OR OLD.date_utc IS NOT NEW.date_utc
                OR OLD.link_verdict IS NOT NEW.link_verdict
        BEGIN
            {_mark_both_018("NEW.thread_id")}
        END;
        CREATE TRIGGER emails_last_moved AFTER UPDATE OF thread_id ON emails WHEN OLD.thread_id IS NOT NEW.thread_id
        BEGIN
            {_mark_both_018("OLD.thread_id")}
        END;
        CREATE TRIGGER emails_last_for_team_changed AFTER UPDATE OF visibility, has_link, deal_id, is_deal_proposed
            ON emails
            WHEN OLD.visibility IS NOT NEW.visibility OR OLD.has_link IS NOT NEW.has_link
                OR OLD.deal_id IS NOT NEW.deal_id OR OLD.is_deal_proposed IS NOT NEW.is_deal_proposed
        BEGIN
            {_mark_last_018("is_last_for_team", "NEW.thread_id", f" AND {_SEEN_BY_OTHERS_018}")}
        END;
        CREATE TRIGGER emails_held_by_colleague_changed AFTER UPDATE OF message_id_norm, owner_id ON emails
        BEGIN
            {_HELD_BY_COLLEAGUE_018}
        END;
        CREATE TRIGGER thread_message_ids_held_by_colleague AFTER INSERT ON thread_message_ids
        BEGIN
            UPDATE emails SET held_by_colleague = 1 WHERE message_id_norm = NEW.message_id
                AND owner_id IN (SELECT id FROM users WHERE id != NEW.owner_id) AND held_by_colleague = 0;
        END;
        CREATE TRIGGER thread_message_ids_held_by_colleague_changed AFTER UPDATE OF message_id, owner_id
            ON thread_message_ids
        BEGIN
            UPDATE emails SET held_by_colleague = 1 WHERE message_id_norm = NEW.message_id
                AND owner_id IN (SELECT id FROM users WHERE id != NEW.owner_id) AND held_by_colleague = 0;
        END;
        """

# The columns of the two indexes below after their leading ones: what the views filter on and what
# the sharing law reads, so that a count reads the index alone. (SQLite reads a partial index's own
# flag from its columns: the flags are among them too.)
_LAST_INDEX_COLUMNS_018 = "folder, link_verdict, visibility, has_link, deal_id, is_deal_proposed, from_email, message_id_norm, held_by_colleague"


def m018_thread_last_counting(db: sqlite3.Connection) -> None:
    """Each email says whether it is the last email that counts in its conversation, for its owner
    (``is_last_for_owner``) and for everyone else (``is_last_for_team``); and whether another user's
    conversation ever held its Message-ID (``held_by_colleague``).

    The inbox's "awaiting a reply" and "unanswered" views show conversations by their last email that
    counts (``link_verdict IS NULL``) among those the viewer may see, and asked, for every candidate,
    whether a newer one the viewer may see exists: a team's count at a million emails took 4 to 6
    seconds. A conversation belongs to one owner, and whether someone other than the owner sees an
    email does not depend on who looks (shared and linked), so the answer is one of two emails per
    conversation: the last one for its owner, and the last one of those shared and linked for anyone
    else. The email carries both answers; triggers keep them right whenever an email comes, goes,
    moves to another thread (merges, splits), or changes its date, verdict, visibility or links.

    "Unanswered" also asks whether a colleague who had the same message answered it in their own
    conversation. ``held_by_colleague`` tells which emails can have such an answer at all: it is set
    when another user's conversation holds the email's Message-ID, and never cleared (it only says
    where to look), so that the view looks only there.

    Two partial indexes walk one owner's last emails, and everyone's, by direction and date, holding
    what the views filter on and what the sharing law reads. Migration 13's index of one user's mail
    that counts, which the views walked before, goes: nothing else reads it.
    """
    # Each email is written once, with both flags (a million emails, most of them the last of their thread).
    script = f"""
        CREATE TEMP TABLE last_for_owner_018 AS SELECT id FROM (SELECT (SELECT l.id FROM emails l
            WHERE l.thread_id = t.id AND l.link_verdict IS NULL ORDER BY l.date_utc DESC, l.id DESC LIMIT 1) AS id
            FROM threads t) WHERE id IS NOT NULL;
        CREATE TEMP TABLE last_for_team_018 AS SELECT id FROM (SELECT (SELECT l.id FROM emails l
            WHERE l.thread_id = t.id AND l.link_verdict IS NULL AND {_SEEN_BY_OTHERS_018}
            ORDER BY l.date_utc DESC, l.id DESC LIMIT 1) AS id FROM threads t) WHERE id IS NOT NULL;
        ALTER TABLE emails ADD COLUMN is_last_for_owner INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE emails ADD COLUMN is_last_for_team INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE emails ADD COLUMN held_by_colleague INTEGER NOT NULL DEFAULT 0;
        UPDATE emails SET is_last_for_owner = id IN (SELECT id FROM last_for_owner_018),
                is_last_for_team = id IN (SELECT id FROM last_for_team_018)
            WHERE id IN (SELECT id FROM last_for_owner_018) OR id IN (SELECT id FROM last_for_team_018);
        DROP TABLE last_for_owner_018;
        DROP TABLE last_for_team_018;
        UPDATE emails SET held_by_colleague = 1 WHERE message_id_norm IN (SELECT message_id
            FROM thread_message_ids GROUP BY message_id HAVING min(owner_id) != max(owner_id))
            AND EXISTS (SELECT 1 FROM thread_message_ids m
                        WHERE m.message_id = emails.message_id_norm AND m.owner_id != emails.owner_id);
        CREATE INDEX emails_last_by_owner ON emails(owner_id, direction, date_utc DESC, id DESC, is_last_for_owner,
            {_LAST_INDEX_COLUMNS_018}) WHERE is_last_for_owner = 1;
        CREATE INDEX emails_last_for_anyone ON emails(direction, date_utc DESC, id DESC, owner_id, is_last_for_owner,
            is_last_for_team, {_LAST_INDEX_COLUMNS_018})
            WHERE is_last_for_owner = 1 OR is_last_for_team = 1;
        DROP INDEX emails_conversing_by_owner;
        """
    run_script(db, script + _LAST_IN_THREAD_TRIGGERS_018)


def m019_writes_without_rewrites(db: sqlite3.Connection) -> None:
    """Nothing on a file: the team server sets a conversation's last-email flags on the row as it is
    written, and keeps the plan of who is asking (see its PostgreSQL step). SQLite writes in the
    process that asks, where an email's second write costs a page that is already at hand."""


def m020_held_by_colleague_for_the_database_alone(db: sqlite3.Connection) -> None:
    """Nothing on a file: whoever reads the file reads all of it. On the team server a user's login
    may no longer read ``held_by_colleague``, which tells of colleagues' conversations (see its
    PostgreSQL step); "unanswered" asks the database instead."""


MIGRATIONS: list[Migration] = [
    ("001_core", m001_core),
    ("002_inbox_indexes", m002_inbox_indexes),
    ("003_accounts", m003_accounts),
    ("004_sync_state", m004_sync_state),
    ("005_outbox", m005_outbox),
    ("006_contact_addresses_in_order", m006_contact_addresses_in_order),
    ("007_raw_messages_by_rowid", m007_raw_messages_by_rowid),
    ("008_quarantine_by_content", m008_quarantine_by_content),
    ("009_links_caused_by_colleagues", m009_links_caused_by_colleagues),
    ("010_sync_past_by_arrival", m010_sync_past_by_arrival),
    ("011_exact_money_and_first_names", m011_exact_money_and_first_names),
    ("012_ids_never_reused", m012_ids_never_reused),
    ("013_org_domains_and_replies", m013_org_domains_and_replies),
    ("014_logins_and_relinks_for_owners", m014_logins_and_relinks_for_owners),
    ("015_links_counted", m015_links_counted),
    ("016_outbox_drafts", m016_outbox_drafts),
    ("017_search_rows_read_their_email", m017_search_rows_read_their_email),
    ("018_thread_last_counting", m018_thread_last_counting),
    ("019_writes_without_rewrites", m019_writes_without_rewrites),
    ("020_held_by_colleague_for_the_database_alone", m020_held_by_colleague_for_the_database_alone),
]

SCHEMA_VERSION = len(MIGRATIONS)


class NewerSchema(Exception):
    """The file was written by a newer pdmail; touching it could damage it."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(found, known)
        self.found = found
        self.known = known


def schema_version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def check_version(db: sqlite3.Connection) -> int:
    found = schema_version(db)
    if found > SCHEMA_VERSION:
        raise NewerSchema(found, SCHEMA_VERSION)
    return found


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the migrations this database lacks, each in its own transaction; return their names.

    Foreign keys are off while they run, so that a migration can rebuild a table other tables refer
    to; each one must leave every reference intact (``PRAGMA foreign_key_check``) or it is undone.
    """
    applied: list[str] = []
    found = check_version(db)
    if found == SCHEMA_VERSION:
        return applied
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {LEDGER} ("
        "number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_utc TEXT NOT NULL)"
    )
    keys_were_on = db.execute("PRAGMA foreign_keys").fetchone()[0]
    db.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: set here, between them
    try:
        for number, (name, step) in enumerate(MIGRATIONS, start=1):
            if number > found and _apply(db, number, name, step):
                applied.append(name)
    finally:
        if keys_were_on:
            db.execute("PRAGMA foreign_keys=ON")
    return applied


def _apply(db: sqlite3.Connection, number: int, name: str, step: Callable[[sqlite3.Connection], None]) -> bool:
    db.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated while we waited for the write lock.
        if schema_version(db) >= number:
            db.execute("ROLLBACK")
            return False
        step(db)
        broken = db.execute("PRAGMA foreign_key_check").fetchmany(3)
        if broken:
            raise RuntimeError(f"migration {name} would break references: {[tuple(r) for r in broken]}")
        db.execute(
            f"INSERT INTO {LEDGER} (number, name, applied_utc) VALUES (?, ?, ?)",
            (number, name, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
        )
        db.execute(f"PRAGMA user_version = {number}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return True
