"""Saving attachments: names chosen by a sender never escape the folder, hide, or replace a file."""

from __future__ import annotations

import json
import os

import pytest

from pdmail.mime.attachment_names import numbered, save_name
from pdmail.mime.parse import attachment_payloads, parse_message

pytestmark = pytest.mark.both_engines

CAPTURE = "capture@bcc.northwind.example"


@pytest.mark.parametrize(
    "given,expected",
    [
        ("offer.pdf", "offer.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\evil.dll", "evil.dll"),
        ("/absolute/path.txt", "path.txt"),
        ("C:evil.txt", "C_evil.txt"),
        ("..", "attachment-3.pdf"),
        (".bashrc", "bashrc"),
        ("", "attachment-3.pdf"),
        ("   ", "attachment-3.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("a\x00b\x1b[31m.txt", "ab[31m.txt"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("trailing. . .", "trailing"),
        ('what?"<>|*.txt', "what______.txt"),
    ],
)
def test_save_names_are_safe(given, expected):
    assert save_name(given, "application/pdf", 3) == expected


DEVICES = ["CON", "PRN", "AUX", "NUL", "COM1", "COM9", "LPT1", "COM\u00b9", "LPT\u00b3", "CONIN$", "CONOUT$", "CLOCK$"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "shape", ["{}", "{lower}", "{title}", "{}.txt", "{lower}.tar.gz", "{} .txt", "{}. . ", "{}.txt. ", "  {}"]
)
def test_windows_device_names_are_never_saved_as_they_are(device, shape):
    given = shape.format(device, lower=device.lower(), title=device.title())
    name = save_name(given, "application/octet-stream", 1)
    assert name.startswith("_"), name
    assert name[1:].split(".")[0].rstrip(" ").lower() == device.lower()


@pytest.mark.parametrize(
    "given",
    [
        "console.txt",
        "conin.txt",
        "conout.log",
        "clock.png",
        "com10.txt",
        "lpt.doc",
        "auxiliary.pdf",
        "nul_report.csv",
        "my con.txt",
    ],
)
def test_names_that_only_start_like_a_device_are_kept(given):
    assert save_name(given, "application/octet-stream", 1) == given


def test_long_names_keep_their_extension_and_fit():
    name = save_name("é" * 300 + ".pdf", "application/pdf", 1)
    assert name.endswith(".pdf") and len(name.encode()) <= 200


def test_numbered_names():
    assert numbered("report.pdf", 2) == "report (2).pdf"
    assert numbered("README", 3) == "README (3)"


def multipart(*parts: tuple[str, str, bytes]) -> bytes:
    head = (
        b"From: Maria Lopez <maria@northwind.example>\r\nTo: Ada <ada@acme.example>\r\nSubject: Files\r\n"
        b"Date: Mon, 16 Nov 2026 09:12:00 +0000\r\nMessage-ID: <files@northwind.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nsee files\r\n'
    )
    body = b""
    for filename, ctype, data in parts:
        import base64

        body += (
            f"--zz\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\n"
            f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n'
        ).encode()
        body += base64.encodebytes(data).replace(b"\n", b"\r\n")
    return head + body + b"--zz--\r\n"


def test_payloads_come_in_the_order_the_parser_lists_attachments():
    raw = multipart(("a.bin", "application/octet-stream", b"\x00\x01" * 100), ("b.txt", "text/plain", b"bee"))
    parsed = parse_message(raw)
    payloads = attachment_payloads(raw)
    assert [a for a, _ in payloads] == list(parsed.attachments)
    assert [d for _, d in payloads] == [b"\x00\x01" * 100, b"bee"]
    assert [len(d) for _, d in payloads] == [a.size for a in parsed.attachments]


@pytest.fixture
def stored(company):
    company.ok("settings", "set", "bcc-address", CAPTURE)
    raw = multipart(
        ("../../escape.txt", "text/plain", b"one"),
        (".hidden", "text/plain", b"two"),
        ("same.txt", "text/plain", b"three"),
        ("same.txt", "text/plain", b"four"),
    )
    result = company("bcc-ingest", "--json", input=raw)
    assert result.exit_code == 0, result.stderr
    return company, json.loads(result.stdout)[0]["id"]


def test_saving_stays_in_the_folder_and_never_overwrites(stored, tmp_path):
    cli, email_id = stored
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "same.txt").write_bytes(b"mine")
    result = cli("show", str(email_id), "--save-attachments", str(folder), "--json")
    assert result.exit_code == 0, result.stderr
    saved = json.loads(result.stdout)["saved"]
    assert sorted(os.listdir(folder)) == ["escape.txt", "hidden", "same (2).txt", "same (3).txt", "same.txt"]
    assert (folder / "same.txt").read_bytes() == b"mine"
    assert (folder / "same (2).txt").read_bytes() == b"three" and (folder / "same (3).txt").read_bytes() == b"four"
    assert not (tmp_path / "escape.txt").exists()
    assert [s["size"] for s in saved] == [3, 3, 5, 4]
    assert all(os.path.dirname(s["path"]) == str(folder) for s in saved)
    assert oct((folder / "escape.txt").stat().st_mode & 0o777) == "0o600"


def test_a_planted_symlink_is_not_written_through(stored, tmp_path):
    cli, email_id = stored
    folder = tmp_path / "out"
    folder.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (folder / "escape.txt").symlink_to(victim)
    assert cli("show", str(email_id), "--save-attachments", str(folder)).exit_code == 0
    assert victim.read_bytes() == b"keep"
    assert (folder / "escape (2).txt").read_bytes() == b"one"


def test_saving_into_a_file_is_a_usage_error(stored, tmp_path):
    cli, email_id = stored
    target = tmp_path / "file"
    target.write_text("x")
    result = cli("show", str(email_id), "--save-attachments", str(target))
    assert result.exit_code == 2 and "not a folder" in result.stderr


def test_human_output_reports_each_saved_file(stored, tmp_path):
    cli, email_id = stored
    result = cli("show", str(email_id), "--save-attachments", str(tmp_path / "new"))
    assert result.exit_code == 0
    assert result.stderr.count("Saved ") == 4 and (tmp_path / "new").is_dir()
