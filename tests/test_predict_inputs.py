"""Input checks and language identification (no model needed)."""

import pytest

from xlt.errors import XltError
from xlt.langid import detect_language
from xlt.predict import MAX_CHARS, check_text


@pytest.mark.parametrize("text, message", [
    ("", "is empty"), ("   \n\t ", "is empty"), (None, "is missing"), (42, "must be a string"),
    ("x" * (MAX_CHARS + 1), "limit is"), ("\x00\x01\x02\x03\x04\x05\x06\x07" * 20, "binary"),
    ("\ud800", "invalid characters"), ("caf\udce9", "invalid characters"), ("...", "no letters, digits or symbols"),
    ("\u0301\u0301", "no letters, digits or symbols"), ("\u200b\u200b\u200b", "no letters, digits or symbols"),
])
def test_bad_text_is_refused_with_a_reason(text, message):
    with pytest.raises(XltError, match=message):
        check_text(text)


def test_long_and_odd_text_is_accepted():
    for text in ("word " * 20_000, "😀🎉👍", "Hello\u202eworld", "a\u0000b", "\ufeffBOM text"):
        assert check_text(text) == text  # accepted unchanged (100k characters: the model truncates)


@pytest.mark.parametrize("text, lang", [
    ("Ce film était une perte de temps.", "fr"), ("Der Zug ist heute pünktlich angekommen.", "de"),
    ("El equipo ganó el partido de fútbol anoche.", "es"), ("Это был отличный день.", "ru"),
    ("هذا يوم جميل جدا", "ar"), ("यह एक अच्छी फिल्म है", "hi"), ("今天天气很好，我们去公园吧。", "zh"),
    ("วันนี้อากาศดีมาก", "th"),
])
def test_language_detection(text, lang):
    assert detect_language(text).code == lang


def test_no_letters_means_undetermined():
    assert detect_language("😀🎉👍 123 !!!").code == "und"
