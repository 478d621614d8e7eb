"""What pdmail knows about well-known mail providers, and how special folders are found.

A preset only fills in host, port and security; every value can be overridden with the
``--imap-*``/``--smtp-*`` options. Special folders (Sent, Trash, Archive...) are found at run
time from the server's SPECIAL-USE flags: names differ by provider and by language ("[Gmail]/All
Mail", "[Google Mail]/Gesendet", "Sent Items", "Gesendete Objekte"). Guessing by name is a
fallback for servers that do not flag their folders, and it is never used for Gmail, whose
folder names change with the user's language.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# SPECIAL-USE attributes (RFC 6154, plus Gmail's \Important) and the role each one names.
SPECIAL_USE = {
    "\\sent": "sent",
    "\\drafts": "drafts",
    "\\trash": "trash",
    "\\archive": "archive",
    "\\junk": "junk",
    "\\all": "all",
    "\\flagged": "flagged",
    "\\important": "important",
}

# Folder names used by servers that have no SPECIAL-USE, in the languages we met most. Matched
# case-insensitively on the last path component.
FALLBACK_NAMES = {
    "sent": (
        "sent",
        "sent items",
        "sent messages",
        "sent mail",
        "gesendet",
        "gesendete objekte",
        "gesendete elemente",
        "envoyés",
        "messages envoyés",
        "éléments envoyés",
        "enviados",
        "elementos enviados",
        "inviata",
        "posta inviata",
        "verzonden",
        "verzonden items",
        "skickat",
        "отправленные",
        "已发送",
    ),
    "drafts": ("drafts", "draft", "entwürfe", "brouillons", "borradores", "bozze", "concepten", "черновики", "草稿箱"),
    "trash": (
        "trash",
        "deleted items",
        "deleted messages",
        "bin",
        "papierkorb",
        "gelöschte objekte",
        "gelöschte elemente",
        "corbeille",
        "éléments supprimés",
        "papelera",
        "elementos eliminados",
        "cestino",
        "prullenbak",
        "verwijderde items",
        "корзина",
        "已删除",
    ),
    "archive": ("archive", "archives", "archiv", "archivo", "archivio", "archief", "архив"),
    "junk": (
        "junk",
        "junk e-mail",
        "junk email",
        "spam",
        "bulk mail",
        "spamverdacht",
        "courrier indésirable",
        "correo no deseado",
        "posta indesiderata",
        "ongewenste e-mail",
        "спам",
        "垃圾邮件",
    ),
}


@dataclass(frozen=True)
class Endpoint:
    host: str  # may contain "{domain}": the domain of the account's address
    port: int
    security: str  # "tls" (implicit TLS) or "starttls"

    def for_domain(self, domain: str) -> Endpoint:
        return Endpoint(self.host.replace("{domain}", domain), self.port, self.security)


@dataclass(frozen=True)
class Provider:
    key: str
    label: str
    imap: Endpoint
    smtp: Endpoint | None
    # Does the provider put mail sent through its SMTP server into the Sent folder itself?
    # True: never append; False: append; None: unknown, search Sent for the Message-ID first.
    saves_sent: bool | None
    oauth2: str = "no"  # "no" | "supported" | "required" (no passwords over IMAP)
    domains: tuple[str, ...] = ()
    guess_folder_names: bool = True  # False: roles only from SPECIAL-USE
    send_id: bool = False  # the server wants an IMAP ID (RFC 2971) before it lets a client SELECT
    labels: bool = False  # folders are labels: one message can be in several, "All Mail" holds every one
    note: str = ""


def _p(key, label, imap, smtp, saves_sent, **kw) -> Provider:
    return Provider(key, label, Endpoint(*imap), Endpoint(*smtp) if smtp else None, saves_sent, **kw)


PROVIDERS: dict[str, Provider] = {
    p.key: p
    for p in (
        _p(
            "gmail",
            "Gmail / Google Workspace",
            ("imap.gmail.com", 993, "tls"),
            ("smtp.gmail.com", 465, "tls"),
            True,
            oauth2="supported",
            domains=("gmail.com", "googlemail.com"),
            guess_folder_names=False,
            labels=True,
            note="Use an app password or --oauth2-token-command; folders are labels.",
        ),
        _p(
            "outlook",
            "Outlook.com / Hotmail",
            ("outlook.office365.com", 993, "tls"),
            ("smtp-mail.outlook.com", 587, "starttls"),
            True,
            oauth2="required",
            domains=("outlook.com", "hotmail.com", "live.com", "msn.com"),
            note="Microsoft accepts no passwords over IMAP: use --oauth2-token-command.",
        ),
        _p(
            "office365",
            "Microsoft 365 / Exchange Online",
            ("outlook.office365.com", 993, "tls"),
            ("smtp.office365.com", 587, "starttls"),
            True,
            oauth2="required",
            note="Microsoft accepts no passwords over IMAP: use --oauth2-token-command.",
        ),
        _p(
            "icloud",
            "iCloud Mail",
            ("imap.mail.me.com", 993, "tls"),
            ("smtp.mail.me.com", 587, "starttls"),
            None,
            domains=("icloud.com", "me.com", "mac.com"),
            note="Needs an app-specific password.",
        ),
        _p(
            "yahoo",
            "Yahoo Mail",
            ("imap.mail.yahoo.com", 993, "tls"),
            ("smtp.mail.yahoo.com", 465, "tls"),
            None,
            oauth2="supported",
            domains=("yahoo.com", "ymail.com", "rocketmail.com"),
            note="Needs an app password.",
        ),
        _p(
            "aol",
            "AOL Mail",
            ("imap.aol.com", 993, "tls"),
            ("smtp.aol.com", 465, "tls"),
            None,
            oauth2="supported",
            domains=("aol.com",),
            note="Needs an app password.",
        ),
        _p(
            "fastmail",
            "Fastmail",
            ("imap.fastmail.com", 993, "tls"),
            ("smtp.fastmail.com", 465, "tls"),
            False,
            domains=("fastmail.com", "fastmail.fm"),
            note="Needs an app password.",
        ),
        _p(
            "gmx",
            "GMX (gmx.net, gmx.de, gmx.at, gmx.ch)",
            ("imap.gmx.net", 993, "tls"),
            ("mail.gmx.net", 587, "starttls"),
            False,
            domains=("gmx.net", "gmx.de", "gmx.at", "gmx.ch"),
            note="Turn on IMAP access in GMX's settings first.",
        ),
        _p(
            "gmx.com",
            "GMX (gmx.com)",
            ("imap.gmx.com", 993, "tls"),
            ("mail.gmx.com", 587, "starttls"),
            False,
            domains=("gmx.com", "gmx.us"),
        ),
        _p(
            "mailru",
            "Mail.ru",
            ("imap.mail.ru", 993, "tls"),
            ("smtp.mail.ru", 465, "tls"),
            None,
            domains=("mail.ru", "bk.ru", "list.ru", "inbox.ru"),
            note="Needs a password for external apps.",
        ),
        _p(
            "yandex",
            "Yandex Mail",
            ("imap.yandex.com", 993, "tls"),
            ("smtp.yandex.com", 465, "tls"),
            None,
            oauth2="supported",
            domains=("yandex.com", "yandex.ru", "ya.ru"),
            note="Needs an app password.",
        ),
        _p(
            "zoho",
            "Zoho Mail",
            ("imap.zoho.com", 993, "tls"),
            ("smtp.zoho.com", 465, "tls"),
            None,
            domains=("zoho.com", "zohomail.com"),
            note="Accounts in the EU data center use imap.zoho.eu / smtp.zoho.eu.",
        ),
        _p(
            "qq",
            "QQ Mail",
            ("imap.qq.com", 993, "tls"),
            ("smtp.qq.com", 465, "tls"),
            None,
            domains=("qq.com", "foxmail.com"),
            note="Use the authorization code from QQ Mail's settings.",
        ),
        _p(
            "163",
            "NetEase 163",
            ("imap.163.com", 993, "tls"),
            ("smtp.163.com", 465, "tls"),
            None,
            domains=("163.com",),
            send_id=True,
            note="Use the client authorization code.",
        ),
        _p(
            "126",
            "NetEase 126",
            ("imap.126.com", 993, "tls"),
            ("smtp.126.com", 465, "tls"),
            None,
            domains=("126.com",),
            send_id=True,
            note="Use the client authorization code.",
        ),
        _p(
            "yeah.net",
            "NetEase yeah.net",
            ("imap.yeah.net", 993, "tls"),
            ("smtp.yeah.net", 465, "tls"),
            None,
            domains=("yeah.net",),
            send_id=True,
            note="Use the client authorization code.",
        ),
        _p(
            "139",
            "China Mobile 139",
            ("imap.139.com", 993, "tls"),
            ("smtp.139.com", 465, "tls"),
            None,
            domains=("139.com",),
        ),
        _p(
            "aliyun",
            "Aliyun Mail",
            ("imap.aliyun.com", 993, "tls"),
            ("smtp.aliyun.com", 465, "tls"),
            None,
            domains=("aliyun.com",),
        ),
        _p(
            "godaddy",
            "GoDaddy Workspace Email",
            ("imap.secureserver.net", 993, "tls"),
            ("smtpout.secureserver.net", 465, "tls"),
            None,
            note="GoDaddy's Microsoft 365 mailboxes use --provider office365.",
        ),
        _p(
            "bluehost",
            "Bluehost",
            ("mail.{domain}", 993, "tls"),
            ("mail.{domain}", 465, "tls"),
            None,
            note="The server is mail.<your domain>; give --imap-host if Bluehost told you another.",
        ),
        _p(
            "namecheap",
            "Namecheap Private Email",
            ("mail.privateemail.com", 993, "tls"),
            ("mail.privateemail.com", 465, "tls"),
            None,
        ),
        _p(
            "gandi",
            "Gandi Mail (GandiMail)",
            ("mail.gandi.net", 993, "tls"),
            ("mail.gandi.net", 465, "tls"),
            None,
            note="Gandi hosts mail for your own domain: give --address you@your-domain.",
        ),
        _p(
            "hover",
            "Hover",
            ("mail.hover.com", 993, "tls"),
            ("mail.hover.com", 465, "tls"),
            None,
            note="Hover hosts mail for your own domain: give --address you@your-domain.",
        ),
        _p(
            "soverin",
            "Soverin",
            ("imap.soverin.net", 993, "tls"),
            ("smtp.soverin.net", 465, "tls"),
            None,
            domains=("soverin.net",),
        ),
        _p(
            "123-reg",
            "123-reg",
            ("imap.123-reg.co.uk", 993, "tls"),
            ("smtp.123-reg.co.uk", 465, "tls"),
            None,
            note="123-reg hosts mail for your own domain: give --address you@your-domain.",
        ),
        _p(
            "zimbra",
            "Zimbra (your organization's server)",
            ("mail.{domain}", 993, "tls"),
            ("mail.{domain}", 587, "starttls"),
            None,
            note="Zimbra runs on your organization's own host; give it with --imap-host/--smtp-host.",
        ),
    )
}


def get_provider(key: str) -> Provider:
    try:
        return PROVIDERS[key.lower()]
    except KeyError:
        raise KeyError(f"unknown provider {key!r}; known: {', '.join(PROVIDERS)}") from None


def provider_for_address(address: str) -> Provider | None:
    """The provider whose consumer domain the address is on (not Workspace/365 custom domains)."""
    domain = address.rpartition("@")[2].lower()
    for provider in PROVIDERS.values():
        if domain in provider.domains:
            return provider
    return None


# --- special folders --------------------------------------------------------------------------


def role_of(name: str, flags: Iterable[str]) -> str | None:
    """The role a server gave a folder through its SPECIAL-USE attributes (or INBOX by name)."""
    if name.upper() == "INBOX":
        return "inbox"
    for flag in flags:
        role = SPECIAL_USE.get(flag.lower())
        if role:
            return role
    return None


def assign_roles(
    folders: Iterable[tuple[str, str | None, Iterable[str]]], provider: Provider | None = None
) -> dict[str, str]:
    """Map each role to one folder name, from (name, delimiter, flags) as LIST reports them.

    SPECIAL-USE attributes win. A role that no folder is flagged with is guessed from the
    usual names only when the provider allows it (never for Gmail) and then only among
    top-level folders or those directly under INBOX, where clients put them.
    """
    folders = [(name, delim, [f.lower() for f in flags]) for name, delim, flags in folders]
    roles: dict[str, str] = {}
    for name, _delim, flags in folders:
        role = role_of(name, flags)
        if role and role not in roles and "\\noselect" not in flags:
            roles[role] = name
    if provider is not None and not provider.guess_folder_names:
        return roles
    for role, names in FALLBACK_NAMES.items():
        if role in roles:
            continue
        for name, delim, flags in folders:
            parts = name.split(delim) if delim else [name]
            if len(parts) == 2 and parts[0].upper() == "INBOX":
                parts = parts[1:]
            if len(parts) == 1 and parts[0].lower() in names and "\\noselect" not in flags:
                roles[role] = name
                break
    return roles
