"""JSON for terminals: the characters that rewrite a display are escaped, plain text is left alone."""

from __future__ import annotations

import json

import pytest

from pdmail.core import json_text


@pytest.mark.parametrize(
    "char", ["\x7f", "\x85", "\x9f", "\u061c", "\u200e", "\u202e", "\u2066", "\u2028", "\ufeff", "\ud800"]
)
def test_display_changing_characters_are_escaped(char):
    text = json_text.dumps({"subject": f"a{char}b"})
    assert text == '{"subject": "a\\u' + f"{ord(char):04x}" + 'b"}'
    assert char not in text
    if char != "\ud800":
        assert json.loads(text) == {"subject": f"a{char}b"}  # the very same value


@pytest.mark.parametrize("text", ['plain ascii, \\ and " too', "Grüße, ½, 日本語", "\t tab", ""])
def test_other_text_is_left_as_written(text):
    assert json_text.escape(text) == text
    assert json.loads(json_text.dumps(text)) == text
