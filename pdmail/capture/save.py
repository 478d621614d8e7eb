"""The one path every email takes in: parse → authorize (Smart BCC) → dedupe → thread → link → store.

Sync and Smart BCC both end in :func:`store_parsed`, so dedupe, threading, linking and
visibility behave the same whichever way a message arrived.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, overload

from pdmail.capture import decision as decision_rules
from pdmail.core.addresses import normalize_address
from pdmail.core.errors import InputRefused, PdmailError
from pdmail.core.models import Address, Contact, Direction, ParsedEmail, Source, User, Visibility
from pdmail.core.records import Record
from pdmail.core.settings import visibility_of_setting
from pdmail.linking import engine as link
from pdmail.linking import relink
from pdmail.linking import threads as threading_rules
from pdmail.linking.context import LinkingInputs
from pdmail.mime import fingerprint as identity
from pdmail.mime.limits import fits_sqlite_integer
from pdmail.mime.parse import MessageRefused, parse_message, without_surrogates
from pdmail.store import emails as store
from pdmail.store import quarantine as quarantine_store
from pdmail.store import users as users_store
from pdmail.store.company import DEAL_TAG as _DEAL_TAG
from pdmail.store.company import Company
from pdmail.store.crm_snapshot import CrmSnapshot
from pdmail.store.db import Database, is_machine_failure, iso_utc, now_utc

if TYPE_CHECKING:  # a batch's reads (one message on stdin has no batch, and does not load them)
    from pdmail.capture.batch_facts import BatchFacts

SUBJECT_FALLBACK_DAYS = 30


class Origin(Record):
    """Where a message came from, and what the source already knows about it."""

    source: Source
    label: str = "-"  # a path, "-" for stdin, or a folder/UID for sync
    recipient: str | None = None  # the envelope recipient, when the mail server knows it
    folder: str | None = None  # inbox | sent | archive | trash, for sync
    is_read: bool = False
    server_date: datetime | None = None
    visibility: Visibility | None = None  # forced (e.g. `send --private`); else the owner's default


class Outcome:
    """What became of one input. A plain class, not a record type that generates its code at import:
    a piped message's process builds it once (and capture adds its warnings to it in place)."""

    __slots__ = ("id", "quarantine_id", "reason", "source", "status", "warnings")

    def __init__(
        self,
        source: str,
        status: str,  # stored | duplicate | skipped | quarantined | failed
        id: int | None = None,
        reason: str | None = None,
        warnings: list[str] | None = None,
        quarantine_id: int | None = None,
    ) -> None:
        self.source = source
        self.status = status
        self.id = id
        self.reason = reason
        self.warnings: list[str] = [] if warnings is None else warnings
        self.quarantine_id = quarantine_id

    def _fields(self) -> tuple:
        return (self.source, self.status, self.id, self.reason, self.warnings, self.quarantine_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Outcome) and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # it changes: no hash, as for any mutable value

    def __repr__(self) -> str:
        names = ("source", "status", "id", "reason", "warnings", "quarantine_id")  # the order of _fields()
        return "Outcome(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields(), strict=True)) + ")"

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "status": self.status,
            "id": self.id,
            "reason": self.reason,
            "quarantine_id": self.quarantine_id,
        }


# --- Smart BCC --------------------------------------------------------------------------------


class NewContacts:
    """Contacts that capture created, whose earlier email is still to be linked to them.

    Linking a contact's earlier email reads every user, setting and thread its address touches, so
    a batch of captured mail does it once, at its end and in its transaction, for all the contacts it
    created; mail captured later in the batch finds the contact already. Each contact's earlier mail
    is linked on behalf of the user whose mail created it (rule 4 of the sharing law). A message of
    another user that names such an address waits for that link first: it must find the links the
    new contact proposed in its conversation, exactly as if it had come on its own.
    """

    def __init__(self) -> None:
        self._by_owner: dict[int, tuple[User, set[str]]] = {}

    def add(self, owner: User, address: str) -> None:
        self._by_owner.setdefault(owner.id, (owner, set()))[1].add(address)

    def made_by_others(self, owner: User, among: Iterable[str]) -> frozenset[str]:
        """Those of ``among`` whose contacts other users' mail created, their earlier mail not linked yet."""
        named = set(among)
        return frozenset(a for uid, (_, made) in self._by_owner.items() if uid != owner.id for a in made & named)

    def link_earlier_mail(self, db: Database) -> None:
        """Link the stored email of every new contact to it, one re-link for each user who created some."""
        waiting, self._by_owner = self._by_owner, {}
        for owner, addresses in waiting.values():
            # A contact made by a message that was then rolled back (and quarantined) is gone again.
            from pdmail.store import crm as crm_store

            kept = [a for a in sorted(addresses) if crm_store.contact_for_address(db, a) is not None]
            with relink.acting(owner):
                relink.after_addresses_changed(db, kept)


def parse_or_refuse(raw: bytes) -> ParsedEmail | str:
    """A parsed message, or the reason it was refused; safe to run in a worker process.

    Never raises: a message that makes the parser fail is refused with the failure as its reason,
    so that it is quarantined rather than lost or retried for ever.
    """
    try:
        return parse_message(raw)
    except MessageRefused as exc:
        return exc.message
    except Exception as exc:  # noqa: BLE001 - whatever the bytes hold, the message is kept
        return f"the message could not be read ({describe_failure(exc)})"


def describe_failure(exc: BaseException) -> str:
    """One line naming an unexpected failure, fit to be stored as a quarantine reason."""
    text = exc.message if isinstance(exc, PdmailError) else f"{type(exc).__name__}: {exc}"
    return without_surrogates(" ".join(text.split()))[:300]


@overload
def storable(text: str) -> str: ...
@overload
def storable(text: None) -> None: ...
@overload
def storable(text: str | None) -> str | None: ...
def storable(text: str | None) -> str | None:
    """``text`` with any lone surrogate replaced: a file name or argument can carry one, SQLite takes none."""
    return None if text is None else without_surrogates(text)


class Derived(Record):
    """What the store would otherwise compute from a parsed message itself: pure work, so parser
    processes do it and the single writer does not. ``search_document``: the words of its full-text
    entry, cut, when the engine does not cut them itself (see ``Database.cuts_search_words``)."""

    fingerprint: str
    snippet: str
    search_document: str | None = None

    @classmethod
    def of(cls, parsed: ParsedEmail, *, cut_words: bool = False) -> Derived:
        document = None
        if cut_words:
            sender = parsed.from_[0] if parsed.from_ else None
            document = store.search_document(parsed.subject, parsed.text, sender, parsed.to, parsed.cc)
        return cls(identity.fingerprint(parsed), identity.snippet(parsed.text), document)

    @classmethod
    def of_or_none(cls, parsed: ParsedEmail, *, cut_words: bool = False) -> Derived | None:
        """The values, or None when computing them fails: the store computes them again and, failing
        too, quarantines the message with the reason."""
        try:
            return cls.of(parsed, cut_words=cut_words)
        except Exception:  # noqa: BLE001 - reported where the message is stored
            return None


def parse_for_store(raw: bytes, *, cut_words: bool = False) -> tuple[ParsedEmail, Derived | None] | str:
    """:func:`parse_or_refuse`, plus the message's :class:`Derived` values; for worker processes."""
    parsed = parse_or_refuse(raw)
    return parsed if isinstance(parsed, str) else (parsed, Derived.of_or_none(parsed, cut_words=cut_words))


def deal_tag(company: Company, parsed: ParsedEmail, recipient: str | None) -> int | None:
    """The +deal<ID> of the capture address this message was sent to, in the order of docs/spec.md ("Smart BCC")."""
    sources: list[list[str]] = []
    if recipient:
        sources.append([recipient])
    if parsed.delivered_to:
        sources.append(list(parsed.delivered_to))
    sources.append([a.email for a in (*parsed.to, *parsed.cc, *parsed.bcc)])
    for group in sources:
        for address in group:
            m = _DEAL_TAG.match(normalize_address(address))
            if m and company.is_capture_address(address):
                return int(m["id"])
    return None


def ingest_bcc(
    db: Database,
    raw: bytes,
    *,
    label: str = "-",
    recipient: str | None = None,
    parsed: ParsedEmail | str | None = None,
    company: Company | None = None,
    derived: Derived | None = None,
    fail_fast: bool = False,
    new_contacts: NewContacts | None = None,
    known: BatchFacts | None = None,
) -> Outcome:
    """Capture one Smart BCC message: stored, duplicate, skipped, or quarantined with its reason.

    Nothing in a message can lose it or have a mail server retry it for ever: whatever fails while
    storing it for a reason of its own ends in the quarantine with that reason. Only failures of the
    machine (database busy or unreadable, disk full) are raised, for the caller to try again later.
    ``fail_fast`` raises every failure instead, for a caller that cannot undo half a message and
    will redo it with savepoints. ``new_contacts`` collects the contacts a batch creates (see
    :class:`NewContacts`); without it, the message's own are linked to their earlier mail at once.
    ``known``: what the store held of the batch's messages (see :mod:`pdmail.capture.batch_facts`).
    """
    label, recipient = storable(label), storable(recipient)
    try:
        return _ingest(db, raw, label, recipient, parsed, company, derived, new_contacts, known)
    except Exception as exc:
        if fail_fast or is_machine_failure(exc):
            raise
        return _quarantine_failure(db, raw, label, recipient, parsed, exc)


def _ingest(
    db: Database,
    raw: bytes,
    label: str,
    recipient: str | None,
    parsed: ParsedEmail | str | None,
    company: Company | None,
    derived: Derived | None,
    new_contacts: NewContacts | None,
    known: BatchFacts | None = None,
) -> Outcome:
    """Each write below is one transaction (or savepoint): a failure leaves nothing half-written."""
    company = company or Company.load(db)
    if parsed is None:
        parsed = parse_or_refuse(raw)
    if isinstance(parsed, str):
        return _quarantine(db, raw, label, recipient, parsed, None)

    from pdmail.capture.sender_check import authorize_bcc_sender

    verdict = authorize_bcc_sender(parsed, frozenset(company.users_by_address), company.authserv_id)
    if not verdict.ok or verdict.sender is None:
        return _quarantine(db, raw, label, recipient, verdict.reason, parsed)
    owner = company.users_by_address[normalize_address(verdict.sender)]
    return _store_bcc(
        db,
        raw,
        parsed,
        owner,
        company,
        label=label,
        recipient=recipient,
        derived=derived,
        new_contacts=new_contacts,
        known=known,
    )


def _store_bcc(
    db: Database,
    raw: bytes,
    parsed: ParsedEmail,
    owner: User,
    company: Company,
    *,
    label: str,
    recipient: str | None,
    derived: Derived | None = None,
    new_contacts: NewContacts | None = None,
    known: BatchFacts | None = None,
) -> Outcome:
    warnings: list[str] = []
    deal_id = deal_tag(company, parsed, recipient)
    if deal_id is not None and not (fits_sqlite_integer(deal_id) and _deal_exists(db, deal_id)):
        warnings.append(f"the capture address names deal {deal_id}, which does not exist; linked as usual")
        deal_id = None

    effective, wrapper = parsed, None
    own_raw: bytes | None = raw
    others = [a for a in (*parsed.to, *parsed.cc) if not company.is_capture_address(a.email)]
    if not others:
        unwrapped = _unwrap_forward(parsed)
        if isinstance(unwrapped, str):
            return _quarantine(db, raw, label, recipient, unwrapped, parsed)
        if unwrapped is not None:
            (effective, own_raw), wrapper, derived = unwrapped, raw, None  # another message: its own values

    origin = Origin(source="bcc", label=label, recipient=recipient)
    with db.tx():
        outcome = store_parsed(
            db,
            owner,
            effective,
            own_raw,
            origin,
            company=company,
            bcc_deal_id=deal_id,
            wrapper_raw=wrapper,
            derived=derived,
            new_contacts=new_contacts,
            known=known,
        )
    outcome.warnings[:0] = warnings
    return outcome


def _deal_exists(db: Database, deal_id: int) -> bool:
    from pdmail.store import crm as crm_store  # the CRM's writes are loaded only by mail that needs them

    return crm_store.deal_exists(db, deal_id)


def _unwrap_forward(parsed: ParsedEmail) -> tuple[ParsedEmail, bytes | None] | str | None:
    """The forwarded original inside ``parsed`` and its own bytes (None for an inline forward).

    A reason string when the original cannot be read; None when there is no forward.
    """
    from pdmail.mime.forward import find_forwarded

    found = find_forwarded(parsed)
    if found is None:
        return None
    if found.raw:
        try:
            return parse_message(found.raw), found.raw
        except MessageRefused as exc:
            return f"forwarded message: {exc.message}"
    return parsed._replace(
        raw_sha256=parsed.raw_sha256,
        message_id=None,
        message_id_norm=None,
        alt_message_id=None,
        in_reply_to=(),
        references=(),
        from_=(found.from_,) if found.from_ else (),
        from_header_count=1 if found.from_ else 0,
        sender=None,
        reply_to=(),
        x_original_from=None,
        to=tuple(found.to),
        cc=tuple(found.cc),
        bcc=(),
        delivered_to=(),
        subject=found.subject,
        date_header=found.date_utc.isoformat() if found.date_utc else None,
        date_utc=found.date_utc,
        date_source="header" if found.date_utc else "none",
        text=found.text,
        attachments=parsed.attachments,
        attached_messages=(),
        list_id=None,
        list_unsubscribe=None,
        precedence=None,
        auto_submitted=None,
        authentication_results=(),
    ), None


def _quarantine(
    db: Database, raw: bytes, label: str, recipient: str | None, reason: str, parsed: ParsedEmail | None
) -> Outcome:
    sender, subject = held_fields(parsed)
    with db.tx():
        qid, stored = quarantine_store.hold_message(
            db, raw, source=label, recipient=recipient, reason=reason, from_email=sender, subject=subject
        )
    if stored is not None:  # refused before, then released: these very bytes are already an email
        return Outcome(label, "duplicate", stored, "already captured (released from quarantine)", quarantine_id=qid)
    return Outcome(label, "quarantined", None, reason, quarantine_id=qid)


def held_fields(parsed: ParsedEmail | None) -> tuple[str | None, str | None]:
    """The sender and subject a quarantined message is listed with."""
    if parsed is None:
        return None, None
    return (parsed.from_[0].email if parsed.from_ else None), parsed.subject


def _quarantine_failure(
    db: Database, raw: bytes, label: str, recipient: str | None, parsed: ParsedEmail | str | None, exc: Exception
) -> Outcome:
    """Quarantine a message that failed to be stored, with the failure as its reason.

    Listed with its sender and subject when they can be read; when even that fails, the bytes are
    kept alone with the failure's kind as the reason, so that the message is never lost.
    """
    reason = f"could not be stored: {describe_failure(exc)}"
    try:
        if not isinstance(parsed, ParsedEmail):
            parsed = parse_or_refuse(raw)
        return _quarantine(db, raw, label, recipient, reason, parsed if isinstance(parsed, ParsedEmail) else None)
    except Exception as again:
        if is_machine_failure(again):
            raise
    reason = f"could not be stored: {type(exc).__name__}"
    with db.tx():
        qid = quarantine_store.hold(
            db, raw, source=label, recipient=recipient, reason=reason, from_email=None, subject=None
        )
    return Outcome(label, "quarantined", None, reason, quarantine_id=qid)


def release(db: Database, qid: int, by: User) -> Outcome:
    """Ingest a quarantined message after review: authorization is waived, every other rule applies."""
    item = quarantine_store.get(db, qid, by)
    raw = quarantine_store.raw_of(db, item)
    try:
        parsed = parse_message(raw)
    except MessageRefused as exc:
        raise InputRefused(f"quarantined message {qid} still cannot be read: {exc.message}") from None
    company = Company.load(db)
    owner = _owner_of_held(db, item, parsed, company)
    outcome = _store_bcc(db, raw, parsed, owner or by, company, label=f"quarantine:{qid}", recipient=item.recipient)
    if outcome.id is not None:
        with db.tx():
            quarantine_store.mark_released(db, qid, outcome.id)
    return outcome


def _owner_of_held(db: Database, item, parsed: ParsedEmail, company: Company) -> User | None:
    """Whose mail a released message is: the mailbox it was synced from, else the user whose approved
    address sent it; None when neither (the reviewer then takes it), never merely whoever released it."""
    if item.owner_id is not None:
        return users_store.get_user(db, item.owner_id)
    sender = parsed.from_[0].email if parsed.from_ else None
    return company.users_by_address.get(normalize_address(sender)) if sender else None


# --- the shared path --------------------------------------------------------------------------


def direction_of(parsed: ParsedEmail, owner: User, origin: Origin) -> Direction:
    if origin.folder == "sent" or origin.source == "sent":
        return "outgoing"
    return "outgoing" if any(a.email in owner.addresses for a in parsed.from_) else "incoming"


def store_parsed(
    db: Database,
    owner: User,
    parsed: ParsedEmail,
    raw: bytes | None,
    origin: Origin,
    *,
    company: Company | None = None,
    bcc_deal_id: int | None = None,
    wrapper_raw: bytes | None = None,
    derived: Derived | None = None,
    new_contacts: NewContacts | None = None,
    known: BatchFacts | None = None,
) -> Outcome:
    """Dedupe, thread, link and store one parsed message for ``owner``. Call inside a transaction.

    ``raw`` is the message's own bytes (None when it was unwrapped from ``wrapper_raw`` inline).
    ``derived`` is ``Derived.of(parsed)`` when a parser process already computed it. Contacts it
    creates join ``new_contacts`` when given; otherwise their earlier mail is linked before it returns.
    ``known`` answers some of its reads for a whole batch (:mod:`pdmail.capture.batch_facts`).
    """
    if new_contacts is not None:
        return _store_parsed(
            db, owner, parsed, raw, origin, company, bcc_deal_id, wrapper_raw, derived, new_contacts, known
        )
    own = NewContacts()
    outcome = _store_parsed(db, owner, parsed, raw, origin, company, bcc_deal_id, wrapper_raw, derived, own, known)
    own.link_earlier_mail(db)
    return outcome


def _store_parsed(
    db: Database,
    owner: User,
    parsed: ParsedEmail,
    raw: bytes | None,
    origin: Origin,
    company: Company | None,
    bcc_deal_id: int | None,
    wrapper_raw: bytes | None,
    derived: Derived | None,
    new_contacts: NewContacts,
    known: BatchFacts | None,
) -> Outcome:
    """Facts, decision, then writes: see :mod:`pdmail.capture.decision` for the rules."""
    company = company or Company.load(db)
    derived = derived or Derived.of(parsed)
    facts = _identity_facts(db, owner, parsed, origin, derived.fingerprint, known)
    done = decision_rules.duplicate(facts)
    if done is not None:
        return Outcome(origin.label, done.status, done.existing_id, done.reason)
    facts, thread_ids = _read_facts(db, owner, parsed, origin, company, facts, bcc_deal_id, new_contacts, known)
    decided = decision_rules.decide(facts)
    if decided.status == decision_rules.SKIPPED:
        return Outcome(origin.label, decided.status, None, decided.reason)
    _write_first(db, facts, decided, new_contacts, known)
    if decided.contacts_to_create:
        if known is not None:
            known.will_create_contacts(decided.contacts_to_create)
        created, refused = _create_contacts(db, decided.contacts_to_create, parsed, decided.contact_orgs)
        for address in created:
            new_contacts.add(owner, address)
        decided = decision_rules.decide(facts.with_contacts(created, refused))
    if decided.status == decision_rules.SKIPPED:
        return Outcome(origin.label, decided.status, None, decided.reason)
    if known is not None:
        known.will_store(owner.id, derived.fingerprint, (parsed.message_id_norm, parsed.alt_message_id), thread_ids)
    email_id = _save(
        db,
        owner,
        parsed,
        raw,
        origin,
        facts,
        decided,
        thread_ids,
        derived,
        bcc_deal_id=bcc_deal_id,
        wrapper_raw=wrapper_raw,
        known=known,
    )
    return Outcome(origin.label, "stored", email_id, None, list(decided.warnings))


def _identity_facts(
    db: Database,
    owner: User,
    parsed: ParsedEmail,
    origin: Origin,
    fingerprint: str,
    known: BatchFacts | None = None,
) -> decision_rules.CaptureFacts:
    """What the store holds of this very message: read first, as a duplicate needs nothing else."""
    sent_copy = None
    duplicate_of = None
    if known is None or not known.no_email_with_fingerprint(owner.id, fingerprint):
        duplicate_of = store.find_by_fingerprint(db, owner.id, fingerprint)
    if duplicate_of is None and parsed.pdmail_token:
        # A copy of mail pdmail sent, perhaps with a Message-ID or Date the server rewrote.
        from pdmail.store import outbox as outbox_store  # only mail pdmail sent carries a token

        sent_copy = outbox_store.email_for_token(db, owner.id, parsed.pdmail_token)
    return decision_rules.CaptureFacts(
        source=origin.source,
        message_id=parsed.message_id,
        duplicate_of=duplicate_of,
        sent_copy_of=sent_copy,
        forced_visibility=origin.visibility,
    )


def _read_facts(
    db: Database,
    owner: User,
    parsed: ParsedEmail,
    origin: Origin,
    company: Company,
    facts: decision_rules.CaptureFacts,
    bcc_deal_id: int | None,
    new_contacts: NewContacts,
    known: BatchFacts | None = None,
) -> tuple[decision_rules.CaptureFacts, tuple[str, ...]]:
    """The rest of the facts: Message-ID, threads, settings, and the CRM as the linking engine reads it.

    Only reads: what the decision makes of them (threads to fold together, earlier mail to link
    first) is written afterwards, by :func:`_write_first`.
    """
    mid = parsed.message_id_norm
    taken = bool(
        mid
        and not (known is not None and known.no_email_with_message_id(owner.id, mid))
        and store.find_by_message_id(db, owner.id, mid)
    )
    email_in = link.LinkInput.from_parsed(parsed, direction_of(parsed, owner, origin))
    threads = _find_threads(db, owner, parsed, known)
    inputs = LinkingInputs(db, company)
    base = inputs.base(owner, email_in, bcc_deal_id=bcc_deal_id)
    customers = link.customer_addresses(email_in, base)
    deal_ids = (bcc_deal_id, *(t.deal_id for t in (threads.thread, *threads.joins) if t is not None))
    if known is not None and all(d is None for d in deal_ids) and known.no_contact_for(customers):
        crm = CrmSnapshot({}, {}, {}, {})  # what reading it would give: no contact, hence no deal
    else:
        crm = inputs.read_crm(customers, deal_ids=deal_ids)
    return facts._replace(
        message_id_taken=taken,
        default_visibility=visibility_of_setting(company.setting(db, "default-visibility", owner)),
        thread=threads.thread,
        joins=threads.joins,
        split_by_hand=threads.split_by_hand,
        others_new_contacts=new_contacts.made_by_others(owner, customers),
        create_contacts=company.create_contacts,
        email_in=email_in,
        base=base,
        customers=customers,
        crm=crm,
    ), threads.ids


def _write_first(
    db: Database,
    facts: decision_rules.CaptureFacts,
    decided: decision_rules.CaptureDecision,
    new_contacts: NewContacts,
    known: BatchFacts | None = None,
) -> None:
    """What the decision says must be written before the message: the threads it folds together, then
    the earlier mail of contacts other users' mail created in this batch (rules 3 and 6)."""
    if decided.join_threads:
        assert facts.thread is not None
        store.merge_threads(db, facts.thread.id, decided.join_threads)
        if known is not None:
            known.threads_merged(facts.thread.id, decided.join_threads)
    if decided.link_new_contacts_first:
        new_contacts.link_earlier_mail(db)


def _save(
    db: Database,
    owner: User,
    parsed: ParsedEmail,
    raw: bytes | None,
    origin: Origin,
    facts: decision_rules.CaptureFacts,
    decided: decision_rules.CaptureDecision,
    thread_ids: tuple[str, ...],
    derived: Derived,
    *,
    bcc_deal_id: int | None,
    wrapper_raw: bytes | None,
    known: BatchFacts | None = None,
) -> int:
    """Write what was decided: the thread, the raw bytes, the email and its links, and their follow-ups."""
    decision, visibility = decided.links, decided.visibility
    assert decision is not None and visibility is not None and facts.email_in is not None
    stamp = now_utc()
    date, date_source = _date_of(parsed, origin)
    if facts.thread is None:  # made with this email's date: no update of it to follow
        thread_id = store.create_thread(
            db, owner.id, threading_rules.normalize_subject(parsed.subject), visibility, stamp, last_date=date
        )
        thread_deal, thread_deal_by_hand = None, False  # a thread made now has no deal yet
    elif decided.join_threads or decided.link_new_contacts_first:
        thread_id = facts.thread.id
        thread = store.get_thread(db, thread_id)  # as the writes that came first left it
        thread_deal, thread_deal_by_hand = thread.deal_id, thread.is_deal_manual
    else:  # nothing was written since the thread was read: as read (one query less per message)
        thread_id = facts.thread.id
        thread_deal, thread_deal_by_hand = facts.thread.deal_id, facts.thread.is_deal_manual
    store.register_message_ids(db, owner.id, thread_ids, thread_id)
    if known is not None:
        known.tied_to_thread(owner.id, thread_ids, thread_id)

    raw_sha = parsed.raw_sha256
    if raw is not None:
        store.put_raw(db, raw_sha, raw)
    wrapper_sha = None
    if wrapper_raw is not None:
        wrapper_sha = identity.sha256_hex(wrapper_raw)
        store.put_raw(db, wrapper_sha, wrapper_raw)
        if raw is None:
            raw_sha = wrapper_sha

    direction = facts.email_in.direction
    state = relink.LinkState.of(decision)
    new = store.NewEmail(
        owner_id=owner.id,
        thread_id=thread_id,
        message_id=parsed.message_id,
        message_id_norm=parsed.message_id_norm,
        alt_message_id=parsed.alt_message_id,
        fingerprint=derived.fingerprint,
        raw_sha256=raw_sha,
        wrapper_sha256=wrapper_sha,
        direction=direction,
        source=origin.source,
        from_=parsed.from_[0] if parsed.from_ else None,
        to=parsed.to,
        cc=parsed.cc,
        reply_to=parsed.reply_to,
        subject=parsed.subject,
        date_utc=date,
        date_source=date_source,
        snippet=derived.snippet,
        body_text=parsed.text,
        attachments=tuple(a.to_json() for a in parsed.attachments if not a.is_inline),
        folder=origin.folder or ("sent" if direction == "outgoing" else "inbox"),
        is_read=origin.is_read or direction == "outgoing",
        visibility=visibility,
        deal_id=state.deal_id,
        deal_rule=state.deal_rule,
        needs_deal=state.needs_deal,
        is_automated=state.is_automated,
        link_verdict=state.verdict,
        link_trace_json=state.trace_json,
        link_input=facts.email_in.to_json(),
        bcc_deal_id=bcc_deal_id,
        contacts=state.contacts,
        orgs=state.orgs,
        parse_status=parsed.parse_status,
        captured_utc=stamp,
        is_deal_manual=state.is_deal_manual,
        search_document=derived.search_document,
    )
    email_id = store.insert_email(db, new)
    joined = thread_id if facts.thread is not None else None
    relink.hold_new_mail(db, owner, email_id, joined, state)  # a colleague's change, not yet applied here
    if parsed.pdmail_token and origin.source != "sent":
        from pdmail.store import outbox as outbox_store

        outbox_store.confirm_by_copy(db, owner.id, parsed.pdmail_token, email_id, stamp)
    if facts.thread is not None:
        store.touch_thread(db, thread_id, date)
    if state.deal_id is not None and thread_deal != state.deal_id and not thread_deal_by_hand:
        store.set_thread_deal(db, thread_id, state.deal_id, state.deal_rule, manual=False)
    if facts.thread is not None:  # a thread made for this message holds no proposal for it to follow
        relink.after_capture(db, thread_id, email_id)
    return email_id


def _display_names(parsed: ParsedEmail) -> dict[str, str]:
    """The first name each address is given in From, To and Cc; read once, not once per new contact:
    a message may name tens of thousands of recipients."""
    names: dict[str, str] = {}
    for a in (*parsed.from_, *parsed.to, *parsed.cc):
        if a.name:
            names.setdefault(a.email, a.name)
    return names


def _create_contacts(
    db: Database, addresses, parsed: ParsedEmail, orgs: Mapping[str, int]
) -> tuple[dict[str, Contact], dict[str, str]]:
    """A contact for each of ``addresses``, as decided (inside the organization ``orgs`` gives for its
    address, if any); and the addresses the store refused, with why.

    Refusals come before anything is written, so the mail goes on whole without such a contact. The
    earlier mail a new contact links is linked on the owner's behalf (another user's mail only by a
    proposal, rule 4 of the sharing law), once for the batch: see :class:`NewContacts`.
    """
    from pdmail.store import crm as crm_store

    names = _display_names(parsed)
    created: dict[str, Contact] = {}
    refused: dict[str, str] = {}
    for address in addresses:
        try:
            record = crm_store.add_contact(db, names.get(address) or address, [address], org_id=orgs.get(address))
        except PdmailError as exc:
            refused[address] = exc.message
            continue
        created[address] = record.as_contact()
    return created, refused


class _Threads(Record):
    """What the store knows of the conversation a message belongs to (see :func:`_find_threads`)."""

    ids: tuple[str, ...]  # the message's own Message-ID and those it replies to, nearest first
    thread: decision_rules.ThreadFacts | None = None
    joins: tuple[decision_rules.ThreadFacts, ...] = ()
    split_by_hand: bool = False


def _find_threads(db: Database, owner: User, parsed: ParsedEmail, known: BatchFacts | None = None) -> _Threads:
    """The thread a message joins, and the other threads its Message-IDs name (read, not yet folded).

    Among several threads, it joins the oldest; if the user took any of them apart by hand, it
    follows the nearest message it names instead: itself (a parent that arrived late), then
    In-Reply-To, then References from the newest back. Without any, the subject may find a thread.
    """
    ids = threading_rules.thread_ids(parsed.message_id_norm, parsed.in_reply_to, parsed.references)
    found = known.threads_for(owner.id, ids) if known is not None else None
    if found is None:
        found = store.threads_for_message_ids(db, owner.id, ids)
    if len(found) > 1 and store.threads_split_by_hand(db, found):
        by_id = store.thread_by_message_id(db, owner.id, ids)
        nearest = next(by_id[i] for i in ids if i in by_id)
        others = tuple(_thread_facts(db, t) for t in found if t != nearest)
        return _Threads(ids, _thread_facts(db, nearest), others, split_by_hand=True)
    if found:
        return _Threads(ids, _thread_facts(db, found[0]), tuple(_thread_facts(db, t) for t in found[1:]))
    has_refs = bool(parsed.in_reply_to or parsed.references)
    if threading_rules.subject_fallback_allowed(has_refs, parsed.subject):
        date = parsed.date_utc or datetime.now(UTC)
        since = iso_utc(date - timedelta(days=SUBJECT_FALLBACK_DAYS))
        participants = frozenset(a.email for a in (*parsed.from_, *parsed.to, *parsed.cc))
        subject = threading_rules.normalize_subject(parsed.subject)
        candidates = store.subject_candidates(db, owner.id, subject, since, participants)
        picked = threading_rules.pick_fallback_thread(candidates, participants, owner.addresses, date)
        if picked is not None:
            return _Threads(ids, _thread_facts(db, picked))
    return _Threads(ids)


def _thread_facts(db: Database, thread_id: int) -> decision_rules.ThreadFacts:
    thread = store.get_thread(db, thread_id)
    return decision_rules.ThreadFacts(thread.id, thread.visibility, thread.deal_id, thread.is_deal_manual)


def _date_of(parsed: ParsedEmail, origin: Origin) -> tuple[str, str]:
    if parsed.date_utc is not None:
        return iso_utc(parsed.date_utc), parsed.date_source
    if origin.server_date is not None:
        return iso_utc(origin.server_date), "server"
    return now_utc(), "capture"


def sender_of(parsed: ParsedEmail) -> Address | None:
    return parsed.from_[0] if parsed.from_ else None
