"""Sentence boundaries in mixed Chinese/English, and chunking that never loses or reorders text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxdeploy.runtime.text import chunk_text, split_sentences


def test_mixed_chinese_and_english() -> None:
    text = "你好。我是小明！今天天气好吗？他说：“好的。”Hello  world!\n\nHow are you?  I'm fine; thanks."
    assert split_sentences(text) == [
        "你好。",
        "我是小明！",
        "今天天气好吗？",
        "他说：“好的。”",
        "Hello world!",
        "How are you?",
        "I'm fine;",
        "thanks.",
    ]


def test_full_width_forms_closers_and_ellipsis() -> None:
    pieces = ["「走吧！」", "她说；", "我们走……", "然后呢？", "（完。）"]
    assert split_sentences("".join(pieces)) == pieces
    assert split_sentences('He said "stop." Then (he left.) OK') == ['He said "stop."', "Then (he left.)", "OK"]


def test_ascii_punctuation_before_chinese_ends_a_sentence() -> None:
    assert split_sentences("你好!我是小明.再见") == ["你好!", "我是小明.", "再见"]


@pytest.mark.parametrize(
    "text",
    [
        "It costs 3.5 dollars and weighs 2.75 kg.",
        "Mr. Smith met Dr. Jones and Mrs. Brown.",
        "Bring fruit, e.g. Apples, i.e. Red ones, etc. And more.",
        "Cats vs. Dogs is a classic.",
        "Well... then we left.",
        "Wait… what happened?",
        "Visit example.com today.",
    ],
)
def test_no_split_inside_a_sentence(text: str) -> None:
    assert split_sentences(text) == [text]


def test_ellipsis_before_a_capital_ends_the_sentence() -> None:
    assert split_sentences("I waited... Nobody came.") == ["I waited...", "Nobody came."]


def test_punctuation_alone_is_not_a_sentence() -> None:
    assert split_sentences("... Hello. ?! Bye.") == ["... Hello.", "?! Bye."]
    assert split_sentences("  \n ") == []


def test_short_text_is_one_chunk_with_whitespace_collapsed() -> None:
    assert chunk_text("  One.  Two.\n", 20) == ["One. Two."]
    assert chunk_text("   ", 5) == []


def test_sentences_are_packed_greedily() -> None:
    assert chunk_text("One one. Two two. Three three. Four.", 17) == ["One one. Two two.", "Three three.", "Four."]
    assert chunk_text("第一句。第二句。第三句。", 8) == ["第一句。第二句。", "第三句。"]


def test_long_sentence_splits_at_clauses_then_spaces_then_hard() -> None:
    clauses = ["这是第一部分，这是第二部分，", "这是第三部分。"]
    assert chunk_text("".join(clauses), 14) == clauses
    assert chunk_text("alpha beta gamma delta epsilon.", 12) == ["alpha beta", "gamma delta", "epsilon."]
    assert chunk_text("一二三四五六七八九十。", 4) == ["一二三四", "五六七八", "九十。"]
    assert chunk_text("It has 3,000 rows, many columns.", 20) == ["It has 3,000 rows,", "many columns."]


def test_max_chars_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_chars must be at least 1, got 0"):
        chunk_text("text", 0)


PIECES = [*"ab Z3 .,!?;:，、：。！？；…”」）\"'\n\t你好世界", "Mr.", "e.g.", "3.5", "...", "etc."]
ALPHABET = st.sampled_from(PIECES)


@settings(max_examples=400)
@given(st.lists(ALPHABET, max_size=80).map("".join), st.integers(1, 30))
def test_chunks_keep_every_character_in_order_and_fit(text: str, max_chars: int) -> None:
    chunks = chunk_text(text, max_chars)
    assert "".join("".join(chunks).split()) == "".join(text.split())
    assert all(0 < len(chunk) <= max_chars and chunk == chunk.strip() for chunk in chunks)


@settings(max_examples=200)
@given(st.lists(ALPHABET, max_size=80).map("".join))
def test_sentences_keep_every_character_in_order(text: str) -> None:
    assert "".join("".join(split_sentences(text)).split()) == "".join(text.split())
