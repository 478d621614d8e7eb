"""Provider presets and how special folders are found (SPECIAL-USE first, names only as a fallback)."""

from __future__ import annotations

import pytest

from pdmail.accounts.providers import PROVIDERS, assign_roles, get_provider, provider_for_address

SPEC_PROVIDERS = [
    "gmail",
    "outlook",
    "office365",
    "icloud",
    "yahoo",
    "aol",
    "fastmail",
    "gmx",
    "mailru",
    "yandex",
    "zoho",
    "qq",
    "163",
    "126",
    "yeah.net",
    "139",
    "aliyun",
    "godaddy",
    "bluehost",
    "namecheap",
    "zimbra",
    "gandi",
    "hover",
    "soverin",
    "123-reg",
]


@pytest.mark.parametrize("key", SPEC_PROVIDERS)
def test_every_listed_provider_has_a_verified_tls_preset(key):
    provider = get_provider(key)
    assert provider.imap.security in ("tls", "starttls") and provider.imap.port in (993, 143)
    assert provider.smtp is not None and provider.smtp.port in (465, 587)
    assert (provider.smtp.port == 465) == (provider.smtp.security == "tls")


def test_gmail_and_microsoft_save_sent_mail_themselves_and_microsoft_needs_oauth2():
    assert get_provider("gmail").saves_sent is True
    assert get_provider("outlook").saves_sent is True and get_provider("outlook").oauth2 == "required"
    assert get_provider("office365").oauth2 == "required"
    assert get_provider("fastmail").saves_sent is False


def test_unknown_provider_names_the_known_ones():
    with pytest.raises(KeyError, match="gmail"):
        get_provider("hotmale")


def test_address_domains_find_their_provider_and_hosting_templates_take_the_domain():
    assert provider_for_address("ana@googlemail.com").key == "gmail"
    assert provider_for_address("ana@Hotmail.com").key == "outlook"
    assert provider_for_address("ana@163.com").send_id
    assert provider_for_address("ana@northwind.example") is None
    assert PROVIDERS["bluehost"].imap.for_domain("northwind.example").host == "mail.northwind.example"


GMAIL_GERMAN = [
    ("INBOX", "/", ["\\HasNoChildren"]),
    ("[Google Mail]", "/", ["\\HasChildren", "\\Noselect"]),
    ("[Google Mail]/Alle Nachrichten", "/", ["\\All", "\\HasNoChildren"]),
    ("[Google Mail]/Gesendet", "/", ["\\HasNoChildren", "\\Sent"]),
    ("[Google Mail]/Papierkorb", "/", ["\\HasNoChildren", "\\Trash"]),
    ("[Google Mail]/Spam", "/", ["\\HasNoChildren", "\\Junk"]),
    ("[Google Mail]/Entwürfe", "/", ["\\Drafts", "\\HasNoChildren"]),
    ("Sent", "/", ["\\HasNoChildren"]),  # a user label that merely looks like a Sent folder
]


def test_gmail_roles_come_from_special_use_whatever_the_language():
    roles = assign_roles(GMAIL_GERMAN, get_provider("gmail"))
    assert roles == {
        "inbox": "INBOX",
        "all": "[Google Mail]/Alle Nachrichten",
        "sent": "[Google Mail]/Gesendet",
        "trash": "[Google Mail]/Papierkorb",
        "junk": "[Google Mail]/Spam",
        "drafts": "[Google Mail]/Entwürfe",
    }


def test_gmail_never_guesses_by_name():
    unflagged = [
        (name, delim, [f for f in flags if f in ("\\HasNoChildren", "\\HasChildren")])
        for name, delim, flags in GMAIL_GERMAN
    ]
    assert assign_roles(unflagged, get_provider("gmail")) == {"inbox": "INBOX"}


def test_servers_without_special_use_get_roles_from_usual_names():
    folders = [
        ("INBOX", ".", []),
        ("INBOX.Sent Items", ".", []),
        ("INBOX.Gelöschte Objekte", ".", []),
        ("Projects.Archive", ".", []),
        ("Archiv", ".", []),
        ("Junk", ".", ["\\Noselect"]),
    ]
    assert assign_roles(folders) == {
        "inbox": "INBOX",
        "sent": "INBOX.Sent Items",
        "trash": "INBOX.Gelöschte Objekte",
        "archive": "Archiv",
    }


def test_a_flagged_folder_beats_a_folder_with_the_usual_name():
    folders = [("Sent", "/", []), ("Outbox copies", "/", ["\\Sent"])]
    assert assign_roles(folders)["sent"] == "Outbox copies"
