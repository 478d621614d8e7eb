"""Migration 14 on PostgreSQL: each user a login role, and row-level security that states the sharing law.

Frozen, as every migration is: a later change to roles or policies is a later migration. What it
makes (README.md, "Team server (PostgreSQL)"; docs/spec.md, "The sharing law"):

- Roles of this database, named after it (:func:`role_names`): ``<db>_pdmail_tables`` owns every
  table and nobody logs in as it; ``<db>_pdmail_users`` is the group of every user's login role and
  holds their privileges; ``<db>_pdmail_definer`` owns the narrow ``SECURITY DEFINER`` functions that
  the policies call. ``pdmail_capture`` is the cluster's group for mail servers' logins. The role that
  runs this step (the one that ran ``pdmail init``: it needs CREATEROLE) is the database's operator:
  it may run later migrations and ``pdmail db copy``, and it owns the functions that make and remove
  logins, which admins (and the operator) call but cannot change.
- Who you are is the role you logged in as: ``pdmail_me()`` is the user whose ``db_role`` is
  ``session_user``. ``SET ROLE`` does not change it, and only a superuser can change the session's
  user.
- Every table that holds mail or facts about mail has ``FORCE ROW LEVEL SECURITY`` and policies for
  the users' group that say what :func:`pdmail.visibility.sql_condition` says: the owner sees all of
  their own; anyone else only what is shared and linked; a private email is its owner's alone,
  admins included. Tables of mail accounts, sync state, the outbox and templates are their owner's.
  Writes follow the same law: nobody changes an email they may not see; on an email they may see but
  do not own only its links may change (re-linking after a colleague's change); only the owner
  changes its visibility, folder, flags or owner.
- The company's own tables (settings, the block list, alternative addresses, the default user) let
  admins change them; ``users`` is changed only through the definer functions.

The SQL is sent without parameters, so it holds no ``%``, ``?`` or ``:name`` (see :func:`run`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pdmail.core.errors import UsageError
from pdmail.store.db import Database

CAPTURE_ROLE = "pdmail_capture"
NAME_BYTES = 63  # PostgreSQL cuts longer names short: role names are made to fit

# Tables whose every row is mail or a fact about mail: policies, forced on the tables' owner too.
MAIL_TABLES = (
    "raw_messages",
    "threads",
    "thread_message_ids",
    "emails",
    "email_search",
    "email_addresses",
    "email_contacts",
    "email_orgs",
    "audit_log",
    "quarantine",
    "accounts",
    "sync_folders",
    "locations",
    "fetch_failures",
    "past_skips",
    "past_skip_addresses",
    "sync_runs",
    "pending_ops",
    "outbox",
    "templates",
    "relink_held",
)
# The company's settings and each user's: readable by every user, changed by admins or by their user.
COMPANY_TABLES = ("company", "company_settings", "app_state", "blocked", "user_settings", "user_addresses")
RELINK_TABLES = ("relink_requests", "relink_progress")  # relink_held is mail: MAIL_TABLES
# What the definer functions write for capture (each checks whose mail it writes).
DEFINER_WRITES = (
    "threads",
    "thread_message_ids",
    "emails",
    "email_search",
    "email_addresses",
    "email_contacts",
    "email_orgs",
    "audit_log",
    "quarantine",
    "outbox",
    "relink_held",
)
# The CRM: every user reads and changes it.
SHARED_TABLES = ("orgs", "org_domains", "contacts", "contact_emails", "deals")


@dataclass(frozen=True)
class RoleNames:
    tables: str
    users: str
    definer: str


def role_names(database: str) -> RoleNames:
    """This database's own roles: its name and a suffix, shortened with a hash to fit 63 bytes."""
    suffixes = ("_pdmail_tables", "_pdmail_users", "_pdmail_definer")
    base = database
    longest = max(len(s) for s in suffixes)
    if len(base.encode()) + longest > NAME_BYTES:
        digest = hashlib.sha256(database.encode()).hexdigest()[:8]
        base = base.encode()[: NAME_BYTES - longest - 9].decode(errors="ignore") + "_" + digest
    return RoleNames(*(base + s for s in suffixes))


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run(db: Database, sql: str) -> None:
    """Statements separated by a line holding only ``;;`` (function bodies hold semicolons), sent as
    they are: the driver's own connection, with no parameters, reads no ``%`` or ``?`` in them."""
    for statement in sql.split("\n;;\n"):
        if statement.strip():
            db.conn.execute(statement)


SCHEMA = """
ALTER TABLE users ADD COLUMN db_role TEXT COLLATE "C"
;;
ALTER TABLE users ADD COLUMN removed_utc TEXT COLLATE "C"
;;
CREATE UNIQUE INDEX users_by_db_role ON users(db_role) WHERE db_role IS NOT NULL
;;
CREATE TABLE relink_requests (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    caused_by BIGINT REFERENCES users(id) DEFERRABLE,
    caused_utc TEXT COLLATE "C" NOT NULL,
    scope_json TEXT COLLATE "C" NOT NULL
)
;;
CREATE TABLE relink_progress (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) DEFERRABLE,
    request_id BIGINT NOT NULL
)
;;
CREATE TABLE relink_held (
    request_id BIGINT NOT NULL REFERENCES relink_requests(id) DEFERRABLE,
    email_id BIGINT NOT NULL REFERENCES emails(id) DEFERRABLE,
    PRIMARY KEY (request_id, email_id)
)
"""


def law(schema: str, row: str) -> str:
    """The sharing law on the email row named ``row``, for the user pdmail_me() gives: the same words
    as pdmail.visibility.sql_condition."""
    return (
        f"({row}.owner_id = (SELECT {schema}.pdmail_me()) OR ({row}.visibility = 'shared' AND ("
        f"({row}.deal_id IS NOT NULL AND {row}.is_deal_proposed = 0) OR EXISTS (SELECT 1 FROM "
        f"{schema}.email_contacts c WHERE c.email_id = {row}.id AND c.is_proposed = 0) OR EXISTS (SELECT 1 FROM "
        f"{schema}.email_orgs o WHERE o.email_id = {row}.id AND o.is_proposed = 0))))"
    )


FUNCTIONS = """
CREATE FUNCTION {S}.pdmail_team_roles(OUT kind text, OUT role text) RETURNS SETOF record
LANGUAGE sql IMMUTABLE
AS $fn$ VALUES ('tables', {t}), ('users', {u}), ('definer', {d}), ('capture', {c}), ('operator', {o}) $fn$
;;
CREATE FUNCTION {S}.pdmail_me() RETURNS bigint
LANGUAGE sql STABLE
AS $fn$ SELECT id FROM {S}.users WHERE db_role = CAST(session_user AS text) AND removed_utc IS NULL $fn$
;;
CREATE FUNCTION {S}.pdmail_is_admin() RETURNS boolean
LANGUAGE sql STABLE
AS $fn$ SELECT EXISTS (SELECT 1 FROM {S}.users
                       WHERE db_role = CAST(session_user AS text) AND removed_utc IS NULL AND is_admin = 1) $fn$
;;
CREATE FUNCTION {S}.pdmail_counts_link(p_email bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT EXISTS (SELECT 1 FROM {S}.email_contacts c JOIN {S}.emails e ON e.id = c.email_id
                       WHERE c.email_id = p_email AND c.is_proposed = 0 AND e.visibility = 'shared')
            OR EXISTS (SELECT 1 FROM {S}.email_orgs o JOIN {S}.emails e ON e.id = o.email_id
                       WHERE o.email_id = p_email AND o.is_proposed = 0 AND e.visibility = 'shared') $fn$
;;
CREATE FUNCTION {S}.pdmail_sees_email(p_email bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT EXISTS (SELECT 1 FROM {S}.emails e WHERE e.id = p_email AND LAW) $fn$
;;
CREATE FUNCTION {S}.pdmail_owns_email(p_email bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT EXISTS (SELECT 1 FROM {S}.emails WHERE id = p_email AND owner_id = {S}.pdmail_me()) $fn$
;;
CREATE FUNCTION {S}.pdmail_sees_thread(p_thread bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT EXISTS (SELECT 1 FROM {S}.threads WHERE id = p_thread AND owner_id = {S}.pdmail_me())
            OR EXISTS (SELECT 1 FROM {S}.emails e WHERE e.thread_id = p_thread AND LAW) $fn$
;;
CREATE FUNCTION {S}.pdmail_answered_elsewhere(p_message_id text, p_owner bigint, p_after text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT EXISTS (SELECT 1 FROM {S}.thread_message_ids m JOIN {S}.emails e ON e.thread_id = m.thread_id
                       WHERE m.message_id = p_message_id AND m.owner_id <> p_owner AND e.direction = 'outgoing'
                         AND e.link_verdict IS NULL AND e.date_utc > p_after AND LAW) $fn$
;;
CREATE FUNCTION {S}.pdmail_owns_thread(p_thread bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT EXISTS (SELECT 1 FROM {S}.threads WHERE id = p_thread AND owner_id = {S}.pdmail_me()) $fn$
;;
CREATE FUNCTION {S}.pdmail_owns_account(p_account bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT EXISTS (SELECT 1 FROM {S}.accounts WHERE id = p_account AND owner_id = {S}.pdmail_me()) $fn$
;;
CREATE FUNCTION {S}.pdmail_owns_folder(p_folder bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT EXISTS (SELECT 1 FROM {S}.sync_folders f JOIN {S}.accounts a ON a.id = f.account_id
                       WHERE f.id = p_folder AND a.owner_id = {S}.pdmail_me()) $fn$
;;
CREATE FUNCTION {S}.pdmail_owns_skip(p_skip bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT EXISTS (SELECT 1 FROM {S}.past_skips s JOIN {S}.sync_folders f ON f.id = s.folder_id
                       JOIN {S}.accounts a ON a.id = f.account_id
                       WHERE s.id = p_skip AND a.owner_id = {S}.pdmail_me()) $fn$
;;
CREATE FUNCTION {S}.pdmail_sees_held(p_owner bigint, p_from text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
    WITH mine AS (SELECT email AS address FROM {S}.users WHERE id = {S}.pdmail_me()
                  UNION SELECT email FROM {S}.user_addresses
                        WHERE user_id = {S}.pdmail_me() AND approved_utc IS NOT NULL),
         anyones AS (SELECT email AS address FROM {S}.users
                     UNION SELECT email FROM {S}.user_addresses WHERE approved_utc IS NOT NULL)
    SELECT CASE
        WHEN p_owner IS NOT NULL THEN p_owner = {S}.pdmail_me()
        WHEN p_from IN (SELECT address FROM mine) THEN true
        ELSE {S}.pdmail_is_admin() AND NOT EXISTS (SELECT 1 FROM anyones WHERE address = p_from)
    END
$fn$
;;
CREATE FUNCTION {S}.pdmail_sees_raw(p_sha text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT EXISTS (SELECT 1 FROM {S}.emails e WHERE e.raw_sha256 = p_sha AND LAW)
            OR EXISTS (SELECT 1 FROM {S}.emails e WHERE e.wrapper_sha256 = p_sha AND LAW)
            OR EXISTS (SELECT 1 FROM {S}.outbox WHERE raw_sha256 = p_sha AND owner_id = {S}.pdmail_me())
            OR EXISTS (SELECT 1 FROM {S}.quarantine q
                       WHERE q.raw_sha256 = p_sha AND {S}.pdmail_sees_held(q.owner_id, q.from_email)) $fn$
;;
CREATE FUNCTION {S}.pdmail_forget_raw(p_sha text) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
    WITH gone AS (
        DELETE FROM {S}.raw_messages r WHERE r.sha256 = p_sha
          AND NOT EXISTS (SELECT 1 FROM {S}.emails WHERE raw_sha256 = p_sha)
          AND NOT EXISTS (SELECT 1 FROM {S}.emails WHERE wrapper_sha256 = p_sha)
          AND NOT EXISTS (SELECT 1 FROM {S}.outbox WHERE raw_sha256 = p_sha)
          AND NOT EXISTS (SELECT 1 FROM {S}.quarantine WHERE raw_sha256 = p_sha)
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM gone)
$fn$
;;
CREATE FUNCTION {S}.pdmail_forget_contact_links(p_contact bigint) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
    WITH gone AS (
        DELETE FROM {S}.email_contacts WHERE contact_id = p_contact
          AND NOT EXISTS (SELECT 1 FROM {S}.contacts WHERE id = p_contact)
        RETURNING 1)
    SELECT count(*) FROM gone
$fn$
;;
CREATE FUNCTION {S}.pdmail_leave_quarantine(p_email bigint) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
    WITH stored AS (
        UPDATE {S}.quarantine q SET status = 'stored', released_email_id = e.id, released_utc = e.captured_utc
        FROM {S}.emails e
        WHERE e.id = p_email AND e.owner_id = {S}.pdmail_me() AND q.status = 'held'
          AND (q.content_sha256 = e.raw_sha256 OR q.content_sha256 = e.wrapper_sha256)
        RETURNING 1)
    SELECT count(*) FROM stored
$fn$
;;
CREATE FUNCTION {S}.pdmail_guard_email() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
BEGIN
    IF pg_has_role(current_user, {t}, 'USAGE') OR pg_has_role(current_user, {d}, 'USAGE') THEN
        RETURN NEW;  -- the operator (migrations, pdmail db copy) and the definer functions
    END IF;
    IF NEW.owner_id IS DISTINCT FROM OLD.owner_id OR NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'email % keeps its owner and its id', OLD.id USING ERRCODE = '42501';
    END IF;
    IF OLD.owner_id IS DISTINCT FROM {S}.pdmail_me()
       AND (to_jsonb(NEW) - ARRAY[LINKS]) IS DISTINCT FROM (to_jsonb(OLD) - ARRAY[LINKS]) THEN
        RAISE EXCEPTION 'only its owner may change email % beyond its links', OLD.id USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$fn$
;;
CREATE FUNCTION {S}.pdmail_guard_thread() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
BEGIN
    IF pg_has_role(current_user, {t}, 'USAGE') OR pg_has_role(current_user, {d}, 'USAGE') THEN
        RETURN NEW;
    END IF;
    IF NEW.owner_id IS DISTINCT FROM OLD.owner_id OR NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'thread % keeps its owner and its id', OLD.id USING ERRCODE = '42501';
    END IF;
    IF OLD.owner_id IS DISTINCT FROM {S}.pdmail_me()
       AND (to_jsonb(NEW) - ARRAY['deal_id', 'deal_rule']) IS DISTINCT FROM (to_jsonb(OLD) - ARRAY['deal_id', 'deal_rule']) THEN
        RAISE EXCEPTION 'only its owner may change thread % beyond its deal', OLD.id USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$fn$
;;
CREATE TRIGGER pdmail_guard BEFORE UPDATE ON {S}.emails FOR EACH ROW EXECUTE FUNCTION {S}.pdmail_guard_email()
;;
CREATE TRIGGER pdmail_guard BEFORE UPDATE ON {S}.threads FOR EACH ROW EXECUTE FUNCTION {S}.pdmail_guard_thread()
"""

# The columns of an email that a re-link writes: what a colleague's change may alter on mail they see.
_LINK_COLUMNS = (
    "deal_id",
    "deal_rule",
    "needs_deal",
    "is_automated",
    "link_verdict",
    "link_trace_json",
    "deal_caused_by",
    "deal_caused_utc",
    "is_deal_proposed",
)

# What the mail server's pipe (pdmail_capture) asks and writes. It reads no mail: each function
# answers what capture must know of one user's mail (is this message stored already, which
# conversation it continues and that conversation's visibility, deal and whether links in it wait
# for its owner), never a subject, a body or an address of it, and writes only what capture writes.
CAPTURE = """
CREATE FUNCTION {S}.pdmail_capture_email_by_fingerprint(p_owner bigint, p_fingerprint text) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT id FROM {S}.emails WHERE owner_id = p_owner AND fingerprint = p_fingerprint $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_emails_by_message_id(p_owner bigint, p_message_id text) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT id FROM {S}.emails WHERE owner_id = p_owner AND message_id_norm = p_message_id
        UNION SELECT id FROM {S}.emails WHERE owner_id = p_owner AND alt_message_id = p_message_id $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_sent_copy(p_owner bigint, p_token text) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT email_id FROM {S}.outbox WHERE owner_id = p_owner AND token = p_token AND email_id IS NOT NULL $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_confirm_sent(p_owner bigint, p_token text, p_email bigint, p_stamp text)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
    WITH done AS (
        UPDATE {S}.outbox SET status = 'sent', email_id = p_email, sent_utc = coalesce(sent_utc, p_stamp),
            sent_copy = 'done', last_error = 'confirmed by its copy in the mailbox', claimed_by = NULL
        WHERE owner_id = p_owner AND token = p_token AND status IN ('sending', 'ambiguous', 'failed', 'queued')
          AND email_id IS NULL AND EXISTS (SELECT 1 FROM {S}.emails WHERE id = p_email AND owner_id = p_owner)
        RETURNING 1)
    SELECT count(*) FROM done
$fn$
;;
CREATE FUNCTION {S}.pdmail_capture_thread_ids(p_owner bigint, p_message_ids text[])
RETURNS TABLE (message_id text, thread_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT message_id, thread_id FROM {S}.thread_message_ids
        WHERE owner_id = p_owner AND message_id = ANY (p_message_ids) $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_split_by_hand(p_threads bigint[]) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT DISTINCT thread_id FROM {S}.audit_log
        WHERE thread_id = ANY (p_threads) AND action IN ('split', 'split-off') $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_subject_threads(p_owner bigint, p_subject text, p_since text, p_participants text[])
RETURNS TABLE (id bigint, last_date_utc text, shared text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
    SELECT t.id, t.last_date_utc,
           ARRAY(SELECT DISTINCT ea.address FROM {S}.email_addresses ea JOIN {S}.emails e ON e.id = ea.email_id
                 WHERE e.thread_id = t.id AND ea.address = ANY (p_participants) ORDER BY 1)
    FROM {S}.threads t
    WHERE t.owner_id = p_owner AND t.subject_norm = p_subject AND t.last_date_utc >= p_since
    ORDER BY t.last_date_utc DESC LIMIT 20
$fn$
;;
CREATE FUNCTION {S}.pdmail_capture_thread(p_thread bigint)
RETURNS TABLE (id bigint, owner_id bigint, deal_id bigint, deal_rule text, is_deal_manual bigint, visibility text,
               created_utc text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT id, owner_id, deal_id, deal_rule, is_deal_manual, visibility, created_utc FROM {S}.threads
        WHERE id = p_thread $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_new_thread(p_owner bigint, p_subject text, p_visibility text, p_stamp text)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ INSERT INTO {S}.threads (owner_id, subject_norm, visibility, last_date_utc, created_utc)
        VALUES (p_owner, p_subject, p_visibility, NULL, p_stamp) RETURNING id $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_register(p_owner bigint, p_message_ids text[], p_thread bigint) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ INSERT INTO {S}.thread_message_ids (owner_id, message_id, thread_id)
        SELECT p_owner, m, p_thread FROM unnest(p_message_ids) WITH ORDINALITY AS x(m, n)
        WHERE EXISTS (SELECT 1 FROM {S}.threads WHERE id = p_thread AND owner_id = p_owner) ORDER BY n
        ON CONFLICT DO NOTHING $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_merge_threads(p_target bigint, p_others bigint[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
DECLARE
    target record;
    other record;
    other_id bigint;
BEGIN
    SELECT * INTO target FROM {S}.threads WHERE id = p_target;
    FOREACH other_id IN ARRAY p_others LOOP
        SELECT * INTO other FROM {S}.threads WHERE id = other_id AND owner_id = target.owner_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'thread % is not in the same mailbox as thread %', other_id, p_target;
        END IF;
        IF (target.deal_id IS NULL AND other.deal_id IS NOT NULL)
           OR (other.is_deal_manual = 1 AND target.is_deal_manual = 0) THEN
            UPDATE {S}.threads SET deal_id = other.deal_id, deal_rule = other.deal_rule,
                is_deal_manual = other.is_deal_manual WHERE id = p_target;
            SELECT * INTO target FROM {S}.threads WHERE id = p_target;
        END IF;
        UPDATE {S}.emails SET thread_id = p_target WHERE thread_id = other_id;
        UPDATE {S}.thread_message_ids SET thread_id = p_target WHERE thread_id = other_id;
        UPDATE {S}.audit_log SET thread_id = p_target WHERE thread_id = other_id;
        DELETE FROM {S}.threads WHERE id = other_id;
    END LOOP;
    UPDATE {S}.threads SET last_date_utc = (SELECT max(date_utc) FROM {S}.emails WHERE thread_id = p_target)
        WHERE id = p_target;
END
$fn$
;;
CREATE FUNCTION {S}.pdmail_capture_touch_thread(p_thread bigint, p_date text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ UPDATE {S}.threads SET last_date_utc = CASE WHEN coalesce(last_date_utc, '') < p_date THEN p_date
        ELSE last_date_utc END WHERE id = p_thread $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_set_thread_deal(p_thread bigint, p_deal bigint, p_rule text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
    UPDATE {S}.threads SET deal_id = p_deal, deal_rule = p_rule, is_deal_manual = 0 WHERE id = p_thread;
    UPDATE {S}.emails SET deal_id = p_deal, deal_rule = p_rule, is_deal_manual = 0,
        needs_deal = CASE WHEN p_deal IS NULL THEN needs_deal ELSE 0 END,
        deal_caused_by = CASE WHEN deal_id IS NOT DISTINCT FROM p_deal THEN deal_caused_by END,
        deal_caused_utc = CASE WHEN deal_id IS NOT DISTINCT FROM p_deal THEN deal_caused_utc END,
        is_deal_proposed = CASE WHEN deal_id IS NOT DISTINCT FROM p_deal THEN is_deal_proposed ELSE 0 END
    WHERE thread_id = p_thread AND coalesce(link_verdict, '') != 'internal';
$fn$
;;
CREATE FUNCTION {S}.pdmail_capture_store_email(p_email jsonb, p_addresses jsonb, p_contacts jsonb, p_orgs jsonb,
                                                p_words text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
DECLARE
    made bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM {S}.threads WHERE id = (p_email ->> 'thread_id')::bigint
                   AND owner_id = (p_email ->> 'owner_id')::bigint) THEN
        RAISE EXCEPTION 'an email goes into a thread of its own owner';
    END IF;
    INSERT INTO {S}.emails (owner_id, thread_id, message_id, message_id_norm, alt_message_id, fingerprint,
        raw_sha256, wrapper_sha256, direction, source, from_name, from_email, to_json, cc_json, addresses,
        subject, date_utc, date_source, snippet, body_text, attachments_json, folder, is_read, visibility,
        deal_id, deal_rule, needs_deal, is_automated, link_verdict, link_trace_json, link_input_json,
        bcc_deal_id, parse_status, captured_utc, is_deal_manual)
    SELECT owner_id, thread_id, message_id, message_id_norm, alt_message_id, fingerprint,
        raw_sha256, wrapper_sha256, direction, source, from_name, from_email, to_json, cc_json, addresses,
        subject, date_utc, date_source, snippet, body_text, attachments_json, folder, is_read, visibility,
        deal_id, deal_rule, needs_deal, is_automated, link_verdict, link_trace_json, link_input_json,
        bcc_deal_id, parse_status, captured_utc, is_deal_manual
    FROM jsonb_to_record(p_email) AS x(owner_id bigint, thread_id bigint, message_id text, message_id_norm text,
        alt_message_id text, fingerprint text, raw_sha256 text, wrapper_sha256 text, direction text, source text,
        from_name text, from_email text, to_json text, cc_json text, addresses text, subject text, date_utc text,
        date_source text, snippet text, body_text text, attachments_json text, folder text, is_read bigint,
        visibility text, deal_id bigint, deal_rule text, needs_deal bigint, is_automated bigint,
        link_verdict text, link_trace_json text, link_input_json text, bcc_deal_id bigint, parse_status text,
        captured_utc text, is_deal_manual bigint)
    RETURNING id INTO made;
    INSERT INTO {S}.email_addresses (address, email_id, role)
        SELECT a ->> 0, made, a ->> 1 FROM jsonb_array_elements(p_addresses) AS a ON CONFLICT DO NOTHING;
    INSERT INTO {S}.email_contacts (email_id, contact_id, address, rule, reason, is_manual)
        SELECT made, (c ->> 0)::bigint, c ->> 1, c ->> 2, c ->> 3, 0 FROM jsonb_array_elements(p_contacts) AS c
        ON CONFLICT DO NOTHING;
    INSERT INTO {S}.email_orgs (email_id, org_id, address, rule, reason, is_manual)
        SELECT made, (o ->> 0)::bigint, o ->> 1, o ->> 2, o ->> 3, 0 FROM jsonb_array_elements(p_orgs) AS o
        ON CONFLICT DO NOTHING;
    INSERT INTO {S}.email_search (email_id, words) VALUES (made, CAST(p_words AS tsvector));
    UPDATE {S}.quarantine SET status = 'stored', released_email_id = made, released_utc = p_email ->> 'captured_utc'
        WHERE status = 'held' AND content_sha256 IN (p_email ->> 'raw_sha256', p_email ->> 'wrapper_sha256');
    RETURN made;
END
$fn$
;;
CREATE FUNCTION {S}.pdmail_capture_thread_has_proposals(p_thread bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT EXISTS (SELECT 1 FROM {S}.emails WHERE thread_id = p_thread AND is_deal_proposed = 1)
            OR EXISTS (SELECT 1 FROM {S}.emails o JOIN {S}.email_contacts x ON x.email_id = o.id
                       WHERE o.thread_id = p_thread AND x.is_proposed = 1)
            OR EXISTS (SELECT 1 FROM {S}.emails o JOIN {S}.email_orgs y ON y.email_id = o.id
                       WHERE o.thread_id = p_thread AND y.is_proposed = 1) $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_follow_proposals(p_thread bigint, p_email bigint) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
    UPDATE {S}.email_contacts x SET caused_by = p.caused_by, caused_utc = p.caused_utc, is_proposed = 1
    FROM (SELECT DISTINCT ON (c.contact_id) c.contact_id, c.caused_by, c.caused_utc
          FROM {S}.email_contacts c JOIN {S}.emails o ON o.id = c.email_id
          WHERE o.thread_id = p_thread AND o.id <> p_email AND c.is_proposed = 1
          ORDER BY c.contact_id, o.id) AS p
    WHERE x.email_id = p_email AND x.contact_id = p.contact_id AND x.is_manual = 0
      AND EXISTS (SELECT 1 FROM {S}.emails WHERE id = p_email AND thread_id = p_thread);
    UPDATE {S}.email_orgs y SET caused_by = p.caused_by, caused_utc = p.caused_utc, is_proposed = 1
    FROM (SELECT DISTINCT ON (c.org_id) c.org_id, c.caused_by, c.caused_utc
          FROM {S}.email_orgs c JOIN {S}.emails o ON o.id = c.email_id
          WHERE o.thread_id = p_thread AND o.id <> p_email AND c.is_proposed = 1
          ORDER BY c.org_id, o.id) AS p
    WHERE y.email_id = p_email AND y.org_id = p.org_id AND y.is_manual = 0
      AND EXISTS (SELECT 1 FROM {S}.emails WHERE id = p_email AND thread_id = p_thread);
$fn$
;;
CREATE FUNCTION {S}.pdmail_capture_email_deal(p_email bigint)
RETURNS TABLE (deal_id bigint, deal_rule text, is_deal_manual bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT deal_id, deal_rule, is_deal_manual FROM {S}.emails WHERE id = p_email $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_pending_thread_deal(p_thread bigint, p_email bigint, p_deal bigint)
RETURNS TABLE (caused_by bigint, caused_utc text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT deal_caused_by, deal_caused_utc FROM {S}.emails WHERE thread_id = p_thread AND id <> p_email
        AND deal_id = p_deal AND is_deal_proposed = 1 ORDER BY id LIMIT 1 $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_pending_deal_contact(p_email bigint, p_deal bigint)
RETURNS TABLE (caused_by bigint, caused_utc text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT x.caused_by, x.caused_utc FROM {S}.email_contacts x JOIN {S}.deals d ON d.contact_id = x.contact_id
        WHERE x.email_id = p_email AND d.id = p_deal AND x.is_proposed = 1
        UNION ALL SELECT y.caused_by, y.caused_utc FROM {S}.email_orgs y JOIN {S}.deals d ON d.org_id = y.org_id
        WHERE y.email_id = p_email AND d.id = p_deal AND y.is_proposed = 1 $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_propose_deal(p_by bigint, p_at text, p_deal bigint, p_email bigint, p_thread bigint)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
    UPDATE {S}.emails SET deal_caused_by = p_by, deal_caused_utc = p_at, is_deal_proposed = 1
    WHERE deal_id = p_deal AND is_deal_manual = 0
      AND ((p_email IS NOT NULL AND id = p_email)
           OR (p_email IS NULL AND thread_id = p_thread AND deal_caused_by IS NULL AND is_deal_proposed = 0))
$fn$
;;
CREATE FUNCTION {S}.pdmail_capture_hold(p_email bigint, p_request bigint, p_contacts bigint[], p_orgs bigint[],
                                         p_deal boolean)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
    UPDATE {S}.email_contacts x SET caused_by = r.caused_by, caused_utc = r.caused_utc, is_proposed = 1
    FROM {S}.relink_requests r
    WHERE r.id = p_request AND x.email_id = p_email AND x.contact_id = ANY (p_contacts) AND x.is_manual = 0;
    UPDATE {S}.email_orgs y SET caused_by = r.caused_by, caused_utc = r.caused_utc, is_proposed = 1
    FROM {S}.relink_requests r
    WHERE r.id = p_request AND y.email_id = p_email AND y.org_id = ANY (p_orgs) AND y.is_manual = 0;
    UPDATE {S}.emails e SET deal_caused_by = r.caused_by, deal_caused_utc = r.caused_utc, is_deal_proposed = 1
    FROM {S}.relink_requests r
    WHERE p_deal AND r.id = p_request AND e.id = p_email AND e.deal_id IS NOT NULL AND e.is_deal_manual = 0;
    INSERT INTO {S}.relink_held (request_id, email_id) VALUES (p_request, p_email) ON CONFLICT DO NOTHING;
$fn$
;;
CREATE FUNCTION {S}.pdmail_capture_held(p_sha text) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT id FROM {S}.quarantine WHERE content_sha256 = p_sha ORDER BY status = 'held' DESC, id LIMIT 1 $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_held_email(p_quarantine bigint) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$ SELECT released_email_id FROM {S}.quarantine WHERE id = p_quarantine AND status <> 'held' $fn$
;;
CREATE FUNCTION {S}.pdmail_capture_quarantine(p_entry jsonb) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
    INSERT INTO {S}.quarantine (received_utc, source, recipient, content_sha256, raw_sha256, spool_path, size,
        from_email, subject, reason, owner_id)
    SELECT received_utc, source, recipient, content_sha256, raw_sha256, spool_path, size, from_email, subject,
        reason, owner_id
    FROM jsonb_to_record(p_entry) AS x(received_utc text, source text, recipient text, content_sha256 text,
        raw_sha256 text, spool_path text, size bigint, from_email text, subject text, reason text, owner_id bigint)
    RETURNING id
$fn$
"""

# Making, mapping and removing logins: owned by the operator (CREATEROLE), executed as it.
LOGINS = """
CREATE FUNCTION {S}.pdmail_grant_login(p_user bigint, p_role text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
DECLARE
    wanted text;
    existing record;
BEGIN
    SELECT coalesce(nullif(p_role, ''), email) INTO wanted FROM {S}.users WHERE id = p_user;
    IF wanted IS NULL THEN
        RAISE EXCEPTION 'no user with id %', p_user USING ERRCODE = 'P0002';
    END IF;
    IF octet_length(wanted) > 63 THEN
        RAISE EXCEPTION 'the login role % would be longer than the 63 bytes PostgreSQL allows; name another one',
            wanted USING ERRCODE = '22023';
    END IF;
    IF wanted LIKE 'pg!_%' ESCAPE '!' OR wanted IN ({t}, {u}, {d}, {c}, {o}) THEN
        RAISE EXCEPTION 'the role % is reserved; name another one for this user', wanted USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM {S}.users WHERE db_role = wanted AND id <> p_user) THEN
        RAISE EXCEPTION 'the role % is already the login of another user', wanted USING ERRCODE = '23505';
    END IF;
    SELECT * INTO existing FROM pg_catalog.pg_roles WHERE rolname = wanted;
    IF FOUND THEN
        IF existing.rolsuper OR existing.rolcreaterole OR existing.rolbypassrls OR existing.rolreplication THEN
            RAISE EXCEPTION 'the role % may do more than a pdmail user may (superuser, CREATEROLE, BYPASSRLS or REPLICATION); name another one', wanted
                USING ERRCODE = '22023';
        END IF;
        IF NOT existing.rolcanlogin THEN
            RAISE EXCEPTION 'the role % cannot log in; name another one', wanted USING ERRCODE = '22023';
        END IF;
        IF pg_has_role(wanted, {t}, 'MEMBER') OR pg_has_role(wanted, {d}, 'MEMBER')
           OR pg_has_role(wanted, {c}, 'MEMBER') THEN
            RAISE EXCEPTION 'the role % belongs to pdmail''s own roles; name another one', wanted
                USING ERRCODE = '22023';
        END IF;
    ELSE
        EXECUTE 'CREATE ROLE ' || quote_ident(wanted) || ' LOGIN';
    END IF;
    EXECUTE 'GRANT ' || quote_ident({u}) || ' TO ' || quote_ident(wanted);
    UPDATE {S}.users SET db_role = wanted WHERE id = p_user;
    INSERT INTO {S}.relink_progress (user_id, request_id)
        SELECT p_user, coalesce(max(id), 0) FROM {S}.relink_requests
        ON CONFLICT (user_id) DO NOTHING;
    RETURN wanted;
END
$fn$
;;
CREATE FUNCTION {S}.pdmail_add_user(p_email text, p_name text, p_admin boolean, p_role text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
DECLARE
    made bigint;
BEGIN
    IF NOT ({S}.pdmail_is_admin() OR pg_has_role(session_user, {t}, 'USAGE')) THEN
        RAISE EXCEPTION 'only an admin can add users' USING ERRCODE = '42501';
    END IF;
    INSERT INTO {S}.users (email, name, is_admin, created_utc)
        VALUES (p_email, p_name, CASE WHEN p_admin THEN 1 ELSE 0 END,
                to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
        RETURNING id INTO made;
    PERFORM {S}.pdmail_grant_login(made, p_role);
    RETURN made;
END
$fn$
;;
CREATE FUNCTION {S}.pdmail_remove_user(p_user bigint) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, {S}, pg_temp
AS $fn$
DECLARE
    gone record;
BEGIN
    IF NOT ({S}.pdmail_is_admin() OR pg_has_role(session_user, {t}, 'USAGE')) THEN
        RAISE EXCEPTION 'only an admin can remove users' USING ERRCODE = '42501';
    END IF;
    SELECT * INTO gone FROM {S}.users WHERE id = p_user AND removed_utc IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no user with id %', p_user USING ERRCODE = 'P0002';
    END IF;
    IF gone.id = {S}.pdmail_me() THEN
        RAISE EXCEPTION 'you cannot remove yourself; another admin can' USING ERRCODE = '22023';
    END IF;
    UPDATE {S}.users SET removed_utc = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
        WHERE id = p_user;
    IF gone.db_role IS NOT NULL AND pg_has_role(gone.db_role, {u}, 'MEMBER')
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                   WHERE m.roleid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = {u})
                     AND m.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = gone.db_role)) THEN
        EXECUTE 'REVOKE ' || quote_ident({u}) || ' FROM ' || quote_ident(gone.db_role);
    END IF;
    RETURN gone.db_role;
END
$fn$
"""


def _policies(schema: str) -> list[tuple[str, str, str, str | None, str | None]]:
    """(table, name, command, USING, WITH CHECK) for the users' group; the law in each table's words."""
    # Scalar subqueries: each is worked out once per statement, not once per row.
    me = f"(SELECT {schema}.pdmail_me())"
    admin = f"(SELECT {schema}.pdmail_is_admin())"
    sees = f"{schema}.pdmail_sees_email(email_id)"
    # The law on the emails table itself: its contact and organization links are read through a
    # definer function (their own policies ask about emails), once per shared email nobody else owns.
    email_law = (
        f"owner_id = {me} OR (visibility = 'shared' AND ((deal_id IS NOT NULL AND is_deal_proposed = 0) "
        f"OR {schema}.pdmail_counts_link(id)))"
    )
    owns = f"{schema}.pdmail_owns_email(email_id)"
    out: list[tuple[str, str, str, str | None, str | None]] = [
        ("emails", "read", "SELECT", email_law, None),
        ("emails", "add", "INSERT", None, f"owner_id = {me}"),
        ("emails", "change", "UPDATE", email_law, "true"),
        ("emails", "remove", "DELETE", f"owner_id = {me}", None),
        ("threads", "read", "SELECT", f"owner_id = {me} OR {schema}.pdmail_sees_thread(id)", None),
        ("threads", "add", "INSERT", None, f"owner_id = {me}"),
        ("threads", "change", "UPDATE", f"owner_id = {me} OR {schema}.pdmail_sees_thread(id)", "true"),
        ("threads", "remove", "DELETE", f"owner_id = {me}", None),
        ("thread_message_ids", "own", "ALL", f"owner_id = {me}", f"owner_id = {me}"),
        ("email_search", "read", "SELECT", sees, None),
        ("email_search", "own", "ALL", owns, owns),
        ("email_addresses", "read", "SELECT", sees, None),
        ("email_addresses", "own", "ALL", owns, owns),
        ("email_contacts", "read", "SELECT", sees, None),
        ("email_contacts", "own", "ALL", owns, owns),
        ("email_contacts", "relink", "ALL", f"is_manual = 0 AND {sees}", f"is_manual = 0 AND {sees}"),
        ("email_orgs", "read", "SELECT", sees, None),
        ("email_orgs", "own", "ALL", owns, owns),
        ("email_orgs", "relink", "ALL", f"is_manual = 0 AND {sees}", f"is_manual = 0 AND {sees}"),
        (
            "audit_log",
            "read",
            "SELECT",
            f"CASE WHEN email_id IS NOT NULL THEN {schema}.pdmail_sees_email(email_id) "
            f"WHEN thread_id IS NOT NULL THEN {schema}.pdmail_sees_thread(thread_id) ELSE user_id = {me} END",
            None,
        ),
        (
            "audit_log",
            "add",
            "INSERT",
            None,
            f"user_id = {me} AND (email_id IS NULL OR {schema}.pdmail_sees_email(email_id)) "
            f"AND (thread_id IS NULL OR {schema}.pdmail_sees_thread(thread_id))",
        ),
        (
            "audit_log",
            "follow",
            "UPDATE",
            f"{schema}.pdmail_owns_thread(thread_id)",
            f"{schema}.pdmail_owns_thread(thread_id)",
        ),
        ("raw_messages", "read", "SELECT", f"{schema}.pdmail_sees_raw(sha256)", None),
        ("raw_messages", "add", "INSERT", None, "true"),
        (
            "quarantine",
            "review",
            "ALL",
            f"{schema}.pdmail_sees_held(owner_id, from_email)",
            f"{schema}.pdmail_sees_held(owner_id, from_email)",
        ),
        ("quarantine", "add", "INSERT", None, f"owner_id IS NULL OR owner_id = {me}"),
        ("accounts", "own", "ALL", f"owner_id = {me}", f"owner_id = {me}"),
        (
            "sync_folders",
            "own",
            "ALL",
            f"{schema}.pdmail_owns_account(account_id)",
            f"{schema}.pdmail_owns_account(account_id)",
        ),
        (
            "sync_runs",
            "own",
            "ALL",
            f"{schema}.pdmail_owns_account(account_id)",
            f"{schema}.pdmail_owns_account(account_id)",
        ),
        (
            "pending_ops",
            "own",
            "ALL",
            f"{schema}.pdmail_owns_account(account_id)",
            f"{schema}.pdmail_owns_account(account_id) AND {owns}",
        ),
        (
            "locations",
            "own",
            "ALL",
            f"{schema}.pdmail_owns_folder(folder_id)",
            f"{schema}.pdmail_owns_folder(folder_id)",
        ),
        (
            "fetch_failures",
            "own",
            "ALL",
            f"{schema}.pdmail_owns_folder(folder_id)",
            f"{schema}.pdmail_owns_folder(folder_id)",
        ),
        (
            "past_skips",
            "own",
            "ALL",
            f"{schema}.pdmail_owns_folder(folder_id)",
            f"{schema}.pdmail_owns_folder(folder_id)",
        ),
        (
            "past_skip_addresses",
            "own",
            "ALL",
            f"{schema}.pdmail_owns_skip(skip_id)",
            f"{schema}.pdmail_owns_skip(skip_id)",
        ),
        ("outbox", "own", "ALL", f"owner_id = {me}", f"owner_id = {me}"),
        ("templates", "read", "SELECT", f"owner_id IS NULL OR owner_id = {me}", None),
        (
            "templates",
            "write",
            "ALL",
            f"owner_id = {me} OR (owner_id IS NULL AND {admin})",
            f"owner_id = {me} OR (owner_id IS NULL AND {admin})",
        ),
        # The company's tables: everyone reads them; admins (or each user, for their own) change them.
        ("company", "read", "SELECT", "true", None),
        ("company", "admin", "ALL", admin, admin),
        ("company_settings", "read", "SELECT", "true", None),
        ("company_settings", "admin", "ALL", admin, admin),
        ("app_state", "read", "SELECT", "true", None),
        ("app_state", "admin", "ALL", admin, admin),
        ("blocked", "read", "SELECT", "true", None),
        ("blocked", "admin", "ALL", admin, admin),
        ("user_settings", "read", "SELECT", "true", None),
        ("user_settings", "own", "ALL", f"user_id = {me}", f"user_id = {me}"),
        ("user_addresses", "read", "SELECT", "true", None),
        ("user_addresses", "claim", "INSERT", None, f"user_id = {me} AND (approved_utc IS NULL OR {admin})"),
        ("user_addresses", "give_up", "DELETE", f"user_id = {me}", None),
        ("user_addresses", "admin", "ALL", admin, admin),
        ("relink_requests", "read", "SELECT", "true", None),
        ("relink_requests", "add", "INSERT", None, f"caused_by IS NULL OR caused_by = {me}"),
        ("relink_progress", "own", "ALL", f"user_id = {me}", f"user_id = {me}"),
        ("relink_held", "own", "ALL", owns, owns),
    ]
    return out


def _policy_sql(schema: str, table: str, name: str, command: str, using: str | None, check: str | None, to: str) -> str:
    sql = f"CREATE POLICY pdmail_{name} ON {schema}.{table} AS PERMISSIVE FOR {command} TO {to}"
    if using is not None:
        sql += f" USING ({using})"
    if check is not None:
        sql += f" WITH CHECK ({check})"
    return sql


def _refuse_unless_operator(db: Database) -> None:
    """Only a role that may create roles and owns the tables can turn a database into a team server."""
    row = db.one(
        "SELECT r.rolsuper, r.rolcreaterole, "
        "(SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'emails') AS owner, "
        "CAST(current_user AS text) AS me FROM pg_roles r WHERE r.rolname = current_user"
    )
    if row is None or row["rolsuper"]:
        return
    if not row["rolcreaterole"] or row["owner"] not in (None, row["me"]):
        owner = row["owner"] or row["me"]
        raise UsageError(
            f"making this database a team server with a login per user (schema 14) needs the role that owns "
            f"its tables ({owner}), with CREATEROLE; you are connected as {row['me']}. As PostgreSQL's "
            f'superuser: ALTER ROLE "{owner}" CREATEROLE; then run any pdmail command once as that role. '
            "Nothing was changed."
        )


def _refuse_existing_roles(db: Database, names: RoleNames) -> None:
    taken = [
        r[0]
        for r in db.all(
            "SELECT rolname FROM pg_roles WHERE rolname IN (?, ?, ?) ORDER BY rolname",
            (names.tables, names.users, names.definer),
        )
    ]
    if taken:
        raise UsageError(
            f"the roles {', '.join(taken)} already exist (left by an earlier database of the same name?); "
            f"pdmail makes them for this database only. Drop them first (DROP ROLE), or use another database name"
        )


def check_may_set_up(db: Database) -> None:
    """Before any migration runs: whether this one can, so that a database is never left half made."""
    _refuse_unless_operator(db)
    _refuse_existing_roles(db, role_names(db.scalar("SELECT current_database()")))


@dataclass(frozen=True)
class _Quoted:
    """The names this step writes into SQL, quoted: the schema and each role."""

    schema: str
    tables: str
    users: str
    definer: str
    capture: str
    operator: str


def m014_logins_and_row_security(db: Database) -> None:
    check_may_set_up(db)
    database = db.scalar("SELECT current_database()")
    operator = db.scalar("SELECT CAST(current_user AS text)")
    names = role_names(database)
    run(db, SCHEMA)
    q = _Quoted(
        ident(db.scalar("SELECT current_schema()")),
        *(ident(n) for n in (names.tables, names.users, names.definer, CAPTURE_ROLE, operator)),
    )
    _roles(db, q)
    tables = [r[0] for r in db.all("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
    for table in tables:
        db.execute(f"ALTER TABLE {q.schema}.{ident(table)} OWNER TO {q.tables}")
    db.execute(f"REVOKE CONNECT, TEMPORARY ON DATABASE {ident(database)} FROM PUBLIC")
    db.execute(f"GRANT CONNECT ON DATABASE {ident(database)} TO {q.users}, {q.capture}")
    db.execute(f"GRANT USAGE ON SCHEMA {q.schema} TO {q.users}, {q.definer}, {q.capture}")
    _functions(db, q, names, operator)
    _grant_tables(db, q, tables)
    _row_security(db, q)
    for (user_id,) in db.all("SELECT id FROM users ORDER BY id"):
        _login_for_existing_user(db, q, user_id)


def _roles(db: Database, q: _Quoted) -> None:
    for role in (q.tables, q.users, q.definer):
        db.execute(f"CREATE ROLE {role} NOLOGIN")
    if db.scalar("SELECT 1 FROM pg_roles WHERE rolname = ?", (CAPTURE_ROLE,)) is None:
        db.execute(f"CREATE ROLE {q.capture} NOLOGIN")
    db.execute(f"GRANT {q.tables}, {q.definer} TO {q.operator}")  # later migrations and db copy
    # An owner must be able to create in the schema (on PostgreSQL 15 and later only the database's
    # owner may, unless granted); the definer's grant goes once its functions are its own.
    db.execute(f"GRANT CREATE ON SCHEMA {q.schema} TO {q.tables}, {q.definer}")


# Who runs each function besides its owner. The policies call theirs as whoever reads.
_EVERYONE = ("pdmail_me()", "pdmail_is_admin()", "pdmail_team_roles()")
_USERS = (
    "pdmail_counts_link(bigint)",
    "pdmail_sees_email(bigint)",
    "pdmail_owns_email(bigint)",
    "pdmail_sees_thread(bigint)",
    "pdmail_owns_thread(bigint)",
    "pdmail_answered_elsewhere(text, bigint, text)",
    "pdmail_owns_account(bigint)",
    "pdmail_owns_folder(bigint)",
    "pdmail_owns_skip(bigint)",
    "pdmail_sees_held(bigint, text)",
    "pdmail_sees_raw(text)",
    "pdmail_forget_raw(text)",
    "pdmail_forget_contact_links(bigint)",
    "pdmail_leave_quarantine(bigint)",
    "pdmail_add_user(text, text, boolean, text)",
    "pdmail_remove_user(bigint)",
)
_CAPTURE = (
    "pdmail_capture_email_by_fingerprint(bigint, text)",
    "pdmail_capture_emails_by_message_id(bigint, text)",
    "pdmail_capture_sent_copy(bigint, text)",
    "pdmail_capture_confirm_sent(bigint, text, bigint, text)",
    "pdmail_capture_thread_ids(bigint, text[])",
    "pdmail_capture_split_by_hand(bigint[])",
    "pdmail_capture_subject_threads(bigint, text, text, text[])",
    "pdmail_capture_thread(bigint)",
    "pdmail_capture_new_thread(bigint, text, text, text)",
    "pdmail_capture_register(bigint, text[], bigint)",
    "pdmail_capture_merge_threads(bigint, bigint[])",
    "pdmail_capture_touch_thread(bigint, text)",
    "pdmail_capture_set_thread_deal(bigint, bigint, text)",
    "pdmail_capture_store_email(jsonb, jsonb, jsonb, jsonb, text)",
    "pdmail_capture_thread_has_proposals(bigint)",
    "pdmail_capture_follow_proposals(bigint, bigint)",
    "pdmail_capture_email_deal(bigint)",
    "pdmail_capture_pending_thread_deal(bigint, bigint, bigint)",
    "pdmail_capture_pending_deal_contact(bigint, bigint)",
    "pdmail_capture_propose_deal(bigint, text, bigint, bigint, bigint)",
    "pdmail_capture_hold(bigint, bigint, bigint[], bigint[], boolean)",
    "pdmail_capture_held(text)",
    "pdmail_capture_held_email(bigint)",
    "pdmail_capture_quarantine(jsonb)",
)
_OPERATORS_OWN = {"pdmail_grant_login", "pdmail_add_user", "pdmail_remove_user"}  # they make and drop logins


def _functions(db: Database, q: _Quoted, names: RoleNames, operator: str) -> None:
    words = {
        "S": q.schema,
        "t": literal(names.tables),
        "u": literal(names.users),
        "d": literal(names.definer),
        "c": literal(CAPTURE_ROLE),
        "o": literal(operator),
    }
    links = ", ".join(literal(c) for c in _LINK_COLUMNS)
    run(db, FUNCTIONS.format(**words).replace("LAW", law(q.schema, "e")).replace("LINKS", links))
    run(db, CAPTURE.format(**words))
    run(db, LOGINS.format(**words))
    made = db.all(
        "SELECT p.oid::regprocedure::text, p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = current_schema() AND p.proname LIKE 'pdmail!_%' ESCAPE '!'"
    )
    for signature, name in made:
        db.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        if name not in _OPERATORS_OWN:
            db.execute(f"ALTER FUNCTION {signature} OWNER TO {q.definer}")
    db.execute(f"REVOKE CREATE ON SCHEMA {q.schema} FROM {q.definer}")
    for signature in _EVERYONE:
        db.execute(f"GRANT EXECUTE ON FUNCTION {q.schema}.{signature} TO {q.users}, {q.definer}, {q.capture}")
    for signature in _USERS:
        db.execute(f"GRANT EXECUTE ON FUNCTION {q.schema}.{signature} TO {q.users}")
    for signature in _CAPTURE:
        db.execute(f"GRANT EXECUTE ON FUNCTION {q.schema}.{signature} TO {q.capture}")


def _grant_tables(db: Database, q: _Quoted, tables: list[str]) -> None:
    everyone_reads = ("_pdmail_migrations", "users")
    for table in tables:
        quoted = f"{q.schema}.{ident(table)}"
        if table in everyone_reads:
            db.execute(f"GRANT SELECT ON {quoted} TO {q.users}, {q.definer}")
        else:
            db.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {quoted} TO {q.users}")
            db.execute(f"GRANT SELECT ON {quoted} TO {q.definer}")
    for table in ("raw_messages", "email_contacts"):
        db.execute(f"GRANT DELETE ON {q.schema}.{table} TO {q.definer}")
    for table in DEFINER_WRITES:
        db.execute(f"GRANT INSERT, UPDATE, DELETE ON {q.schema}.{table} TO {q.definer}")
    db.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {q.schema} TO {q.users}, {q.definer}")
    # The mail server's pipe reads what deciding a message's owner and links needs, and no mail; it
    # writes the contacts capture makes, the raw bytes, and the record of the re-links it leaves to owners.
    for table in ("_pdmail_migrations", "users", *COMPANY_TABLES, *RELINK_TABLES, *SHARED_TABLES):
        db.execute(f"GRANT SELECT ON {q.schema}.{ident(table)} TO {q.capture}")
    for table in (*SHARED_TABLES, "raw_messages", "relink_requests"):
        db.execute(f"GRANT INSERT ON {q.schema}.{table} TO {q.capture}")
    db.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {q.schema} TO {q.capture}")


def _row_security(db: Database, q: _Quoted) -> None:
    for table in (*MAIL_TABLES, *COMPANY_TABLES, *RELINK_TABLES):
        db.execute(f"ALTER TABLE {q.schema}.{table} ENABLE ROW LEVEL SECURITY")
    for table in MAIL_TABLES:
        db.execute(f"ALTER TABLE {q.schema}.{table} FORCE ROW LEVEL SECURITY")
        # What the definer functions read to decide: everything, and nothing more than they return.
        db.execute(_policy_sql(q.schema, table, "definer_reads", "SELECT", "true", None, q.definer))
    db.execute(_policy_sql(q.schema, "raw_messages", "definer_forgets", "DELETE", "true", None, q.definer))
    db.execute(_policy_sql(q.schema, "email_contacts", "definer_forgets", "DELETE", "true", None, q.definer))
    for table in DEFINER_WRITES:
        db.execute(_policy_sql(q.schema, table, "definer_writes", "ALL", "true", "true", q.definer))
    # The mail server's pipe: bytes in, and the re-links it leaves to each owner; how far each got.
    db.execute(_policy_sql(q.schema, "raw_messages", "capture_adds", "INSERT", None, "true", q.capture))
    db.execute(_policy_sql(q.schema, "relink_requests", "capture_adds", "INSERT", None, "true", q.capture))
    db.execute(_policy_sql(q.schema, "relink_progress", "capture_reads", "SELECT", "true", None, q.capture))
    for table, name, command, using, check in _policies(q.schema):
        # Reading the company's tables is for whoever has the grant (users, definer functions, capture).
        everyone = table in (*COMPANY_TABLES, *RELINK_TABLES) and command == "SELECT" and using == "true"
        db.execute(_policy_sql(q.schema, table, name, command, using, check, "PUBLIC" if everyone else q.users))


def _login_for_existing_user(db: Database, q: _Quoted, user_id: int) -> None:
    """Users of a database made before logins: each gets one named after their address, where it can."""
    db.execute("SAVEPOINT pdmail_login")
    try:
        db.execute(f"SELECT {q.schema}.pdmail_grant_login(?, NULL)", (user_id,))
    except Exception:  # noqa: BLE001 - a name PostgreSQL cannot take: that user has no login until an admin names one
        db.execute("ROLLBACK TO SAVEPOINT pdmail_login")
    db.execute("RELEASE SAVEPOINT pdmail_login")
