"""mail-parser next to pdmail's own parser, and nh3 next to pdmail's HTML-to-text, on real mail.

The figures behind the README's "Dependencies" section: why pdmail parses mail itself and does without
mail-parser and nh3. Both parsers read the same bytes, in the same process, round after round:

- speed: microseconds of wall and CPU time per message (median over the rounds);
- what goes wrong: messages a parser raises on, refuses, or reads with lone surrogates (undecodable
  bytes smuggled into text, which break UTF-8 output and JSON), replacement characters, no From
  address, or addresses, subject, date or body that the other parser found and this one did not;
- the named bad-input corpus of the test suite (tests/mailcorpus.py), case by case, with a time limit;
- HTML bodies: pdmail's html_to_text against nh3.clean with no tags allowed.

Run (mail-parser and nh3 are not pdmail dependencies: `pip install -r bench/requirements.txt` first):

    python bench/parser_compare.py CORPUS [CORPUS ...] [--rounds 3] [--examples 3] [--json-out out.json]
    PDMAIL_CORPUS=CORPUS python bench/parser_compare.py

CORPUS is what `pdmail bcc-ingest` takes (mbox files, Maildir folders, folders of .eml files) or a
folder of ``*.mbox`` files. PDMAIL_CORPUS may hold several paths separated by ``os.pathsep``.
"""

from __future__ import annotations

import argparse
import email
import html
import json
import logging
import os
import re
import signal
import statistics
import sys
import time
from collections import Counter
from datetime import UTC
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import measure  # noqa: E402

from pdmail.capture.inputs import expand  # noqa: E402
from pdmail.core.addresses import normalize_address, normalize_message_id  # noqa: E402
from pdmail.mime.html_text import html_to_text  # noqa: E402
from pdmail.mime.parse import MessageRefused, parse_message  # noqa: E402

# A bad-input case that takes longer than this counts as a hang.
CASE_TIMEOUT_S = 20
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_ENCODED_WORD_RE = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_SPACE_RE = re.compile(r"\s+")


def _need(module: str, distribution: str):
    try:
        return __import__(module)
    except ImportError:
        sys.exit(
            f"{distribution} is not installed: pip install -r bench/requirements.txt (or pip install {distribution})"
        )


# --- reading the corpus ------------------------------------------------------------------------------


def corpus_paths(args: list[str]) -> list[str]:
    if not args:
        args = [p for p in os.environ.get("PDMAIL_CORPUS", "").split(os.pathsep) if p]
    if not args:
        sys.exit("give the corpus: mbox files, Maildir or .eml folders as arguments, or in PDMAIL_CORPUS")
    paths: list[str] = []
    for name in args:
        path = Path(name)
        boxes = sorted(path.glob("*.mbox")) if path.is_dir() else []
        paths.extend(str(p) for p in boxes) if boxes else paths.append(name)
    return paths


def load_messages(paths: list[str]) -> list[tuple[str, bytes]]:
    messages = []
    for item in expand(paths):
        if item.error:
            sys.exit(item.error)
        messages.append((_short_label(item.label), item.read()))
    return messages


def _short_label(label: str) -> str:
    """'ltp.mbox#12' rather than the whole path: the report names messages, not this machine's folders."""
    return Path(label).name


# --- one reading per parser, in the same shape ------------------------------------------------------


def read_with_pdmail(raw: bytes) -> dict:
    parsed = parse_message(raw)
    return {
        "from": [(a.name, a.email) for a in parsed.from_],
        "to": [(a.name, a.email) for a in parsed.to],
        "cc": [(a.name, a.email) for a in parsed.cc],
        "subject": parsed.subject,
        "date": parsed.date_utc if parsed.date_source == "header" else None,
        "message_id": parsed.message_id_norm,
        "text": parsed.text,
        "attachments": [a.filename for a in parsed.attachments],
    }


def read_with_mailparser(raw: bytes) -> dict:
    """Everything pdmail needs from a message, through mail-parser's documented attributes.

    Given every benefit of the doubt: the first of repeated headers (mail-parser returns a list then),
    its sanitized attachment names, and the Message-ID normalized as pdmail normalizes its own.
    """
    import mailparser

    mail = mailparser.parse_from_bytes(raw)
    subject, message_id = _first(mail.subject), _first(mail.message_id)
    return {
        "from": list(mail.from_),
        "to": list(mail.to),
        "cc": list(mail.cc),
        "subject": subject or "",
        "date": mail.date.replace(tzinfo=UTC) if mail.date else None,  # naive, in UTC
        "message_id": normalize_message_id(message_id.strip().strip("<>")) if message_id else None,
        "text": "\n".join(mail.text_plain) or "\n".join(mail.text_html),
        "attachments": [a["safe_filename"] for a in mail.attachments],
    }


def _first(value):
    return value[0] if isinstance(value, list) and value else value


PARSERS = {"pdmail": read_with_pdmail, "mail-parser": read_with_mailparser}


# --- speed -------------------------------------------------------------------------------------------


def time_parsers(messages: list[tuple[str, bytes]], rounds: int) -> dict:
    """Microseconds per message, each parser in turn in every round, so that a busy moment hits both."""
    walls: dict[str, list[float]] = {name: [] for name in PARSERS}
    cpus: dict[str, list[float]] = {name: [] for name in PARSERS}
    for _ in range(rounds):
        for name, read in PARSERS.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            for _, raw in messages:
                try:
                    read(raw)
                except Exception:  # noqa: BLE001 - failures are counted by check_messages, not here
                    pass
            walls[name].append(time.perf_counter() - started)
            cpus[name].append(time.process_time() - cpu_started)
    per = 1e6 / len(messages)
    return {
        name: {
            "wall_us_per_message": statistics.median(walls[name]) * per,
            "cpu_us_per_message": statistics.median(cpus[name]) * per,
            "rounds_wall_s": walls[name],
        }
        for name in PARSERS
    }


# --- what goes wrong ---------------------------------------------------------------------------------


def _strings(reading: dict) -> list[str]:
    values = [reading["subject"], reading["text"], *(a for a in reading["attachments"] if a)]
    for field in ("from", "to", "cc"):
        for name, address in reading[field]:
            values.extend((name or "", address or ""))
    return values


def _header_strings(reading: dict) -> list[str]:
    return [reading["subject"], *(n or "" for field in ("from", "to", "cc") for n, _ in reading[field])]


def _addresses(reading: dict) -> set[str]:
    return {normalize_address(a) for field in ("from", "to", "cc") for _, a in reading[field] if a and "@" in a}


def _squeeze(text: str) -> str:
    return _SPACE_RE.sub(" ", text).strip()


def _names(mailboxes) -> dict[str, str]:
    """Display name by address; a name that only repeats the address, or quotes around it, count as the same."""
    names = {}
    for name, address in mailboxes:
        plain = _squeeze(name or "").strip('"')
        names[normalize_address(address)] = "" if plain.lower() == normalize_address(address) else plain
    return names


def differing_fields(a: dict, b: dict) -> list[str]:
    """The fields two readings of one message disagree on, whitespace aside."""
    fields = []
    for field in ("from", "to", "cc"):
        if sorted(normalize_address(x) for _, x in a[field]) != sorted(normalize_address(x) for _, x in b[field]):
            fields.append(f"{field} addresses")
        elif _names(a[field]) != _names(b[field]):
            fields.append(f"{field} names")
    for field in ("subject", "text"):
        if _squeeze(a[field]) != _squeeze(b[field]):
            fields.append(field)
    for field in ("date", "message_id", "attachments"):
        if a[field] != b[field]:
            fields.append(field)
    return fields


def outcome(read, raw: bytes) -> tuple[str, dict | None]:
    try:
        return "ok", read(raw)
    except MessageRefused as exc:
        return f"refused: {exc}", None
    except Exception as exc:  # noqa: BLE001 - the point is to count them
        return f"raised {type(exc).__name__}", None


def check_messages(messages: list[tuple[str, bytes]], examples: int) -> dict:
    """Per parser, how many messages land in each kind of trouble, with the first few labels of each."""
    counts = {name: Counter() for name in (*PARSERS, "both")}
    shown: dict[str, dict[str, list[str]]] = {name: {} for name in counts}

    def note(parser: str, kind: str, label: str, detail: str = "") -> None:
        counts[parser][kind] += 1
        seen = shown[parser].setdefault(kind, [])
        if len(seen) < examples:
            seen.append(f"{label} {detail}".strip())

    for label, raw in messages:
        readings = {}
        for name, read in PARSERS.items():
            status, reading = outcome(read, raw)
            if reading is None:
                note(name, status, label)
                continue
            readings[name] = reading
            strings = _strings(reading)
            if any(_SURROGATE_RE.search(s) for s in strings):
                note(name, "lone surrogates in text", label)
            if any("\ufffd" in s for s in strings):
                note(name, "replacement characters", label)
            if any(_ENCODED_WORD_RE.search(s) for s in _header_strings(reading)):
                note(name, "encoded words left undecoded in names or subject", label)
            if not reading["from"]:
                note(name, "no From address", label)
            if reading["date"] is None:
                note(name, "no date from the Date header", label)
        if len(readings) < 2:
            continue
        for name, other in ((a, b) for a in readings for b in readings if a != b):
            mine, theirs = readings[name], readings[other]
            missing = _addresses(theirs) - _addresses(mine)
            if missing:
                note(name, f"addresses {other} found and this one did not", label, ", ".join(sorted(missing))[:120])
            if _squeeze(theirs["text"]) and not _squeeze(mine["text"]):
                note(name, f"empty body where {other} read text", label)
            if theirs["subject"].strip() and not mine["subject"].strip():
                note(name, f"empty subject where {other} read one", label)
        for field in differing_fields(readings["pdmail"], readings["mail-parser"]):
            note("both", f"{field} differs", label)
    return {"messages": len(messages), "counts": {k: dict(v) for k, v in counts.items()}, "examples": shown}


# --- the bad-input corpus ----------------------------------------------------------------------------


class _TooSlow(Exception):
    pass


def _alarm(signum, frame):
    raise _TooSlow


def bad_input_cases() -> list[dict]:
    """Each case of the test suite's named bad-input corpus through both parsers, with a time limit."""
    sys.path.insert(0, str(ROOT / "tests"))
    from mailcorpus import corpus

    rows = []
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for name, raw in corpus().items():
            row, readings = {"case": name, "bytes": len(raw)}, {}
            for parser, read in PARSERS.items():
                signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
                started = time.perf_counter()
                try:
                    status, readings[parser] = outcome(read, raw)
                except _TooSlow:
                    status, readings[parser] = f"still parsing after {CASE_TIMEOUT_S} s", None
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                row[parser] = {"status": status, "ms": (time.perf_counter() - started) * 1000}
            if all(readings.values()):
                row["differ"] = differing_fields(readings["pdmail"], readings["mail-parser"])
            rows.append(row)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return rows


# --- HTML bodies -------------------------------------------------------------------------------------


def html_bodies(messages: list[tuple[str, bytes]]) -> list[str]:
    bodies = []
    for _, raw in messages:
        for part in email.message_from_bytes(raw).walk():
            if part.get_content_type() == "text/html":
                data = part.get_payload(decode=True) or b""
                bodies.append(data.decode(part.get_content_charset() or "utf-8", errors="replace"))
    return bodies


def _nh3_text(markup: str) -> str:
    import nh3

    return html.unescape(nh3.clean(markup, tags=set()))


_HREF_RE = re.compile(r"""href\s*=\s*["']?(https?://[^"'\s>]+)""", re.IGNORECASE)
_HIDDEN_RE = re.compile(r"<(style|script)\b[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)


def _hidden_lines(markup: str) -> list[str]:
    """Lines of style sheets and scripts: text a reader must never see."""
    return [
        line.strip() for _, body in _HIDDEN_RE.findall(markup) for line in body.splitlines() if len(line.strip()) >= 8
    ]


def compare_html(bodies: list[str]) -> dict:
    """pdmail's html_to_text against nh3 asked to keep no tag at all: time, line breaks, links, leaks."""
    results: dict = {"bodies": len(bodies), "links": sum(len(set(_HREF_RE.findall(b))) for b in bodies)}
    if not bodies:
        return results
    for name, convert in (("pdmail html_to_text", html_to_text), ("nh3.clean(tags=set())", _nh3_text)):
        started = time.perf_counter()
        texts = [convert(b) for b in bodies]
        elapsed = time.perf_counter() - started
        results[name] = {
            "us_per_body": elapsed * 1e6 / len(bodies),
            "bodies_read_as_one_line": sum(1 for t in texts if t.strip() and "\n" not in t.strip()),
            "links_kept": sum(sum(1 for url in set(_HREF_RE.findall(b)) if url in t) for b, t in zip(bodies, texts)),
            "bodies_showing_style_or_script": sum(
                1 for b, t in zip(bodies, texts) if any(line in t for line in _hidden_lines(b))
            ),
        }
    return results


def generated_messages(count: int) -> list[tuple[str, bytes]]:
    """A salesperson's generated mailbox: about half the messages carry an HTML body."""
    import mailgen

    return [(f"mailgen#{i}", raw) for i, raw in enumerate(mailgen.generate_messages(count, 1), start=1)]


# --- report ------------------------------------------------------------------------------------------


def run_all(paths: list[str], rounds: int, examples: int, generated: int) -> dict:
    _need("mailparser", "mail-parser")
    _need("nh3", "nh3")
    import mailparser  # noqa: F401 - imported once before timing, so no round pays for it

    logging.getLogger("mailparser").setLevel(logging.ERROR)  # it logs a warning per unhandled part

    messages = load_messages(paths)
    if not messages:
        sys.exit("the corpus holds no message")
    results = {
        "corpus": [Path(p).name for p in paths],
        "messages": len(messages),
        "megabytes": sum(len(r) for _, r in messages) / 1e6,
        "rounds": rounds,
        "load_before": measure.load_note(),
    }
    results["speed"] = time_parsers(messages, rounds)
    results["checks"] = check_messages(messages, examples)
    results["bad_input"] = bad_input_cases()
    results["html"] = compare_html(html_bodies(messages + generated_messages(generated)))
    results["html"]["generated_messages"] = generated
    results["load_after"] = measure.load_note()
    return results


def print_report(results: dict) -> None:
    print(
        f"{results['messages']:,} messages ({results['megabytes']:.1f} MB) from {', '.join(results['corpus'])}; "
        f"{results['rounds']} rounds; {results['load_before']}"
    )
    print(f"{'parser':<14} {'wall µs/msg':>12} {'CPU µs/msg':>11}")
    for name, s in results["speed"].items():
        print(f"{name:<14} {s['wall_us_per_message']:12.0f} {s['cpu_us_per_message']:11.0f}")
    print()
    print("messages in trouble (first examples in brackets):")
    for parser, counts in results["checks"]["counts"].items():
        for kind, n in sorted(counts.items()):
            sample = "; ".join(results["checks"]["examples"].get(parser, {}).get(kind, []))
            print(f"  {parser:<12} {n:5d}  {kind}" + (f"  [{sample}]" if sample else ""))
        if not counts:
            print(f"  {parser:<12}     0  (none)")
    print()
    print(f"bad-input corpus (tests/mailcorpus.py), {CASE_TIMEOUT_S} s limit per case:")
    print(f"  {'case':<32} {'pdmail':<40} {'mail-parser':<40} read differently")
    for row in results["bad_input"]:
        cells = [f"{row[p]['status'][:30]} {row[p]['ms']:.0f} ms" for p in PARSERS]
        print(f"  {row['case']:<32} {cells[0]:<40} {cells[1]:<40} {', '.join(row.get('differ', []))}")
    h = results["html"]
    print()
    print(
        f"HTML bodies: {h['bodies']} with {h['links']} links (the corpus plus {h['generated_messages']} "
        f"generated messages)"
    )
    for name in ("pdmail html_to_text", "nh3.clean(tags=set())"):
        if name in h:
            r = h[name]
            print(
                f"  {name:<24} {r['us_per_body']:7.0f} µs/body  {r['bodies_read_as_one_line']} read as one line  "
                f"{r['links_kept']} links kept  {r['bodies_showing_style_or_script']} showing style/script"
            )
    print(results["load_after"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="*", help="mbox files, Maildir or .eml folders, folders of *.mbox")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--examples", type=int, default=3, help="labels shown for each kind of trouble")
    parser.add_argument("--generated", type=int, default=1000, help="generated messages for the HTML comparison")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    results = run_all(corpus_paths(args.corpus), args.rounds, args.examples, args.generated)
    print_report(results)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
