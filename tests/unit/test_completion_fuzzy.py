"""Fuzzy ranking: prefix first, then fuzzy score, then recent use, then name."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kfshell.completion.fuzzy import fuzzy_score, rank
from kfshell.completion.snapshot import Item, SourceIndex


def names(items):
    return [item.name for item in items]


def index_of(*values):
    return SourceIndex(Item(value) for value in values)


def test_prefix_matches_come_before_fuzzy_ones():
    index = index_of("my-training-job", "job-b", "jobs-a", "bjob")
    assert names(rank(index, "job")) == ["job-b", "jobs-a", "bjob", "my-training-job"]


def test_fuzzy_prefers_compact_matches_then_early_ones():
    index = index_of("jupyter-web-app", "jupyter-web-app-x", "x-jwa", "ajxwxa")
    # "jwa": x-jwa contiguous (no gaps) beats the scattered ones
    ranked = names(rank(index, "jwa"))
    assert ranked[0] == "x-jwa"
    assert set(ranked) == {"jupyter-web-app", "jupyter-web-app-x", "x-jwa", "ajxwxa"}
    assert fuzzy_score("x-jwa", "jwa") < fuzzy_score("ajxwxa", "jwa")


def test_characters_out_of_order_do_not_match():
    assert names(rank(index_of("abc", "cba"), "ac")) == ["abc"]
    assert fuzzy_score("cba", "ac") is None


def test_matching_ignores_case():
    assert names(rank(index_of("MyNotebook", "other"), "myn")) == ["MyNotebook"]


def test_recent_use_breaks_ties_within_a_rank():
    index = index_of("nb-a", "nb-b", "nb-c", "x-nb")
    assert names(rank(index, "nb", recent={"nb-c": 0, "nb-b": 1})) == ["nb-c", "nb-b", "nb-a", "x-nb"]
    # recent use never lifts a fuzzy match above a prefix match
    assert names(rank(index, "nb", recent={"x-nb": 0}))[-1] == "x-nb"


def test_empty_query_lists_everything_recent_first():
    index = index_of("b", "a", "c")
    assert names(rank(index, "")) == ["a", "b", "c"]
    assert names(rank(index, "", recent={"c": 0})) == ["c", "a", "b"]


def test_limit_caps_the_menu():
    index = index_of(*[f"pod-{n:05d}" for n in range(1000)])
    ranked = rank(index, "pod", limit=10)
    assert names(ranked) == [f"pod-{n:05d}" for n in range(10)]
    assert len(rank(index, "9", limit=50)) == 50


def test_same_name_twice_with_different_parents_is_kept():
    index = SourceIndex([Item("main", parent="a"), Item("main", parent="b")])
    assert len(rank(index, "ma")) == 2


def test_regex_characters_in_the_query_are_literal():
    assert names(rank(index_of("a.b", "axb", "a[b]"), "a.")) == ["a.b"]
    assert names(rank(index_of("a.b", "axb", "a[b]"), "[b")) == ["a[b]"]


def test_a_long_query_on_a_long_name_stays_fast():
    index = index_of("a" * 250, "b" * 250)
    assert rank(index, "a" * 40 + "c") == []


@given(st.lists(st.text(alphabet="abc-", min_size=1, max_size=8), max_size=30), st.text(alphabet="abc-", max_size=4))
def test_rank_returns_exactly_the_subsequence_matches(values, query):
    ranked = names(rank(index_of(*values), query, limit=1000))

    def is_subsequence(q, name):
        it = iter(name)
        return all(ch in it for ch in q)

    expected = sorted(v for v in values if is_subsequence(query, v))
    assert sorted(ranked) == expected
    prefixed = [v for v in ranked if v.startswith(query)]
    assert ranked[: len(prefixed)] == prefixed


@given(
    st.lists(st.text(alphabet="ab-c", min_size=1, max_size=6), min_size=1, max_size=40),
    st.text(alphabet="ab-c", max_size=3),
    st.dictionaries(st.text(alphabet="ab-c", min_size=1, max_size=6), st.integers(0, 50), max_size=8),
    st.integers(1, 8),
)
def test_rank_order_is_score_then_recent_use_then_name(values, query, recent, limit):
    index = index_of(*values)

    def key(position):
        name = index.items[position].name
        return (fuzzy_score(name, query) if query else 0, recent.get(name, 1 << 40), position)

    matching = [p for p in range(len(index)) if not query or fuzzy_score(index.items[p].name, query) is not None]
    expected = [index.items[p].name for p in sorted(matching, key=key)[:limit]]
    assert names(rank(index, query, recent=recent, limit=limit)) == expected
