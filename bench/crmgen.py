"""CRM records at scale, as a CRM's CSV export writes them.

The first contacts are exactly the correspondents of ``mailgen`` for the same
seed, so imported contacts and deals link to generated mail; the rest are
synthetic people at synthetic organizations, for volume.

    python bench/crmgen.py --contacts 100000 --deals 100000 --seed 1 --dir bench/out
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

try:
    import mailgen
except ImportError:  # imported by path rather than run from bench/
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import mailgen

CONTACT_HEADER = ["Name", "Email", "Organization", "Title", "Phone"]
DEAL_HEADER = ["Title", "Value", "Currency", "Status", "Person", "Organization"]


class Contact(NamedTuple):
    name: str
    emails: tuple[str, ...]
    org_name: str
    org_domain: str
    title: str
    phone: str
    culture: str  # a key of mailgen.CULTURES; decides phone prefix and deal currency


class Deal(NamedTuple):
    title: str
    value: str
    currency: str
    status: str
    person: str  # the contact's first email
    org_name: str


_TITLES = (
    "Head of Operations",
    "Procurement Manager",
    "Plant Manager",
    "Automation Engineer",
    "Buyer",
    "Logistics Director",
    "CTO",
    "Maintenance Lead",
    "Supply Chain Analyst",
    "COO",
    "Warehouse Manager",
    "Project Manager",
    "Einkaufsleiterin",
    "Jefe de Planta",
    "Directeur Technique",
    "Operations Coordinator",
    "",
)
_MIDDLES = (
    "field",
    "stone",
    "ridge",
    "port",
    "ford",
    "wood",
    "bay",
    "gate",
    "view",
    "worth",
    "brook",
    "dale",
    "mont",
    "haven",
    "crest",
    "moor",
    "wick",
    "ton",
    "land",
    "mere",
    "holm",
    "by",
    "stead",
    "well",
    "more",
    "side",
    "hurst",
    "cliff",
    "vale",
    "shaw",
)
_DIAL = {
    "de": "+49",
    "es": "+34",
    "fr": "+33",
    "us": "+1",
    "usw": "+1",
    "gb": "+44",
    "zh": "+86",
    "ja": "+81",
    "in": "+91",
    "ae": "+971",
    "pl": "+48",
    "se": "+46",
    "br": "+55",
    "ng": "+234",
    "tr": "+90",
    "vn": "+84",
}
_CURRENCY = {
    "de": "EUR",
    "es": "EUR",
    "fr": "EUR",
    "gb": "GBP",
    "us": "USD",
    "usw": "USD",
    "ja": "JPY",
    "se": "SEK",
    "pl": "PLN",
    "br": "BRL",
}


def _phone(rng: random.Random, culture: str) -> str:
    if rng.random() < 0.15:
        return ""  # exports are full of blanks
    dial = _DIAL[culture]
    if dial == "+1":  # 555-0100..0199 is reserved for fiction
        return f"+1 ({rng.randint(201, 989)}) 555-01{rng.randint(0, 99):02d}"
    return f"{dial} {rng.randint(10, 99)} {rng.randint(100000, 9999999)}"


def _second_email(email: str) -> str:
    """The same mailbox at the organization's other domain (.example <-> .test)."""
    local, _, domain = email.partition("@")
    stem, _, tld = domain.rpartition(".")
    return f"{local}@{stem}.{'test' if tld == 'example' else 'example'}"


def contacts(n: int, seed: int = 1) -> Iterator[Contact]:
    """The first ``n`` contacts for ``seed``; a prefix of a longer run is the same rows."""
    rng = random.Random(f"crm-contacts-{seed}")
    world = mailgen._world(seed)
    people = mailgen.correspondents(seed)
    emails = {p.email for p in people}
    for p in people[:n]:
        culture = world.orgs[p.org_domain].culture
        mails = (p.email, _second_email(p.email)) if rng.random() < 0.1 else (p.email,)
        yield Contact(p.name, mails, p.org_name, p.org_domain, rng.choice(_TITLES), _phone(rng, culture), culture)
    cultures = list(mailgen.CULTURES)
    used = {d.rpartition(".")[0] for d in world.orgs}
    orgs: list[tuple[str, str, str]] = []
    for _ in range(len(people), n):
        if not orgs or rng.random() < 0.125:  # about eight people per organization
            culture = rng.choice(cultures)
            while True:
                head, mid, tail = rng.choice(mailgen._ORG_HEADS), rng.choice(_MIDDLES), rng.choice(mailgen._ORG_TAILS)
                slug = f"{head}{mid}{tail.split()[0]}".lower()
                if slug not in used:
                    break
                if len(used) > 20_000:  # the word lists run short past ~200,000 contacts
                    slug = f"{slug}{len(used)}"
                    break
            used.add(slug)
            name = f"{head}{mid} {tail}{mailgen._ORG_SUFFIX.get(culture, '')}"
            orgs.append((name, f"{slug}.{'test' if rng.random() < 0.3 else 'example'}", culture))
            org = orgs[-1]
        else:
            org = orgs[-1] if rng.random() < 0.5 else rng.choice(orgs)
        name_, domain, culture = org
        person_culture = culture if rng.random() < 0.75 else rng.choice(cultures)
        display, _, g, f = mailgen._person_name(rng, person_culture)
        local = mailgen._local_part(rng, g, f)
        email, k = f"{local}@{domain}", 2
        while email in emails:
            email, k = f"{local}{k}@{domain}", k + 1
        emails.add(email)
        mails = (email, _second_email(email)) if rng.random() < 0.1 else (email,)
        yield Contact(display, mails, name_, domain, rng.choice(_TITLES), _phone(rng, culture), culture)


_DEAL_KINDS = (
    ("pilot", 8_000, 40_000),
    ("rollout", 60_000, 900_000),
    ("expansion", 30_000, 300_000),
    ("service contract", 5_000, 60_000),
    ("renewal", 3_000, 40_000),
    ("spare parts", 800, 12_000),
    ("training", 1_500, 9_000),
)
_PRODUCTS = ("ARM-400", "ARM-700", "AMR-9", "VisionKit 3", "GripPro", "Fleet Manager", "PalletMate", "SafeZone")


def deals(n: int, seed: int = 1, *, n_contacts: int | None = None) -> Iterator[Deal]:
    """Deals on the first ``n_contacts`` contacts (default: the mail correspondents).

    Early contacts get more deals, so some people have several open deals at
    once: the case where linking must ask instead of guess.
    """
    people = list(contacts(n_contacts if n_contacts is not None else len(mailgen.correspondents(seed)), seed))
    if not people:
        raise ValueError("deals need at least one contact")
    rng = random.Random(f"crm-deals-{seed}")
    for _ in range(n):
        c = people[int(len(people) * rng.random() ** 2)]
        kind, low, high = rng.choice(_DEAL_KINDS)
        currency = _CURRENCY.get(c.culture) or ("USD" if rng.random() < 0.7 else "EUR")
        amount = rng.randint(low, high) // 50 * 50
        if currency == "JPY":
            value = str(amount * 150)
        elif rng.random() < 0.2:
            value = f"{amount + rng.choice((0.5, 0.99, 0.25)):.2f}"
        else:
            value = str(amount)
        x = rng.random()
        status = "open" if x < 0.7 else "won" if x < 0.88 else "lost"
        org_short = c.org_name.split(" ")[0]
        yield Deal(f"{rng.choice(_PRODUCTS)} {kind} – {org_short}", value, currency, status, c.emails[0], c.org_name)


def _open(path: str | os.PathLike, bom: bool):
    return open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8")


def write_contacts_csv(path: str | os.PathLike, n_contacts: int, seed: int = 1, *, bom: bool = False) -> int:
    """Rows as a CRM exports them: a contact's several emails share one quoted, comma-separated field."""
    with _open(path, bom) as f:
        w = csv.writer(f)
        w.writerow(CONTACT_HEADER)
        count = 0
        for c in contacts(n_contacts, seed):
            w.writerow((c.name, ", ".join(c.emails), c.org_name, c.title, c.phone))
            count += 1
    return count


def write_deals_csv(
    path: str | os.PathLike, n_deals: int, seed: int = 1, *, n_contacts: int | None = None, bom: bool = False
) -> int:
    with _open(path, bom) as f:
        w = csv.writer(f)
        w.writerow(DEAL_HEADER)
        count = 0
        for d in deals(n_deals, seed, n_contacts=n_contacts):
            w.writerow(d)
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write contacts.csv and deals.csv that match mailgen's mail.")
    ap.add_argument("--contacts", type=int, default=200)
    ap.add_argument("--deals", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default=".", help="where contacts.csv and deals.csv go")
    ap.add_argument("--bom", action="store_true", help="start each file with a UTF-8 byte order mark")
    args = ap.parse_args(argv)
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    nc = write_contacts_csv(out / "contacts.csv", args.contacts, args.seed, bom=args.bom)
    nd = write_deals_csv(out / "deals.csv", args.deals, args.seed, n_contacts=args.contacts, bom=args.bom)
    print(f"wrote {nc} contacts and {nd} deals to {out} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
