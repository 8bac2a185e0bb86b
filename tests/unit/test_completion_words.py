"""Splitting a half-typed line into words, with partial quoting, and quoting a completion back in."""

from __future__ import annotations

import shlex

import pytest

from kfshell.completion.words import quote_for_insert, split_for_completion


def test_plain_words_and_empty_word_after_space():
    split = split_for_completion("logs my-pod ")
    assert split.words == ("logs", "my-pod")
    assert split.current.text == ""
    assert split.current.start == len("logs my-pod ")


def test_partial_word_under_cursor():
    split = split_for_completion("logs my-po")
    assert split.words == ("logs",)
    assert (split.current.text, split.current.start, split.current.quote) == ("my-po", 5, None)


@pytest.mark.parametrize("quote", ["'", '"'])
def test_open_quote_belongs_to_the_current_word(quote):
    split = split_for_completion(f"logs {quote}my-po")
    assert split.words == ("logs",)
    assert split.current.text == "my-po"
    assert split.current.start == 5  # replacement starts at the quote
    assert split.current.quote == quote


def test_closed_quotes_and_escapes_are_removed():
    split = split_for_completion("run 'my file.py' other\\ file.py ")
    assert split.words == ("run", "my file.py", "other file.py")


def test_quote_in_the_middle_of_a_word():
    split = split_for_completion("run data/'my fi")
    assert split.current.text == "data/my fi"
    assert split.current.quote == "'"
    assert split.current.start == 4


def test_escaped_space_in_the_current_word():
    split = split_for_completion("run my\\ fi")
    assert split.current.text == "my fi"
    assert split.current.quote is None


def test_semicolon_starts_a_new_command():
    split = split_for_completion("use alice; status li")
    assert split.words == ("status",)
    assert split.current.text == "li"
    split = split_for_completion("use 'a;b' x")
    assert split.words == ("use", "a;b")


def test_double_quote_escapes():
    split = split_for_completion('run "a\\"b')
    assert split.current.text == 'a"b'
    assert split.current.quote == '"'


@pytest.mark.parametrize(
    ("value", "quote", "expected"),
    [
        ("my-pod", None, "my-pod"),
        ("my-pod", "'", "'my-pod'"),
        ("my-pod", '"', '"my-pod"'),
        ("my file", None, "'my file'"),
        ("it's", None, "it\\'s"),
        ("it's", "'", "it\\'s"),
        ('say "hi"', '"', '"say \\"hi\\""'),
    ],
)
def test_quote_for_insert(value, quote, expected):
    inserted = quote_for_insert(value, quote)
    assert inserted == expected
    assert shlex.split(inserted) == [value]


def test_directory_keeps_the_quote_open():
    assert quote_for_insert("my dir/", "'", final=False) == "'my dir/"
