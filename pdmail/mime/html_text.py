"""HTML mail bodies as readable plain text, for the terminal and the search index.

Nothing is fetched: images are dropped and links are kept as text. Scripts and styles never reach the text.

The markup is a stranger's, and the converter underneath (html2text, on Python's HTML parser) has
shapes that cost quadratic time: an unclosed tag, comment or quoted attribute is scanned again from
every later ``<``; a long run of blank lines is scanned again from every line by its markdown escaping;
every line of a deeply nested list or quote carries the whole nesting. So the markup is first
rewritten, in one left-to-right pass, into a small well-formed subset: only the tags that shape text,
each one complete, a link keeping only its target, whitespace outside ``<pre>`` collapsed (the
converter collapses it anyway), nesting capped. Only that subset reaches the converter.
"""

from __future__ import annotations

import re

# Converting a huge HTML body costs seconds; the readable text is capped far below this anyway.
MAX_HTML_CHARS = 2_000_000
# Lists and quotes nested deeper than this are not indented further: every line would carry the depth.
MAX_NESTING = 32
# The converter costs some microseconds per tag; past this many (far more than any real mail has),
# tags only separate words, so that 2 MB of tags costs a second, not many.
MAX_TAGS = 50_000

# The tags the converter acts on. Any other tag reaches it as a plain <span> or </span>, which the
# converter reads as a tag it does not know, as it read the original; comments and declarations reach
# it as an empty comment, which still ends a run of text where they did.
_KEPT = frozenset({
    "a", "p", "div", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd",
    "blockquote", "pre", "tr", "q", "code", "kbd", "tt", "del", "strike", "s",
})  # fmt: skip
_VOID = frozenset({"br", "hr"})
_OTHER_TAG, _OTHER_END_TAG = "<span>", "</span>"
_NOTHING = "<!---->"
_NESTING = {"ul": "list", "ol": "list", "blockquote": "quote"}  # tag -> the depth it adds to
_ATTRIBUTES = {"a": ("href", "title"), "ol": ("start",)}
_CELLS = frozenset({"td", "th"})  # layout tables are read as text: neighbouring cells kept apart
# Elements whose content is never text, dropped up to their end tag. Without one, a script or style
# takes the rest of the text (as the converter would); a title is read as text.
_RAW_TEXT_END = {name: re.compile(rf"</{name}[\s/>]", re.IGNORECASE) for name in ("script", "style", "title")}
# A <head> ends at </head>, or where a <body> or </body> tag is (the converter's reading too).
_HEAD_END_RE = re.compile(r"</head[\s/>]|</?body[\s/>]", re.IGNORECASE)

_TAG_NAME_RE = re.compile(r"<(/?)([A-Za-z][^\s/>]*)")
# The rest of a tag up to its ">", with a quoted attribute value (which may hold ">") read whole; a
# quote that is never closed counts as a plain character. Possessive throughout, so a tag that never
# ends costs one scan to the end of the text and no backtracking.
_TAG_REST_RE = re.compile(r"""[^>="']*+(?:(?:=\s*+(?:"[^"]*+"|'[^']*+')?+|["'])[^>="']*+)*+>""")
_ATTR_RE = re.compile(r"""([^\s"'>/=]++)(?:\s*+=\s*+("[^"]*+"|'[^']*+'|[^\s>]*+))?+""")
# Whitespace as the converter will collapse it, keeping line starts where they were: its markdown
# escaping reads line starts, and rescans a long run of blank lines from every line of it.
_INLINE_SPACES_RE = re.compile(r"[^\S\n]+")
_LINE_BREAKS_RE = re.compile(r" ?\n\s*")
# "&#" with no number after it stops Python's HTML parser, which then hands the rest of the document
# over as text, tags and all: it is written as the text it is.
_BROKEN_CHARREF_RE = re.compile(r"&#(?![0-9]|[xX][0-9a-fA-F])")

_TAG_RE = re.compile(r"<[^>]*>")
_BLOCK_RE = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h[1-6]|/table)\b[^>]*>", re.IGNORECASE)
_BLANKS_RE = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def html_to_text(markup: str) -> str:
    markup = well_formed(markup[:MAX_HTML_CHARS])
    try:
        text = _convert(markup)
    except Exception:  # noqa: BLE001 - a third-party converter on hostile markup; fall back, never fail
        text = _strip_tags(markup)
    return _BLANKS_RE.sub("\n\n", text).strip()


def well_formed(markup: str) -> str:
    """The markup as the small subset the converter is given, in time linear in its length."""
    return _Rewriter(markup).run()


class _Rewriter:
    """One pass over the markup: text is copied, each tag is read once and kept, replaced or skipped."""

    def __init__(self, markup: str) -> None:
        self.markup = markup
        self.out: list[str] = []
        self.pre = False  # inside <pre>, as the converter tracks it: whitespace is kept there
        self.depth = {"list": 0, "quote": 0}
        self.skipped = {"ul": 0, "ol": 0, "blockquote": 0}  # openings left out for being too deep
        self.no_end_after: dict[str, int] = {}  # a raw-text element's end tag is nowhere past this
        self.tags_left = MAX_TAGS

    def run(self) -> str:
        markup = self.markup
        pos, end = 0, len(markup)
        while pos < end:
            lt = markup.find("<", pos)
            if lt == -1:
                self.text(markup[pos:])
                break
            if lt > pos:
                self.text(markup[pos:lt])
            pos = self.markup_at(lt)
        return "".join(self.out)

    def text(self, segment: str) -> None:
        # Holds no "<" (reading stops at each one); entities stay for the converter to read.
        if not self.pre:
            segment = _LINE_BREAKS_RE.sub("\n", _INLINE_SPACES_RE.sub(" ", segment))
        if "&#" in segment:
            segment = _BROKEN_CHARREF_RE.sub("&amp;#", segment)
        self.out.append(segment)

    def markup_at(self, lt: int) -> int:
        """Handle what starts with the ``<`` at ``lt``; where reading goes on (the end: nothing more)."""
        markup = self.markup
        if markup.startswith("<!--", lt):
            close = markup.find("-->", lt + 2)
            return self.nothing(len(markup) if close == -1 else close + 3)
        name_match = _TAG_NAME_RE.match(markup, lt)
        if name_match is None:
            if markup.startswith(("<!", "<?", "</"), lt):  # a declaration or a bogus comment, to ">"
                close = markup.find(">", lt)
                return self.nothing(len(markup) if close == -1 else close + 1)
            self.out.append("&lt;")
            return lt + 1
        rest = _TAG_REST_RE.match(markup, name_match.end())
        if rest is None:
            return len(markup)  # a tag that never ends takes the rest of the text with it
        name = name_match.group(2).lower()
        after = rest.end()
        self.tags_left -= 1
        if self.tags_left < 0:
            self.out.append(" ")
            return after
        if name_match.group(1):
            self.end_tag(name)
            return after
        if name in _RAW_TEXT_END:
            return self.skip_raw_text(name, after)
        if name == "head":
            return self.skip_head(after)
        self.start_tag(name, rest.group(0)[:-1])
        return after

    def nothing(self, pos: int) -> int:
        self.out.append(_NOTHING)
        return pos

    def skip_head(self, pos: int) -> int:
        found = _HEAD_END_RE.search(self.markup, pos)
        if found is None:
            return len(self.markup)
        self.out.append(" ")
        if not found.group(0).lower().startswith("</head"):
            return found.start()  # <body> or </body>, read as any other tag
        rest = _TAG_REST_RE.match(self.markup, found.end() - 1)
        return len(self.markup) if rest is None else rest.end()

    def skip_raw_text(self, name: str, pos: int) -> int:
        rest = None
        if pos < self.no_end_after.get(name, len(self.markup) + 1):  # else searched before: in vain
            found = _RAW_TEXT_END[name].search(self.markup, pos)
            rest = _TAG_REST_RE.match(self.markup, found.end() - 1) if found is not None else None
        if rest is None:
            self.no_end_after[name] = pos
            if name == "title":
                self.out.append(_OTHER_TAG)
                return pos
            return len(self.markup)
        self.out.append(" ")
        return rest.end()

    def start_tag(self, name: str, attributes: str) -> None:
        if name not in _KEPT:
            self.out.append(_OTHER_TAG)
            return
        kept = _kept_attributes(name, attributes)
        if _self_closing(attributes) and name not in _VOID:
            # <a name="x"/>: the converter takes it as an opening and a closing at once.
            self.out.append(f"<{name}{kept}/>")
            return
        kind = _NESTING.get(name)
        if kind is not None:
            if self.depth[kind] >= MAX_NESTING:
                self.skipped[name] += 1
                return
            self.depth[kind] += 1
        if name == "pre":
            self.pre = True
        self.out.append(f"<{name}{kept}>")

    def end_tag(self, name: str) -> None:
        if name in _CELLS:
            self.out.append(" ")
        if name not in _KEPT:
            self.out.append(_OTHER_END_TAG)
            return
        kind = _NESTING.get(name)
        if kind is not None:
            if self.skipped[name]:
                self.skipped[name] -= 1
                return
            self.depth[kind] = max(self.depth[kind] - 1, 0)
        if name == "pre":
            self.pre = False
        self.out.append(f"</{name}>")


def _self_closing(attributes: str) -> bool:
    """``<a name="x"/>`` or ``<br />``, but not ``<a href=x/>``, whose slash ends the value."""
    stripped = attributes.rstrip()
    return stripped.endswith("/") and (len(stripped) == 1 or stripped[-2] in " \t\n\r\f\"'")


def _kept_attributes(name: str, attributes: str) -> str:
    """A link's target and title and a numbered list's start, re-quoted; other attributes are left out."""
    wanted = _ATTRIBUTES.get(name)
    if not wanted:
        return ""
    kept: dict[str, str] = {}
    for match in _ATTR_RE.finditer(attributes):
        key = match.group(1).lower()
        if key not in wanted or key in kept:
            continue
        value = match.group(2) or ""
        if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) > 1:
            value = value[1:-1]
        if key == "start" and not (value.isdigit() and len(value) < 10):
            continue
        kept[key] = value
    from html import escape  # here: plain-text mail, most of it, never loads the entity tables

    # Entities in the values stay for the converter to read; only what would end the value is escaped.
    return "".join(f' {key}="{escape(value).replace("&amp;", "&")}"' for key, value in kept.items())


def _convert(markup: str) -> str:
    import html2text

    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True
    converter.inline_links = True
    converter.protect_links = False
    converter.unicode_snob = True
    return converter.handle(markup)


def _strip_tags(markup: str) -> str:
    from html import unescape

    text = _BLOCK_RE.sub("\n", markup)
    return unescape(_TAG_RE.sub("", text))
