"""Deterministic, realistic mailbox generator for benchmarks and test fixtures.

Everything derives from one seed, so the same arguments give byte-identical
output. Messages are written as MIME text directly (no ``email`` package) so
that 10,000 of them take seconds, not minutes. Standard library only, and
nothing from ``pdmail``: the generator must not share the parser's mistakes.

    python bench/mailgen.py --count 10000 --seed 1 --maildir bench/out/maildir
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import email.utils
import functools
import html
import itertools
import os
import random
import re
import sys
import textwrap
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

BASE_TS = 1793491200  # 2026-11-01T00:00:00Z: a fixed "now" keeps output stable
SPAN = 120 * 86400
OWN_DOMAIN = "northwind.example"
COMPANY = "Northwind Robotics"

# Our side. The first entries are the users the benchmarks log in as.
COLLEAGUES: list[tuple[str, str]] = [
    ("Maria Keller", "maria@northwind.example"),
    ("Sam Okafor", "sam@northwind.example"),
    ("Priya Raman", "priya@northwind.example"),
    ("Jonas Weiß", "jonas@northwind.example"),
    ("Chen Wei", "wei.chen@northwind.example"),
    ("Lucía Ferrer", "lucia@northwind.example"),
]

DEFECTS = (
    "no-message-id",
    "bad-date",
    "latin1-as-utf8",
    "unknown-charset",
    "re-without-in-reply-to",
)

# (share of messages, shape). Attachment and large shapes are multipart/mixed.
SHAPES = (
    (0.400, "plain"),
    (0.450, "alternative"),
    (0.045, "related"),
    (0.100, "attachment"),
    (0.005, "large"),
)
_SHAPE_NAMES = [s for _, s in SHAPES]
_SHAPE_CUM = list(itertools.accumulate(w for w, _ in SHAPES))


class Person(NamedTuple):
    name: str
    email: str
    org_name: str
    org_domain: str


@dataclass(frozen=True, slots=True)
class Generated:
    """One generated message and what the generator meant by it.

    Tests compare what a parser finds with this, so it records intent, not a
    re-parse of ``raw``.
    """

    raw: bytes
    index: int
    message_id: str | None  # without angle brackets; None when left out
    in_reply_to: str | None  # None also for a reply whose header was dropped
    thread: int
    direction: str  # "incoming" | "outgoing"
    kind: str  # "conversation" | "internal" | "newsletter" | "notification"
    shape: str
    defect: str | None


# --------------------------------------------------------------------------
# People and organizations

# culture: (given names, family names, family name first, tz offset minutes,
# locale). Each name is (display, ascii form used in the address).
_N = tuple[str, str]
CULTURES: dict[str, tuple[list[_N], list[_N], bool, int, str]] = {}


def _names(s: str) -> list[_N]:
    out = []
    for item in s.split():
        disp, _, asc = item.partition("/")
        out.append((disp, asc or disp.lower()))
    return out


for _key, _given, _family, _ff, _tz, _loc in [
    (
        "de",
        "Zoë/zoe Jonas Lena Lukas Jürgen/juergen Anja Tobias Sören/soeren Katrin Mia",
        "Müller/mueller Schäfer/schaefer Becker Wagner Hoffmann Krüger/krueger Neumann Fischer Braun Vogel",
        False,
        60,
        "de",
    ),
    (
        "es",
        "José/jose María/maria Lucía/lucia Javier Carmen Álvaro/alvaro Sofía/sofia Diego Pilar Andrés/andres",
        "Álvarez/alvarez García/garcia Martínez/martinez López/lopez Sánchez/sanchez Romero Navarro Ortega Gil Muñoz/munoz",
        False,
        60,
        "es",
    ),
    (
        "fr",
        "Élodie/elodie Julien Camille François/francois Chloé/chloe Mathieu Inès/ines Léa/lea Hugo Océane/oceane",
        "Dubois Lefèvre/lefevre Moreau Girard Rousseau Bérard/berard Fontaine Chevalier Mercier Lambert",
        False,
        60,
        "fr",
    ),
    (
        "us",
        "Emily Michael Sarah David Jessica Ryan Ashley Brandon Megan Tyler",
        "Johnson Carter Brooks Reed Foster Hayes Price Bennett Sullivan Coleman",
        False,
        -300,
        "en",
    ),
    (
        "usw",
        "Kayla Jordan Madison Kevin Brianna Marcus Alyssa Derek",
        "Ramirez Thompson Kim Parker Mitchell Turner Hughes Ortiz",
        False,
        -480,
        "en",
    ),
    (
        "gb",
        "Oliver Charlotte Harry Amelia George Imogen Alfie Poppy Rhys Siobhan",
        "O'Brien/obrien Clarke Walsh Fletcher Barnes Lloyd Hartley Pemberton Ashworth Doyle",
        False,
        0,
        "en",
    ),
    (
        "zh",
        "娜/na 伟/wei 芳/fang 静/jing 磊/lei 洋/yang 敏/min 杰/jie 婷/ting 强/qiang",
        "李/li 王/wang 张/zhang 刘/liu 陈/chen 杨/yang 黄/huang 赵/zhao 周/zhou 吴/wu",
        True,
        480,
        "zh",
    ),
    (
        "ja",
        "健/ken 花子/hanako 翔/sho 美咲/misaki 大輔/daisuke 由美/yumi 拓也/takuya 彩/aya",
        "佐藤/sato 鈴木/suzuki 高橋/takahashi 田中/tanaka 渡辺/watanabe 伊藤/ito 山本/yamamoto 中村/nakamura",
        True,
        540,
        "ja",
    ),
    (
        "in",
        "Priya Arjun Ananya Rohan Kavya Vikram Neha Aditya Sneha Rahul",
        "Sharma Iyer Reddy Nair Gupta Menon Rao Desai Kulkarni Bose",
        False,
        330,
        "en",
    ),
    (
        "ae",
        "Omar Layla Yusuf Noor Karim Huda Tariq Rania Samir Amira",
        "Haddad Al-Masri/almasri Khoury Nasser Farouk Saleh Mansour Aziz",
        False,
        240,
        "en",
    ),
    (
        "pl",
        "Łukasz/lukasz Małgorzata/malgorzata Piotr Agnieszka Paweł/pawel Zofia Krzysztof Ewa",
        "Nowak Kowalski Wiśniewska/wisniewska Wójcik/wojcik Kamiński/kaminski Zieliński/zielinski "
        "Lewandowska Dąbrowski/dabrowski",
        False,
        60,
        "en",
    ),
    (
        "se",
        "Björn/bjorn Åsa/asa Linnea Erik Maja Oskar Ingrid Nils",
        "Lindqvist Söderberg/soderberg Ekström/ekstrom Holm Nyström/nystrom Berg Sjöberg/sjoberg Dahl",
        False,
        60,
        "en",
    ),
    (
        "br",
        "João/joao Ana Thiago Beatriz Rafael Larissa Gustavo Camila",
        "Silva Santos Oliveira Souza Conceição/conceicao Araújo/araujo Ribeiro Carvalho",
        False,
        -180,
        "en",
    ),
    (
        "ng",
        "Chinedu Ngozi Emeka Adaeze Tunde Folake Ifeanyi Yetunde",
        "Okafor Adeyemi Eze Balogun Okonkwo Nwosu Adebayo Ogunleye",
        False,
        60,
        "en",
    ),
    (
        "tr",
        "Emre Elif Burak Zeynep Mert Ayşe/ayse Can Gökhan/gokhan",
        "Yılmaz/yilmaz Kaya Demir Şahin/sahin Çelik/celik Öztürk/ozturk Aydın/aydin Arslan",
        False,
        180,
        "en",
    ),
    (
        "vn",
        "Anh Minh Thảo/thao Dũng/dung Hương/huong Quang",
        "Nguyễn/nguyen Trần/tran Lê/le Phạm/pham Võ/vo Đặng/dang",
        True,
        420,
        "en",
    ),
]:
    CULTURES[_key] = (_names(_given), _names(_family), _ff, _tz, _loc)

_ORG_HEADS = (
    "Harbor Alder Bluefjord Cedarline Driftwood Ember Fairhaven Granite Highmoor Ironbark Juniper Kestrel "
    "Lakeside Meridian Northgate Oakridge Pinecrest Quarry Redwater Saltmarsh Silverleaf Stonebridge "
    "Thornbury Upland Valemont Westbrook Yellowpine Zephyr Aurora Brightwell Copperfield Dunmore Elmstead "
    "Foxglove Greystone Hollowell Ivybridge Kingsmere Larkspur Millbrook"
).split()
_ORG_TAILS = (
    "Logistics|Foods|Manufacturing|Pharma|Automotive|Packaging|Electronics|Beverages|Textiles|Components|"
    "Distribution|Cold Chain|Plastics|Medical|Paper|Metals|Retail|Agritech|Furniture|Ceramics"
).split("|")
_ORG_SUFFIX = {
    "de": " GmbH",
    "es": " S.L.",
    "fr": " SAS",
    "gb": " Ltd",
    "us": " Inc.",
    "usw": " LLC",
    "se": " AB",
    "pl": " Sp. z o.o.",
    "br": " Ltda.",
    "ja": " K.K.",
    "zh": " Co., Ltd.",
    "tr": " A.Ş.",
    "in": " Pvt. Ltd.",
    "ae": " FZE",
    "ng": " Ltd",
    "vn": " JSC",
}


@dataclass(frozen=True, slots=True)
class _Org:
    name: str
    domain: str
    culture: str
    client: str  # which mail program its people use; decides header style


CLIENTS = ("outlook", "gmail", "apple", "thunderbird")


def _org_name(rng: random.Random, culture: str, used: set[str]) -> tuple[str, str]:
    """A fictional organization name and a domain under .example or .test."""
    while True:
        head, tail = rng.choice(_ORG_HEADS), rng.choice(_ORG_TAILS)
        name = f"{head} {tail}{_ORG_SUFFIX.get(culture, '')}"
        slug = (head + tail.split()[0]).lower()
        n = 2
        base = slug
        while slug in used:
            slug = f"{base}{n}"
            n += 1
        used.add(slug)
        return name, f"{slug}.{rng.choice(('example', 'example', 'test'))}"


def _person_name(rng: random.Random, culture: str) -> tuple[str, str, str, str]:
    """(display name, given name, ascii given, ascii family)."""
    given, family, family_first, _, _ = CULTURES[culture]
    g, f = rng.choice(given), rng.choice(family)
    display = f"{f[0]} {g[0]}" if family_first else f"{g[0]} {f[0]}"
    return display, g[0], g[1], f[1]


def _local_part(rng: random.Random, g: str, f: str) -> str:
    style = rng.random()
    if style < 0.6:
        return f"{g}.{f}"
    if style < 0.8:
        return f"{g[0]}{f}"
    if style < 0.9:
        return g
    return f"{f}.{g[0]}"


@dataclass(frozen=True, slots=True)
class _World:
    people: tuple[Person, ...]
    orgs: dict[str, _Org]  # by domain
    cum_weights: tuple[float, ...]  # some correspondents write far more than others


@functools.lru_cache(maxsize=8)
def _world(seed: int) -> _World:
    rng = random.Random(f"people-{seed}")
    cultures = list(CULTURES)
    used: set[str] = set()
    orgs: list[_Org] = []
    for i in range(40):
        culture = cultures[i % len(cultures)] if i < len(cultures) else rng.choice(cultures)
        name, domain = _org_name(rng, culture, used)
        orgs.append(_Org(name, domain, culture, rng.choice(CLIENTS)))
    people: list[Person] = []
    emails: set[str] = set()
    # A few fixed names, so that tests can rely on non-ASCII names being present for any seed.
    pinned = {0: ("Zoë Müller", "zoe.mueller"), 5: ("José Álvarez", "jose.alvarez"), 30: ("李 娜", "na.li")}
    for org in orgs:
        for _ in range(5):
            # Most people share their company's culture; some do not.
            culture = org.culture if rng.random() < 0.75 else rng.choice(cultures)
            display, _, g, f = _person_name(rng, culture)
            local = _local_part(rng, g, f)
            if len(people) in pinned:
                display, local = pinned[len(people)]
            addr = f"{local}@{org.domain}"
            n = 2
            while addr in emails:
                addr = f"{local}{n}@{org.domain}"
                n += 1
            emails.add(addr)
            people.append(Person(display, addr, org.name, org.domain))
    order = list(range(len(people)))
    rng.shuffle(order)
    weights = [0.0] * len(people)
    for rank, idx in enumerate(order, 1):
        weights[idx] = 1.0 / rank**0.7
    acc, cum = 0.0, []
    for w in weights:
        acc += w
        cum.append(acc)
    return _World(tuple(people), {o.domain: o for o in orgs}, tuple(cum))


def correspondents(seed: int = 1) -> list[Person]:
    """The customer people that ``generate_messages(seed=seed)`` writes with.

    Each item is a (name, email, org_name, org_domain) tuple, so a benchmark
    can create the matching contacts and organizations first.
    """
    return list(_world(seed).people)


# --------------------------------------------------------------------------
# Text

_PRODUCTS = (
    "ARM-400 cobot",
    "ARM-700 cobot",
    "AMR-9 mobile platform",
    "VisionKit 3 camera module",
    "GripPro end effector",
    "Fleet Manager licence",
    "PalletMate cell",
    "SafeZone scanner kit",
)
_SITES = (
    "Rotterdam",
    "Lyon",
    "Leipzig",
    "Monterrey",
    "Pune",
    "Ōsaka",
    "Gdańsk",
    "Dallas",
    "Manchester",
    "Curitiba",
    "Izmir",
    "Shenzhen",
    "Göteborg",
    "Zaragoza",
)
_DAYS = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "the 14th",
    "the 3rd",
    "next week",
    "the end of the month",
)
_INDUSTRIES = (
    "food and beverage",
    "e-commerce fulfilment",
    "automotive parts",
    "pharma packaging",
    "cold storage",
    "electronics assembly",
)

_EN = [
    "Thanks for the call earlier today, it was good to walk through the layout of the {site} line together.",
    "I have attached the revised quote for {qty} units of the {product}, valid until {day}.",
    "Our operations team would like to see the {product} running on a pallet of mixed cartons before we commit.",
    "Could you confirm whether the price includes installation and the first year of service?",
    "The pilot at our {site} site has been running for three weeks now without a single unplanned stop.",
    "From our side the main open question is the integration with the existing conveyor controllers.",
    "From what I heard in the review meeting, procurement wants a second quote before the budget freeze.",
    "We can ship the demo unit on {day} if someone on your side can receive it at the loading dock.",
    "Legal has a few comments on the liability clause in section 7; I will send a marked-up copy.",
    "Please let me know which of the proposed slots works best for the site visit.",
    "Our finance team asked whether a three-year lease is possible instead of an outright purchase.",
    "The safety assessment came back clean, so we are clear to run the cell next to the packing area.",
    "I spoke with {colleague} about the timeline and we can bring delivery forward by two weeks.",
    "We are comparing two vendors at the moment and the decision will be made on {day}.",
    "Attached you will find the floor plan with the charging stations marked in blue.",
    "One of the grippers showed wear after about 40,000 cycles, which is earlier than the datasheet says.",
    "Can we add {qty} more seats of the Fleet Manager licence to the existing order?",
    "The updated firmware fixed the navigation issue near the cold store doors.",
    "Happy to set up a short video call with our engineer if that helps your team decide.",
    "The purchase order number is PO-{num}; please reference it on the invoice.",
    "Our warehouse runs three shifts, so any maintenance window has to fit between 02:00 and 04:00.",
    "I wanted to follow up on the proposal we sent on {day}.",
    "Do you have a reference customer in {industry} we could talk to?",
    "We would need the documentation in German as well, for the works council.",
    "The robot picked {qty}00 parts per hour in the trial, which is about what we hoped for.",
    "Is the {product} certified for use next to people without a fence, or do we need extra guarding?",
    "Training for the maintenance crew would take two days on site, ideally before go-live.",
    "Our IT department needs the network requirements: ports, bandwidth and whether it needs internet access.",
    "We had a power cut on {day} and the fleet recovered on its own, which impressed the plant manager.",
    "Shipping to {site} takes about ten working days from our warehouse, customs included.",
    "I am out of the office until {day}; {colleague} can help with anything urgent in the meantime.",
    "The spare parts list looks fine, but we would like two extra battery packs on the first order.",
    "Would it be possible to extend the trial by another two weeks to cover the peak season?",
    "The board approved the budget yesterday, so we can move ahead with the order this quarter.",
    "We noticed the charging dock firmware is two versions behind; can you schedule an update?",
    "Let us aim to sign by {day} so that installation can start before the holidays.",
    "Please find the signed order confirmation attached; the delivery address is our {site} plant.",
    "Thanks again for the quick turnaround on the quote, it made the internal review much easier.",
    "The cell needs a floor area of about six by four metres, including the safety zone.",
    "I have copied {colleague}, who leads the integration work on our side.",
    "We would like to understand the total cost over five years, including service and software.",
    "Our current supplier quoted a lead time of sixteen weeks, so timing matters a lot here.",
    "Good news: the customer acceptance test passed on the first run.",
    "Could you send the datasheet for the {product} and the CE declaration?",
    "There is a small discrepancy between the quote and the order: {qty} units versus {qty}0.",
    "Kind regards to the team in {site}, we enjoyed the visit.",
]
_LOCAL = {
    "de": [
        "Vielen Dank für das Angebot, wir prüfen es diese Woche intern.",
        "Die Lieferung nach {site} ist für {day} bestätigt.",
        "Könnten Sie uns bitte die Unterlagen auch auf Deutsch schicken?",
        "Unser Betriebsrat möchte vor der Inbetriebnahme eine kurze Schulung.",
        "Wir müssen die Bestellung leider um zwei Wochen verschieben.",
        "Die Größe der Zelle passt genau in die Halle neben der Verpackung.",
    ],
    "es": [
        "Muchas gracias por la propuesta, la revisaremos con el equipo de compras.",
        "¿Podríais confirmar la fecha de entrega en {site}?",
        "El piloto ha ido muy bien y el jefe de planta está contento.",
        "Necesitamos la factura con el número de pedido PO-{num}.",
        "Os envío el plano de la nave con las zonas de carga señaladas.",
    ],
    "fr": [
        "Merci pour votre retour rapide, nous étudions la proposition cette semaine.",
        "La réunion de lancement est prévue pour {day} à notre site de {site}.",
        "Pourriez-vous nous envoyer la déclaration CE et la fiche technique ?",
        "Le pilote a donné d'excellents résultats, l'équipe est ravie.",
        "Nous aurons besoin d'une formation pour l'équipe de maintenance.",
    ],
    "zh": [
        "感谢您的报价，我们会在本周内部讨论。",
        "请确认{site}工厂的交货日期。",
        "试运行非常顺利，工厂经理很满意。",
        "我们需要中文版的操作手册和安全说明。",
    ],
    "ja": [
        "お見積りありがとうございます。社内で検討いたします。",
        "{site}工場への納期をご確認いただけますでしょうか。",
        "試験運用は順調で、現場からも好評です。",
        "保守担当者向けのトレーニングをお願いできますか。",
    ],
}
_GREET = {
    "en": ("Hi {first},", "Hello {first},", "Dear {first},", "{first},", "Hi {first}, hope you are well."),
    "de": ("Hallo {first},", "Guten Tag {first},", "Hallo {first}, vielen Dank für die Nachricht."),
    "es": ("Hola {first},", "Buenos días {first},"),
    "fr": ("Bonjour {first},", "Bonjour {first}, merci pour votre message."),
    "zh": ("{first}您好，",),
    "ja": ("{first}様", "{first}さん、いつもお世話になっております。"),
}
_CLOSE = {
    "en": ("Best regards,", "Kind regards,", "Thanks,", "Cheers,", "Best,", "Many thanks,"),
    "de": ("Viele Grüße", "Beste Grüße", "Mit freundlichen Grüßen"),
    "es": ("Saludos,", "Un saludo,", "Atentamente,"),
    "fr": ("Cordialement,", "Bien à vous,", "Merci d'avance,"),
    "zh": ("谢谢！", "此致"),
    "ja": ("よろしくお願いいたします。",),
}
_SUBJECTS = [
    "Quote for {product}",
    "{product} pilot at {site}",
    "Follow-up: site visit {site}",
    "PO-{num} order confirmation",
    "Pricing question – {product}",
    "Trial results {site}",
    "Meeting next week?",
    "Lease option for {qty} units",
    "Safety documentation {product}",
    "Delivery schedule {site} plant",
    "Invoice INV-{num}",
    "Integration with conveyor controllers",
    "Spare parts for {product}",
    "Re-quote: {qty} x {product}",
    "Training dates for the maintenance team",
    "Contract draft v{qty}",
    "Introduction: Northwind Robotics × {org}",
    "Angebot für {product}",
    "Cotización {product} – {site}",
    "Proposition commerciale {product}",
    "报价：{product}",
    "お見積りのご依頼（{product}）",
    "Änderung der Lieferadresse",
]
_TITLES = (
    "Account Executive",
    "Sales Engineer",
    "Head of Sales",
    "Customer Success Manager",
    "Solutions Architect",
    "Key Account Manager",
)


def _fill(rng: random.Random, s: str, org: str = "Harbor Foods") -> str:
    return s.format(
        product=rng.choice(_PRODUCTS),
        site=rng.choice(_SITES),
        day=rng.choice(_DAYS),
        qty=rng.randint(2, 40),
        num=rng.randint(10000, 99999),
        industry=rng.choice(_INDUSTRIES),
        colleague=rng.choice(("Sam", "Priya", "Jonas", "Lucía", "Anna", "Tom")),
        org=org,
    )


class _Para(NamedTuple):
    text: str  # wrapped at 72 columns, LF line ends
    html: str


@functools.lru_cache(maxsize=8)
def _paragraphs(seed: int) -> dict[str, tuple[_Para, ...]]:
    """A pool of paragraphs per language, drawn once per seed and reused."""
    rng = random.Random(f"text-{seed}")
    pools: dict[str, tuple[_Para, ...]] = {}
    for lang, sentences, count in [("en", _EN, 400)] + [(k, v, 40) for k, v in _LOCAL.items()]:
        paras = []
        for _ in range(count):
            k = rng.choice((1, 2, 2, 3, 3, 4))
            raw = " ".join(_fill(rng, x) for x in rng.sample(sentences, min(k, len(sentences))))
            if lang in ("zh", "ja"):
                raw = raw.replace(" ", "")
            paras.append(_Para("\n".join(textwrap.wrap(raw, 72)), html.escape(raw)))
        pools[lang] = tuple(paras)
    return pools


# --------------------------------------------------------------------------
# Header encoding

_ATEXT = re.compile(r"[A-Za-z0-9 !#$%&'*+/=?^_`{|}~-]*\Z")
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")


def _encoded_words(text: str, q: bool) -> str:
    """RFC 2047 encoded words, each within the 75-character limit."""
    words, chunk, size = [], [], 0
    limit = 20 if q else 45  # raw bytes per word; Q can triple a byte
    for ch in text:
        n = len(ch.encode())
        if size + n > limit and chunk:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(ch)
        size += n
    if chunk:
        words.append("".join(chunk))
    out = []
    for w in words:
        data = w.encode()
        if q:
            body = "".join(chr(b) if b in _Q_SAFE else "_" if b == 32 else f"={b:02X}" for b in data)
            out.append(f"=?UTF-8?Q?{body}?=")
        else:
            out.append(f"=?utf-8?B?{base64.b64encode(data).decode()}?=")
    return "\n ".join(out)


def _hdr_text(text: str, q: bool) -> str:
    """Encode only the span from the first to the last non-ASCII word, as mail programs do."""
    if text.isascii():
        return text
    words = text.split(" ")
    marks = [k for k, w in enumerate(words) if not w.isascii()]
    a, b = marks[0], marks[-1] + 1
    head, tail = " ".join(words[:a]), " ".join(words[b:])
    middle = _encoded_words(" ".join(words[a:b]), q)
    return (head + " " if head else "") + middle + (" " + tail if tail else "")


def _display(name: str, q: bool) -> str:
    if not name.isascii():
        return _encoded_words(name, q)
    if _ATEXT.match(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _addr(name: str, addr: str, q: bool = False) -> str:
    return f"{_display(name, q)} <{addr}>" if name else addr


def _addr_list(people: list[tuple[str, str]], q: bool) -> str:
    return ",\n ".join(_addr(n, a, q) for n, a in people)


_DOW = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MON = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _date(ts: int, offset_min: int) -> str:
    t = time.gmtime(ts + offset_min * 60)
    sign = "+" if offset_min >= 0 else "-"
    h, m = divmod(abs(offset_min), 60)
    return (
        f"{_DOW[t.tm_wday]}, {t.tm_mday:02d} {_MON[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {sign}{h:02d}{m:02d}"
    )


_BROKEN_DATES = (
    "Mon, 32 Okt 2026 25:61:00 +0000",
    "yesterday afternoon",
    "2026-13-45T99:00:00",
    "Tue, 07 Jun 20 18:xx:00 GMT+2",
    "0",
)


# --------------------------------------------------------------------------
# Bodies


def _first_name(name: str) -> str:
    """What a greeting calls someone: CJK names stay whole, others by the first word."""
    if not name:
        return "there"
    if any(ch >= "\u2e80" for ch in name):
        return name.replace(" ", "")
    return name.split()[0]


def _s(text: str) -> bytes:
    return text.encode("utf-8").replace(b"\n", b"\r\n")


def _qp(data: bytes) -> bytes:
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _text_part(text: str, cte: str, subtype: str, defect: str | None, flowed: bool) -> bytes:
    """A complete text part (headers and body), ending in CRLF."""
    charset = "utf-8"
    if subtype == "plain" and defect == "latin1-as-utf8":
        text += "\nSchöne Grüße aus Köln\n"
        return (
            _s("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
            + text.encode("latin-1", "replace").replace(b"\n", b"\r\n")
            + b"\r\n"
        )
    if subtype == "plain" and defect == "unknown-charset":
        charset, cte = "unknown-8bit", "8bit"
        text += "\nSchöne Grüße aus Köln\n"
    data = text.encode("utf-8")
    if cte in ("8bit", "base64") and data.isascii():
        # 7bit allows lines of at most 998 octets; one-line HTML needs an encoding.
        cte = "7bit" if max(map(len, text.split("\n"))) <= 998 else "quoted-printable"
    fmt = "; format=flowed" if flowed and subtype == "plain" else ""
    head = f'Content-Type: text/{subtype}; charset="{charset}"{fmt}\nContent-Transfer-Encoding: {cte}\n\n'
    if cte == "quoted-printable":
        body = _qp(data)
    elif cte == "base64":
        body = _b64(data)
    else:
        body = data.replace(b"\n", b"\r\n")
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return _s(head) + body


_OUTLOOK_HEAD = (
    '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
    'xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" '
    'xmlns="http://www.w3.org/TR/REC-html40">\n<head>\n'
    '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n'
    '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n<style><!--\n'
    + "".join(
        f'@font-face\n\t{{font-family:"{f}";\n\tpanose-1:2 15 5 2 2 2 4 3 2 4;}}\n'
        for f in ("Cambria Math", "Calibri", "Aptos", "Segoe UI", "Consolas", "Tahoma")
    )
    + "p.MsoNormal, li.MsoNormal, div.MsoNormal\n\t{margin:0cm;\n\tfont-size:11.0pt;\n"
    '\tfont-family:"Calibri",sans-serif;\n\tmso-ligatures:standardcontextual;\n\tmso-fareast-language:EN-US;}\n'
    "a:link, span.MsoHyperlink\n\t{mso-style-priority:99;\n\tcolor:#0563C1;\n\ttext-decoration:underline;}\n"
    'span.EmailStyle17\n\t{mso-style-type:personal-compose;\n\tfont-family:"Calibri",sans-serif;\n'
    "\tcolor:windowtext;}\n.MsoChpDefault\n\t{mso-style-type:export-only;\n\tfont-size:10.0pt;\n"
    "\tmso-ligatures:none;}\n@page WordSection1\n\t{size:612.0pt 792.0pt;\n"
    "\tmargin:72.0pt 72.0pt 72.0pt 72.0pt;}\ndiv.WordSection1\n\t{page:WordSection1;}\n"
    + '--></style><!--[if gte mso 9]><xml>\n<o:shapedefaults v:ext="edit" spidmax="1026" />\n'
    '</xml><![endif]--><!--[if gte mso 9]><xml>\n<o:shapelayout v:ext="edit">\n'
    '<o:idmap v:ext="edit" data="1" />\n</o:shapelayout></xml><![endif]-->\n</head>\n'
    '<body lang="EN-US" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">\n'
    '<div class="WordSection1">\n'
)
_OUTLOOK_P = (
    '<p class="MsoNormal"><span style="font-size:11.0pt;font-family:&quot;Calibri&quot;,sans-serif;'
    'mso-fareast-language:EN-US">{}<o:p></o:p></span></p>\n'
    '<p class="MsoNormal"><span style="font-size:11.0pt"><o:p>&nbsp;</o:p></span></p>\n'
)

_OUTLOOK_Q = (
    '<p class="MsoNormal"><span style="font-size:11.0pt;font-family:&quot;Calibri&quot;,sans-serif;'
    'color:#1F1F1F">{}<o:p></o:p></span></p>\n'
)


def _html_body(client: str, blocks: list[str], sig: list[str], quote: list[str], quote_head: str) -> str:
    sig_html = "<br>\n".join(html.escape(s) for s in sig)
    if client == "outlook":
        q_html = "".join(_OUTLOOK_Q.format(html.escape(s) if s else "&nbsp;") for s in quote)
        parts = [_OUTLOOK_HEAD]
        parts += [_OUTLOOK_P.format(b) for b in blocks]
        parts.append(f'<p class="MsoNormal"><span style="font-size:9.0pt;color:#595959">{sig_html}</span></p>\n')
        if quote:
            parts.append(
                '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">\n'
                f'<p class="MsoNormal"><b>{html.escape(quote_head)}</b></p></div>\n'
                f"{q_html}\n"
            )
        parts.append("</div>\n</body>\n</html>\n")
        return "".join(parts)
    q_html = "<br>\n".join(html.escape(s) for s in quote)
    if client == "gmail":
        inner = "".join(f"<div>{b}</div><div><br></div>" for b in blocks)
        out = f'<div dir="ltr">{inner}<div>-- <br><div dir="ltr" class="gmail_signature">{sig_html}</div></div></div>\n'
        if quote:
            out += (
                f'<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">{html.escape(quote_head)}'
                '<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px '
                f'solid rgb(204,204,204);padding-left:1ex">{q_html}</blockquote></div>\n'
            )
        return out
    head = (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=UTF-8"></head>\n'
        '<body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;">\n'
    )
    inner = "\n".join(f"<div>{b}</div><div><br></div>" for b in blocks)
    out = f"{head}{inner}\n<div><br></div><div>{sig_html}</div>\n"
    if quote:
        out += (
            f'<div><br><blockquote type="cite"><div>{html.escape(quote_head)}</div>\n'
            f"<div>{q_html}</div></blockquote></div>\n"
        )
    return out + "</body></html>\n"


_BLOB_KINDS = {
    "pdf": ("application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"),
    "png": ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x04\x00\x00\x00\x03\x00\x08\x06\x00\x00\x00"),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml",
    ),
}
ATTACH_SIZES = (20_000, 45_000, 80_000, 130_000, 190_000, 250_000, 300_000)  # base64 text bytes
LARGE_SIZES = (1_100_000, 1_500_000, 2_000_000)
LOGO_SIZE = 8_000


@functools.lru_cache(maxsize=64)
def _blob(kind: str, encoded_size: int) -> bytes:
    """Base64 body (CRLF lines) of a fake file; built once per kind and size."""
    raw_size = encoded_size * 57 // 78
    rng = random.Random(f"blob-{kind}-{encoded_size}")
    magic = _BLOB_KINDS[kind][1]
    return _b64(magic + rng.randbytes(raw_size - len(magic)))


_FILE_STEMS = {
    "pdf": (
        "Quote_Q-2026-{n}",
        "Datasheet_{p}",
        "Order_confirmation_PO-{n}",
        "Contract_draft_v{k}",
        "Angebot_Müller_{n}",
        "Safety_assessment_{n}",
    ),
    "png": ("site_photo_{k}", "floorplan_{n}", "screenshot_{n}", "Zelle_Übersicht_{k}"),
    "xlsx": ("pricing_2026_{k}", "TCO_model_{n}", "Spare_parts_{p}", "Cotización_{n}"),
}


def _attachment(rng: random.Random, kind: str, size: int, boundary: str) -> bytes:
    ctype = _BLOB_KINDS[kind][0]
    stem = rng.choice(_FILE_STEMS[kind]).format(
        n=rng.randint(100, 9999), k=rng.randint(1, 9), p=rng.choice(_PRODUCTS).split()[0]
    )
    fname = f"{stem}.{kind}"
    if fname.isascii():
        disp = f'attachment; filename="{fname}"'
        ct = f'{ctype}; name="{fname}"'
    else:
        q = urllib.parse.quote(fname, safe="")
        disp = f"attachment;\n filename*=utf-8''{q}"
        ct = f"{ctype};\n name*=utf-8''{q}"
    head = f"--{boundary}\nContent-Type: {ct}\nContent-Disposition: {disp}\nContent-Transfer-Encoding: base64\n\n"
    return _s(head) + _blob(kind, size)


# --------------------------------------------------------------------------
# The mailbox


@dataclass(slots=True)
class _Thread:
    tid: int
    subject: str
    customer: tuple[str, str]  # (name, email)
    org: _Org | None  # None for internal threads
    extra: tuple[str, str] | None  # another person at the customer, on Cc
    colleague: tuple[str, str] | None
    ids: list[str]
    last_lines: list[str]
    last_from: tuple[str, str]
    last_ts: int
    last_dir: str
    length: int
    limit: int


_LISTS = (
    (
        "Robotics Weekly",
        "news@roboticsweekly.example",
        "weekly.roboticsweekly.example",
        (
            "Robotics Weekly #{n}: cobots in cold storage",
            "Robotics Weekly #{n}: the state of AMR safety",
            "Robotics Weekly #{n}: five lessons from warehouse pilots",
        ),
    ),
    (
        "Automation Expo",
        "hello@automationexpo.test",
        "visitors.automationexpo.test",
        (
            "Your ticket for Automation Expo {n}",
            "Only {k} days left: early-bird pricing ends soon",
            "Speakers announced for Automation Expo",
        ),
    ),
    (
        "Partsource Product News",
        "updates@partsource.example",
        "news.partsource.example",
        ("New in stock: servo drives and {k} more", "Price update for Q{k}", "Partsource newsletter – Ausgabe {k}"),
    ),
    (
        "CRM Tips",
        "tips@pipelinecoach.test",
        "tips.pipelinecoach.test",
        ("{k} ways to shorten your sales cycle", "Webinar: forecasting that works", "Your monthly pipeline digest"),
    ),
)
_NEWS_STYLE = (
    '<style type="text/css">\n'
    + "".join(
        f"@media only screen and (max-width:{w}px) {{ .col-{w} {{ width:100% !important; display:block !important; }}"
        f" .pad-{w} {{ padding:{w // 40}px !important; }} .hide-{w} {{ display:none !important; max-height:0; "
        f"overflow:hidden; mso-hide:all; }} .h1-{w} {{ font-size:{w // 20}px !important; line-height:1.2 !important; "
        "}} }}\n"
        for w in range(320, 1000, 20)
    )
    + "</style>"
)
_NOTIFIERS = (
    (
        "CloudLedger Billing",
        "no-reply@billing.cloudledger.example",
        ("Your invoice INV-{n} is ready", "Payment received – thank you", "Receipt for order {n}"),
        "Your invoice INV-{n} for {k}00.00 EUR is available in your account.\nThis is an automated message, "
        "please do not reply.",
    ),
    (
        "Northwind Calendar",
        "noreply@calendar.northwind.example",
        ("Reminder: Pipeline review at {k}:00", "Reminder: 1:1 with Sam", "Updated invitation: Q{k} planning"),
        "This is a reminder for an event in your calendar starting in 15 minutes.\nJoin: "
        "https://meet.northwind.example/r/{n}",
    ),
    (
        "FixDesk",
        "notifications@tickets.fixdesk.test",
        ("[FixDesk] Ticket #{n} updated", "[FixDesk] Ticket #{n} resolved", "[FixDesk] New comment on #{n}"),
        "Ticket #{n} has a new update.\nStatus: In progress\nView it at https://fixdesk.test/t/{n}",
    ),
    (
        "ParcelNet",
        "do-not-reply@shipping.parcelnet.example",
        ("Your shipment {n} is on its way", "Delivered: shipment {n}", "Delivery exception for shipment {n}"),
        "Shipment {n} (2 parcels) was handed over to the carrier.\nTrack it: https://parcelnet.example/t/{n}",
    ),
)
_CLIENT_AGENT = {
    "outlook": "X-Mailer: Microsoft Outlook 16.0",
    "gmail": None,
    "apple": "X-Mailer: Apple Mail (2.3826.400.131.1.6)",
    "thunderbird": "User-Agent: Mozilla Thunderbird",
}
_REPLY_PREFIX = {"outlook": "RE: ", "gmail": "Re: ", "apple": "Re: ", "thunderbird": "Re: "}


class _Gen:
    """Per-call state; the order of ``rng`` calls is what makes output stable."""

    def __init__(self, n: int, seed: int, own_address: str, malformed_ratio: float):
        self.n, self.seed = n, seed
        self.rng = random.Random(seed)
        self.world = _world(seed)
        self.paras = _paragraphs(seed)
        self.own_address = own_address
        own_domain = own_address.rpartition("@")[2] or OWN_DOMAIN
        self.own_domain = own_domain
        names = dict((a, nm) for nm, a in COLLEAGUES)
        own_name = names.get(own_address) or own_address.partition("@")[0].replace(".", " ").title()
        self.own = (own_name, own_address)
        self.colleagues = [(nm, a) for nm, a in COLLEAGUES if a != own_address]
        self.own_title = _TITLES[seed % len(_TITLES)]
        self.malformed_ratio = malformed_ratio
        self.threads: list[_Thread] = []
        self.tid = 0

    # -- helpers ----------------------------------------------------------
    def msgid(self, i: int, client: str, domain: str) -> str:
        r = self.rng
        if client == "outlook":
            return (
                f"{r.choice(('AM', 'DB', 'VI', 'PA'))}{r.randint(0, 9)}PR{r.randint(10, 99)}MB"
                f"{r.randint(1000, 9999)}{r.getrandbits(40):010X}{i:05X}@{'mail.' + domain}"
            )
        if client == "gmail":
            tok = base64.b64encode(r.randbytes(30), altchars=b"+_").decode()
            return f"CA{tok}{i:x}@mail.{domain}"
        h = f"{r.getrandbits(128):032X}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:26]}{i:06X}@{domain}"

    def received(self, domain: str, ts: int) -> list[str]:
        r = self.rng
        ip = f"{r.choice(('192.0.2', '198.51.100', '203.0.113'))}.{r.randint(2, 250)}"
        qid = base64.b32encode(r.randbytes(10)).decode().rstrip("=")
        dkim_b = base64.b64encode(r.randbytes(256)).decode()
        bh = base64.b64encode(r.randbytes(32)).decode()
        s = r.choice(("s1", "selector1", "google", "k2"))
        b_lines = "\n\t ".join(dkim_b[k : k + 70] for k in range(0, len(dkim_b), 70))
        return [
            "Return-Path: <{sender}>",
            f"Delivered-To: {self.own_address}",
            f"Received: from mail.{domain} (mail.{domain} [{ip}])\n\tby mx1.{self.own_domain} (Postfix) with "
            f"ESMTPS id {qid[:12]}\n\tfor <{self.own_address}>; {_date(ts + r.randint(1, 20), 0)}",
            f"Received: from localhost (localhost [127.0.0.1])\n\tby mail.{domain} with ESMTP id "
            f"{qid[12:]}; {_date(ts, 0)}",
            f"Authentication-Results: mx1.{self.own_domain};\n\tdkim=pass header.d={domain} header.s={s} "
            f"header.b={dkim_b[:8]};\n\tspf=pass smtp.mailfrom={domain};\n\tdmarc=pass (p=NONE) header.from={domain}",
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s={s};\n\tt={ts};\n"
            f"\th=from:to:cc:subject:date:message-id:in-reply-to:references:mime-version;\n"
            f"\tbh={bh};\n\tb={b_lines}",
        ]

    def b64(self, n: int, width: int = 76) -> str:
        """Random base64 folded like a signature value: filler that header parsers must wade through."""
        data = base64.b64encode(self.rng.randbytes(n)).decode()
        return "\n\t".join(data[k : k + width] for k in range(0, len(data), width))

    def client_headers(self, client: str, domain: str, ts: int) -> list[str]:
        """What a sender's mail system adds: hosted Exchange adds a lot, a hosted Gmail-like service less."""
        r = self.rng
        if client == "outlook":
            pr = f"{r.choice(('AM', 'DB', 'VI', 'PA'))}{r.randint(1, 9)}PR{r.randint(10, 99)}MB{r.randint(1000, 9999)}"
            uid = [f"{r.getrandbits(128):032x}" for _ in range(3)]
            uid = [f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}" for u in uid]
            t = time.gmtime(ts)
            return [
                f"ARC-Seal: i=1; a=rsa-sha256; s=arcselector10001; d={domain}; cv=none;\n\tb={self.b64(256)}",
                f"ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d={domain};\n"
                f"\ts=arcselector10001;\n\th=From:Date:Subject:Message-ID:Content-Type:MIME-Version:"
                f"X-MS-Exchange-AntiSpam-MessageData-ChunkCount;\n\tbh={self.b64(32)};\n\tb={self.b64(256)}",
                f"ARC-Authentication-Results: i=1; mx.{domain} 1; spf=pass\n\tsmtp.mailfrom={domain}; "
                f"dmarc=pass action=none\n\theader.from={domain}; dkim=pass header.d={domain}; arc=none",
                f"Thread-Index: AQHa{base64.b64encode(r.randbytes(24)).decode()}",
                "Accept-Language: en-US",
                "Content-Language: en-US",
                "X-MS-Has-Attach:",
                "X-MS-TNEF-Correlator:",
                "x-ms-publictraffictype: Email",
                f"x-ms-traffictypediagnostic: {pr}:EE_|{pr[:-2]}{r.randint(10, 99)}:EE_",
                f"x-ms-office365-filtering-correlation-id: {uid[0]}",
                "x-microsoft-antispam: BCL:0;ARA:13230040|1800799024|366016|376014|38070700018;",
                f"x-microsoft-antispam-message-info:\n\t{self.b64(1100)}",
                f"x-forefront-antispam-report: CIP:255.255.255.255;CTRY:;LANG:en;SCL:1;SRV:;IPV:NLI;SFV:NSPM;\n"
                f"\tH:{pr}.{domain};PTR:;CAT:NONE;SFS:(13230040)(1800799024)(366016);DIR:OUT;SFP:1101;",
                "x-ms-exchange-antispam-messagedata-chunkcount: 1",
                f"x-ms-exchange-antispam-messagedata-0:\n\t{self.b64(1400)}",
                f"X-OriginatorOrg: {domain}",
                "X-MS-Exchange-CrossTenant-AuthAs: Internal",
                f"X-MS-Exchange-CrossTenant-Network-Message-Id: {uid[1]}",
                f"X-MS-Exchange-CrossTenant-originalarrivaltime: {t.tm_mday:02d} {_MON[t.tm_mon - 1]} {t.tm_year} "
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{r.randint(1000, 9999)} (UTC)",
                "X-MS-Exchange-CrossTenant-fromentityheader: Hosted",
                f"X-MS-Exchange-CrossTenant-id: {uid[2]}",
                f"X-MS-Exchange-Transport-CrossTenantHeadersStamped: {pr}",
            ]
        if client == "gmail":
            return [
                f"X-Google-DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\n\td=mail.{domain}; s=20230601; "
                f"t={ts};\n\th=to:subject:message-id:date:from:in-reply-to:references:mime-version;\n"
                f"\tbh={self.b64(32)};\n\tb={self.b64(256)}",
                f"X-Gm-Message-State: AOJu0Y{self.b64(60)}",
                f"X-Google-Smtp-Source: AGHT+I{self.b64(60)}",
                f"X-Received: by 2002:a05:{r.randint(6000, 6999)}:{r.getrandbits(16):x}:b0:{r.getrandbits(12):x} "
                f"with SMTP id {r.getrandbits(48):x};\n\t{_date(ts, 0)}",
            ]
        return []

    def body_blocks(self, lang: str, count: int) -> tuple[list[str], list[str]]:
        pool = self.paras["en"]
        local = self.paras.get(lang)
        texts, htmls = [], []
        for _ in range(count):
            p = self.rng.choice(local if local and self.rng.random() < 0.35 else pool)
            texts.append(p.text)
            htmls.append(p.html)
        return texts, htmls

    # -- one message --------------------------------------------------------
    def build(
        self,
        ts: int,
        sender: tuple[str, str],
        to: list[tuple[str, str]],
        cc: list[tuple[str, str]],
        subject: str,
        client: str,
        tz: int,
        incoming: bool,
        msgid: str | None,
        irt: str | None,
        refs: list[str],
        text: str,
        html_doc: str | None,
        shape: str,
        defect: str | None,
        extra_headers: list[str],
    ) -> bytes:
        r = self.rng
        q = client in ("outlook", "apple")
        sdomain = sender[1].rpartition("@")[2]
        hdrs: list[str] = []
        if incoming:
            hdrs = [h.replace("{sender}", sender[1]) for h in self.received(sdomain, ts)]
            hdrs += self.client_headers(client, sdomain, ts)
        hdrs.append(f"From: {_addr(sender[0], sender[1], q)}")
        hdrs.append(f"To: {_addr_list(to, q)}")
        if cc:
            hdrs.append(f"Cc: {_addr_list(cc, q)}")
        hdrs.append(f"Subject: {_hdr_text(subject, q)}")
        date = r.choice(_BROKEN_DATES) if defect == "bad-date" else _date(ts, tz)
        hdrs.append(f"Date: {date}")
        if msgid:
            hdrs.append(f"Message-ID: <{msgid}>")
        if irt:
            hdrs.append(f"In-Reply-To: <{irt}>")
        if refs:
            hdrs.append("References: " + "\n ".join(f"<{x}>" for x in refs))
        if client == "outlook" and subject:
            hdrs.append(f"Thread-Topic: {_hdr_text(subject.split(': ', 1)[-1], q)}")
        hdrs.extend(extra_headers)
        agent = _CLIENT_AGENT[client]
        if agent:
            hdrs.append(agent)
        hdrs.append("MIME-Version: 1.0")

        cte = {
            "outlook": "quoted-printable",
            "gmail": r.choice(("quoted-printable", "base64")),
            "apple": "quoted-printable",
            "thunderbird": "8bit",
        }[client]
        flowed = client in ("apple", "thunderbird")
        plain = _text_part(text, cte, "plain", defect, flowed)
        b = f"{r.getrandbits(64):016x}"
        if html_doc is not None:
            hcte = "base64" if cte == "base64" else "quoted-printable"
            alt_b = f"_000_{b}_alt"
            alt = (
                _s(f'Content-Type: multipart/alternative; boundary="{alt_b}"\n\n--{alt_b}\n')
                + plain
                + _s(f"--{alt_b}\n")
                + _text_part(html_doc, hcte, "html", None, False)
                + _s(f"--{alt_b}--\n")
            )
        else:
            alt = plain
        head = _s("\n".join(hdrs) + "\n")
        if shape in ("plain", "alternative"):
            return head + alt
        if shape == "related":
            rb = f"_000_{b}_rel"
            logo = _s(
                f'--{rb}\nContent-Type: image/png; name="image001.png"\n'
                f'Content-Description: image001.png\nContent-Disposition: inline; filename="image001.png"\n'
                f"Content-ID: <image001.png@01DB{b[:8].upper()}>\nContent-Transfer-Encoding: base64\n\n"
            ) + _blob("png", LOGO_SIZE)
            return (
                head
                + _s(f'Content-Type: multipart/related; boundary="{rb}"; type="multipart/alternative"\n\n--{rb}\n')
                + alt
                + logo
                + _s(f"--{rb}--\n")
            )
        mb = f"_004_{b}_mix"
        if shape == "attachment":
            atts = [_attachment(r, r.choice(("pdf", "pdf", "png", "xlsx")), r.choice(ATTACH_SIZES), mb)]
        else:
            atts = [_attachment(r, r.choice(("pdf", "png")), r.choice(LARGE_SIZES), mb)]
        return (
            head
            + _s(
                f'Content-Type: multipart/mixed; boundary="{mb}"\n\nThis is a multi-part message in '
                f"MIME format.\n\n--{mb}\n"
            )
            + alt
            + b"".join(atts)
            + _s(f"--{mb}--\n")
        )

    # -- kinds ----------------------------------------------------------------
    def list_mail(self, i: int, ts: int, shape: str, defect: str | None) -> Generated:
        r = self.rng
        name, addr, list_id, subjects = r.choice(_LISTS)
        domain = addr.rpartition("@")[2]
        subject = r.choice(subjects).format(n=r.randint(100, 400), k=r.randint(2, 12))
        token = f"{r.getrandbits(80):020x}"
        pool = self.paras["en"]
        texts, htmls = [], []
        for k in range(r.randint(10, 20)):
            p = r.choice(pool)
            head = p.text.split("\n", 1)[0][:60]
            texts.append(f"{head.upper()}\n{p.text}\nRead more: https://{domain}/r/{token}/{k}")
            htmls.append(
                '<tr><td style="padding:24px 32px;font-family:Helvetica,Arial,sans-serif;font-size:15px;'
                f'line-height:22px;color:#333333;"><h2 style="margin:0 0 12px 0;font-size:20px;color:#111111;">'
                f'{html.escape(head)}</h2><p style="margin:0 0 12px 0;">{p.html}</p><a href="https://{domain}'
                f'/r/{token}/{k}" style="color:#1a73e8;text-decoration:none;font-weight:bold;">Read more '
                "&rarr;</a></td></tr>\n"
            )
        unsub = f"https://{domain}/unsubscribe/{token}"
        text = "\n\n".join(texts) + f"\n\n--\nYou receive this because you subscribed.\nUnsubscribe: {unsub}\n"
        html_doc = (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(subject)}</title>'
            + _NEWS_STYLE
            + '</head><body style="margin:0;padding:0;background:#f4f4f4;">'
            '<table role="presentation" '
            'width="100%" cellpadding="0" cellspacing="0" style="max-width:640px;margin:0 auto;'
            'background:#ffffff;">\n'
            + "".join(htmls)
            + f'<tr><td style="padding:16px;font-size:12px;color:#888888;"><a href="{unsub}">Unsubscribe'
            f'</a></td></tr></table><img src="https://{domain}/o/{token}.gif" width="1" height="1" alt="">'
            "</body></html>\n"
        )
        extra = [
            f"List-Id: {name} <{list_id}>",
            f"List-Unsubscribe: <{unsub}>,\n <mailto:unsubscribe@{domain}?subject=unsubscribe-{token}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "Precedence: bulk",
        ]
        return self.simple(i, ts, (name, addr), subject, text, html_doc, shape, defect, extra, "newsletter")

    def notification(self, i: int, ts: int, shape: str, defect: str | None) -> Generated:
        r = self.rng
        name, addr, subjects, body = r.choice(_NOTIFIERS)
        n, k = r.randint(10000, 99999), r.randint(1, 12)
        subject = r.choice(subjects).format(n=n, k=k)
        text = f"Hello {self.own[0].split()[0]},\n\n{body.format(n=n, k=k)}\n"
        html_doc = "<html><body><p>" + html.escape(text).replace("\n", "<br>\n") + "</p></body></html>\n"
        extra = ["Auto-Submitted: auto-generated", "X-Auto-Response-Suppress: All"]
        return self.simple(i, ts, (name, addr), subject, text, html_doc, shape, defect, extra, "notification")

    def simple(self, i, ts, sender, subject, text, html_doc, shape, defect, extra, kind) -> Generated:
        domain = sender[1].rpartition("@")[2]
        mid = None if defect == "no-message-id" else self.msgid(i, "apple", domain)
        raw = self.build(
            ts,
            sender,
            [("", self.own_address)],
            [],
            subject,
            "gmail",
            0,
            True,
            mid,
            None,
            [],
            text,
            None if shape == "plain" else html_doc,
            shape,
            defect,
            extra,
        )
        self.tid += 1
        return Generated(raw, i, mid, None, self.tid - 1, "incoming", kind, shape, defect)

    def new_thread(self, ts: int, internal: bool) -> _Thread:
        r = self.rng
        w = self.world
        if internal:
            customer, org, extra = r.choice(self.colleagues), None, None
            subject = r.choice(
                (
                    "Pipeline review notes",
                    "Can you cover the {site} call?",
                    "Pricing approval for {org}",
                    "Handover: {org}",
                )
            ).format(site=r.choice(_SITES), org=r.choice(w.people).org_name)
            colleague = None
        else:
            p = r.choices(w.people, cum_weights=w.cum_weights)[0]
            org = w.orgs[p.org_domain]
            customer = (p.name, p.email)
            extra = None
            if r.random() < 0.15:
                mates = [x for x in w.people if x.org_domain == p.org_domain and x.email != p.email]
                q = r.choice(mates)
                extra = (q.name, q.email)
            colleague = r.choice(self.colleagues) if r.random() < 0.2 else None
            subject = _fill(r, r.choice(_SUBJECTS), org=p.org_name)
        self.tid += 1
        return _Thread(
            self.tid - 1,
            subject,
            customer,
            org,
            extra,
            colleague,
            [],
            [],
            customer,
            ts,
            "",
            0,
            r.choice((1, 2, 2, 3, 3, 4, 5, 6, 8, 12)),
        )

    def conversation(self, i: int, ts: int, shape: str, defect: str | None) -> Generated:
        r = self.rng
        outgoing = r.random() < 0.345
        direction = "outgoing" if outgoing else "incoming"
        thread = None
        if self.threads and (r.random() < 0.72 or defect == "re-without-in-reply-to"):
            # Mostly answer the other side; sometimes follow up on one's own message.
            recent = self.threads[-25:]
            opposite = [t for t in recent if t.last_dir != direction]
            thread = r.choice(opposite if opposite and r.random() < 0.8 else recent)
        if thread is None:
            if defect == "re-without-in-reply-to":
                defect = r.choice(DEFECTS[:4])
            thread = self.new_thread(ts, internal=r.random() < 0.05)
            self.threads.append(thread)
            if len(self.threads) > 200:
                del self.threads[:100]
        org = thread.org
        client = org.client if org else "thunderbird"
        lang = CULTURES[org.culture][4] if org else "en"
        tz = CULTURES[org.culture][3] if org else 60
        customers = [thread.customer] + ([thread.extra] if thread.extra else [])
        ours = [thread.colleague] if thread.colleague else []
        if outgoing:
            sender, to, cc = self.own, [thread.customer], customers[1:] + ours
            client, tz, greet_lang = "thunderbird", 60, "en"
        else:
            sender = thread.extra if thread.extra and r.random() < 0.25 else thread.customer
            to = [self.own]
            cc = [p for p in customers if p != sender] + ours
            if ours and r.random() < 0.3:
                to, cc = ours, [self.own] + [p for p in customers if p != sender]
            greet_lang = lang if r.random() < 0.6 else "en"
        if org is None:  # internal mail: both sides are colleagues
            client, tz = "thunderbird", 60
        reply = thread.length > 0
        subject = thread.subject
        if reply:
            prefix = "AW: " if greet_lang == "de" and client == "outlook" else _REPLY_PREFIX[client]
            subject = prefix + subject

        # Body: greeting, paragraphs, closing, signature, then the quoted history.
        first = _first_name(to[0][0])
        greeting = r.choice(_GREET.get(greet_lang, _GREET["en"])).format(first=first)
        closing = r.choice(_CLOSE.get(greet_lang, _CLOSE["en"]))
        count = {"plain": r.randint(3, 11), "alternative": r.randint(4, 12)}.get(shape, r.randint(1, 5))
        texts, htmls = self.body_blocks(lang if not outgoing else "en", count)
        sig = [
            sender[0],
            (
                self.own_title
                if sender == self.own
                else r.choice(
                    ("Head of Operations", "Procurement Manager", "Plant Manager", "Automation Engineer", "Buyer")
                )
            )
            + " | "
            + (COMPANY if sender[1].endswith(self.own_domain) else (org.name if org else COMPANY)),
            f"+{r.randint(1, 99)} {r.randint(10, 99)} {r.randint(1000000, 9999999)}",
        ]
        quote: list[str] = []
        quote_head = ""
        if reply:
            prev_name, prev_addr = thread.last_from
            if client == "outlook":
                quote_head = (
                    f"From: {prev_name} <{prev_addr}>\nSent: {_date(thread.last_ts, tz)}\nSubject: {thread.subject}"
                )
                quote = thread.last_lines
            else:
                quote_head = f"On {_date(thread.last_ts, tz)}, {prev_name} <{prev_addr}> wrote:"
                quote = [("> " + s) if s else ">" for s in thread.last_lines]
        own_lines = [greeting, ""]
        for t in texts:
            own_lines.append(t)
            own_lines.append("")
        own_lines += [closing, sender[0].split()[0], "", "-- "] + sig
        text = "\n".join(own_lines) + "\n"
        if reply:
            sep = "\n________________________________\n" if client == "outlook" else "\n"
            text += sep + quote_head + "\n\n" + "\n".join(quote) + "\n"
        html_doc = None
        if shape != "plain":
            blocks = [html.escape(greeting)] + htmls + [html.escape(closing) + "<br>" + html.escape(sender[0])]
            html_doc = _html_body(client, blocks, sig, quote, quote_head)

        sdomain = sender[1].rpartition("@")[2]
        mid = None if defect == "no-message-id" else self.msgid(i, client, sdomain)
        irt = thread.ids[-1] if thread.ids else None
        refs = thread.ids[:1] + thread.ids[-9:] if len(thread.ids) > 10 else list(thread.ids)
        if defect == "re-without-in-reply-to":
            irt, refs = None, []
        raw = self.build(
            ts, sender, to, cc, subject, client, tz, not outgoing, mid, irt, refs, text, html_doc, shape, defect, []
        )
        if mid:
            thread.ids.append(mid)
        thread.last_lines = text.split("\n")[:300]
        thread.last_from, thread.last_ts, thread.last_dir = sender, ts, direction
        thread.length += 1
        if thread.length >= thread.limit:
            self.threads.remove(thread)
        kind = "internal" if org is None else "conversation"
        return Generated(raw, i, mid, irt, thread.tid, direction, kind, shape, defect)

    def run(self) -> Iterator[Generated]:
        r = self.rng
        start = BASE_TS - SPAN
        for i in range(self.n):
            ts = start + int(SPAN * (i + r.random()) / self.n)
            shape = _SHAPE_NAMES[min(bisect.bisect(_SHAPE_CUM, r.random()), len(_SHAPE_NAMES) - 1)]
            defect = r.choice(DEFECTS) if r.random() < self.malformed_ratio else None
            k = r.random()
            if k < 0.07:
                yield self.list_mail(i, ts, shape, defect if defect != "re-without-in-reply-to" else "bad-date")
            elif k < 0.13:
                yield self.notification(i, ts, shape, defect if defect != "re-without-in-reply-to" else "bad-date")
            else:
                yield self.conversation(i, ts, shape, defect)


def generate(
    n: int, seed: int = 1, *, own_address: str = "maria@northwind.example", malformed_ratio: float = 0.01
) -> Iterator[Generated]:
    """Messages with what each was meant to be, oldest first."""
    return _Gen(n, seed, own_address, malformed_ratio).run()


def generate_messages(
    n: int, seed: int = 1, *, own_address: str = "maria@northwind.example", malformed_ratio: float = 0.01
) -> Iterator[bytes]:
    """Raw RFC 5322 messages (CRLF line ends), oldest first."""
    for g in generate(n, seed, own_address=own_address, malformed_ratio=malformed_ratio):
        yield g.raw


# --------------------------------------------------------------------------
# Writers. Each returns (messages written, bytes written).


def write_eml_dir(path: str | os.PathLike, messages: Iterable[bytes]) -> tuple[int, int]:
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    count = total = 0
    for count, raw in enumerate(messages, 1):
        (out / f"{count:06d}.eml").write_bytes(raw)
        total += len(raw)
    return count, total


def write_maildir(
    path: str | os.PathLike, messages: Iterable[bytes], *, flags_ratio_seen: float = 0.6
) -> tuple[int, int]:
    """A Maildir: seen mail in cur/ with ``:2,S``; the rest split between new/ and cur/ without flags."""
    root = Path(path)
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)  # flags only; names stay unique through the counter
    count = total = 0
    for count, raw in enumerate(messages, 1):
        name = f"{1790000000 + count}.M{count:06d}P4242Q{count}.mailgen"
        x = rng.random()
        if x < flags_ratio_seen:
            flags = rng.choice(("S", "S", "S", "RS", "FS"))
            target = root / "cur" / f"{name}:2,{flags}"
        elif rng.random() < 0.5:
            target = root / "cur" / f"{name}:2,"
        else:
            target = root / "new" / name
        target.write_bytes(raw)
        total += len(raw)
    return count, total


_FROM_LINE = re.compile(rb"^(>*From )", re.M)
_HDR_FROM = re.compile(rb"^From:[^\r\n]*?<?([^<>\s\"]+@[^<>\s\"]+?)>?\s*$", re.M | re.I)
_HDR_DATE = re.compile(rb"^Date:[ \t]*([^\r\n]*)", re.M | re.I)


def _from_line(raw: bytes) -> bytes:
    head = raw.split(b"\r\n\r\n", 1)[0]
    m = _HDR_FROM.search(head)
    sender = m.group(1) if m else b"MAILER-DAEMON"
    ts = 0.0
    d = _HDR_DATE.search(head)
    if d:
        parsed = email.utils.parsedate_tz(d.group(1).decode("ascii", "replace"))
        if parsed:
            try:
                ts = float(email.utils.mktime_tz(parsed))
            except (OverflowError, ValueError):
                ts = 0.0
    return b"From " + sender + b" " + time.asctime(time.gmtime(ts)).encode() + b"\n"


def write_mbox(path: str | os.PathLike, messages: Iterable[bytes]) -> tuple[int, int]:
    """An mboxrd file: LF line ends, and every body line matching ``>*From `` gains one ``>``."""
    count = total = 0
    with open(path, "wb") as f:
        for raw in messages:
            count += 1
            body = raw.replace(b"\r\n", b"\n")
            if b"From " in body:
                body = _FROM_LINE.sub(rb">\1", body)
            if not body.endswith(b"\n"):
                body += b"\n"
            chunk = _from_line(raw) + body + b"\n"
            f.write(chunk)
            total += len(chunk)
    return count, total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write a deterministic fictional mailbox.")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--own-address", default="maria@northwind.example")
    ap.add_argument("--malformed-ratio", type=float, default=0.01)
    dest = ap.add_mutually_exclusive_group(required=True)
    dest.add_argument("--maildir", metavar="DIR")
    dest.add_argument("--mbox", metavar="FILE")
    dest.add_argument("--eml-dir", metavar="DIR")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    msgs = generate_messages(args.count, args.seed, own_address=args.own_address, malformed_ratio=args.malformed_ratio)
    if args.maildir:
        count, size = write_maildir(args.maildir, msgs)
        where = args.maildir
    elif args.mbox:
        count, size = write_mbox(args.mbox, msgs)
        where = args.mbox
    else:
        count, size = write_eml_dir(args.eml_dir, msgs)
        where = args.eml_dir
    print(f"wrote {count} messages, {size} bytes to {where} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
