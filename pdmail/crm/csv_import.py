"""Reading CRM exports: any common encoding, flexible headers, the file line of every row.

Pure: it turns bytes into rows; the store decides what each row means.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

# Header spellings seen in CRM exports, mapped to our field names. Compared after lower-casing
# and dropping everything but letters, so "Person - Email - Work" becomes "personemailwork".
CONTACT_FIELDS = {
    "name": {"name", "fullname", "personname", "contactname", "contact", "person"},
    "first_name": {"firstname", "givenname", "forename", "personfirstname", "contactfirstname"},
    "last_name": {"lastname", "surname", "familyname", "personlastname", "contactlastname"},
    "email": {
        "email",
        "emails",
        "emailaddress",
        "emailaddresses",
        "personemail",
        "personemailwork",
        "personemailhome",
        "personemailother",
        "emailwork",
        "emailhome",
        "workemail",
        "mail",
    },
    "org": {
        "organization",
        "organisation",
        "org",
        "company",
        "companyname",
        "organizationname",
        "personorganization",
        "account",
        "accountname",
    },
    "domain": {"domain", "domains", "organizationdomain", "organisationdomain", "orgdomain", "companydomain"},
    "title": {"title", "jobtitle", "persontitle", "position", "role"},
    "phone": {"phone", "phonenumber", "personphone", "personphonework", "mobile", "telephone"},
}
DEAL_FIELDS = {
    "title": {"title", "dealtitle", "name", "dealname", "deal", "opportunity", "opportunityname"},
    "value": {"value", "dealvalue", "amount", "dealamount"},
    "currency": {"currency", "dealcurrency", "valuecurrency"},
    "status": {"status", "dealstatus", "stage", "state"},
    "person": {"person", "contact", "personname", "personemail", "contactemail", "contactname", "email"},
    "org": {"organization", "organisation", "org", "company", "organizationname", "dealorganization"},
    "domain": {"domain", "domains", "organizationdomain", "organisationdomain", "orgdomain", "companydomain"},
}


@dataclass(frozen=True)
class CsvRow:
    line: int  # file line where the row starts; the header is line 1
    fields: dict[str, str]


class CsvFormatError(ValueError):
    pass


def decode_bytes(data: bytes) -> str:
    """UTF-8 (with or without BOM), then UTF-16 with BOM, else Windows-1252, which decodes anything."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _key(header: str) -> str:
    return re.sub(r"[^a-z]", "", header.lower())


def read_rows(data: bytes, fields: dict[str, set[str]], required: tuple[str, ...]) -> list[CsvRow]:
    text = decode_bytes(data)
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFormatError("the file is empty; expected a header row") from None
    columns: dict[int, str] = {}
    for index, name in enumerate(header):
        key = _key(name)
        for field, spellings in fields.items():
            if key in spellings and field not in columns.values():
                columns[index] = field
                break
    missing = [f for f in required if f not in columns.values()]
    if missing:
        raise CsvFormatError(f"no {' or '.join(missing)} column in the header (found: {', '.join(header)})")
    rows: list[CsvRow] = []
    next_line = reader.line_num + 1
    for record in reader:
        line = next_line
        next_line = reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        values: dict[str, str] = {}
        for index, field in columns.items():
            if index < len(record):
                values[field] = record[index].strip()
        rows.append(CsvRow(line, values))
    return rows


def split_domains(cell: str) -> list[str]:
    """An organization's domains in one cell: ``acme.example, acme.eu``."""
    return [part.strip() for part in re.split(r"[,;\s]+", cell) if part.strip()]


def split_addresses(cell: str) -> list[str]:
    return [address for _name, address in named_addresses(cell)]


def named_addresses(cell: str) -> list[tuple[str, str]]:
    """The (display name, address) pairs of a cell: ``ada@acme.example, ada@home.example``, or as a
    mail program copies them, ``Ada Byron <ada@acme.example>; "Byron, Ada" <ada@home.example>``.

    Plain addresses may be separated by commas, semicolons or spaces; a cell with a name in it is read
    as an address header is, so a comma inside a quoted name stays in the name. Text that is no
    address comes back as written, for the caller to refuse by name.
    """
    if not any(mark in cell for mark in '<"('):
        return [("", part.strip()) for part in re.split(r"[,;\s]+", cell) if part.strip()]
    from pdmail.mime.address_list import read_mailboxes

    return [(mailbox.name.strip(), mailbox.address) for mailbox in read_mailboxes(cell)]
