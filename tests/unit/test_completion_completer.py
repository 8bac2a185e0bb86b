"""The prompt_toolkit completer: menu entries, replacement text, descriptions, from a fixed snapshot."""

from __future__ import annotations

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from kfshell.completion.completer import KfCompleter
from kfshell.completion.snapshot import Item, Snapshot
from kfshell.completion.suggest import age

from .completion_specs import DictRegistry

NOW = 1_700_000_000.0

SNAPSHOT = Snapshot.build(
    "kf-alice",
    "alice",
    {
        "namespaces": [Item("alice", "Namespace  Active"), Item("kubeflow", "Namespace  Active")],
        "pods": [
            Item("trainer-0", "Pod  Running", "alice", created_at=NOW - 300),
            Item("trainer-1", "Pod  Pending", "alice", created_at=NOW - 30),
            Item("notebook-0", "Pod  Running", "alice"),
        ],
        "containers": [
            Item("main", "container", parent="trainer-0"),
            Item("sidecar", "container", parent="trainer-0"),
            Item("jupyter", "container", parent="notebook-0"),
        ],
        "components": [Item("jupyter-web-app", "Deployment  1/1")],
        "notebooks": [Item("my notebook", "Notebook  Running")],
    },
)


def completer(**kwargs):
    return KfCompleter(DictRegistry(), lambda: SNAPSHOT, clock=lambda: NOW, **kwargs)


def complete(line, **kwargs):
    return list(completer(**kwargs).get_completions(Document(line), CompleteEvent(completion_requested=True)))


def texts(completions):
    return [c.text for c in completions]


def test_command_words_with_their_help():
    result = complete("st")
    assert texts(result) == ["status"]
    assert result[0].display_meta_text == "Kubeflow components: list, health, info"
    assert result[0].start_position == -2


def test_pods_with_kind_status_and_age():
    result = complete("logs tr")
    assert texts(result) == ["trainer-0", "trainer-1"]
    assert result[0].display_meta_text == "Pod  Running  5m"
    assert result[1].display_meta_text == "Pod  Pending  30s"


def test_containers_of_the_named_pod_only():
    assert texts(complete("logs trainer-0 ")) == ["main", "sidecar"]
    assert texts(complete("shell notebook-0 -c ")) == ["jupyter"]


def test_fuzzy_match_in_the_menu():
    assert texts(complete("status info jwa")) == ["jupyter-web-app"]


def test_partial_quote_is_closed_and_replaced_from_the_quote():
    result = complete("logs 'trainer-1")
    assert texts(result) == ["'trainer-1'"]
    assert result[0].start_position == -len("'trainer-1")


def test_name_with_a_space_gets_quoted():
    assert texts(complete("notebooks my")) == ["'my notebook'"]
    assert texts(complete('notebooks "my no')) == ['"my notebook"']


def test_option_value_after_equals_keeps_the_flag():
    result = complete("status list --output=js")
    assert texts(result) == ["--output=json"]
    assert result[0].start_position == -len("--output=js")


def test_recently_used_name_ranks_first():
    c = completer()
    c.remember("logs trainer-1")
    assert [s.value for s in c.suggest_line("logs tr")] == ["trainer-1", "trainer-0"]


def test_commands_from_the_snapshot_when_known():
    # the refresher lists only the commands the user may run
    snapshot = SNAPSHOT.replace({"commands": [Item("use", "switch")]}, complete=["commands"])
    c = KfCompleter(DictRegistry(), lambda: snapshot)
    assert [s.value for s in c.suggest_line("")] == ["use"]
    # before the refresher knows, every registered command is offered
    assert len(completer().suggest_line("")) == len(DictRegistry().commands())


def test_empty_snapshot_offers_no_names_but_still_commands():
    c = KfCompleter(DictRegistry(), lambda: Snapshot())
    assert c.suggest_line("logs ") == []
    assert [s.value for s in c.suggest_line("lo")] == ["logs"]


def test_files(tmp_path):
    (tmp_path / "train.py").write_text("")
    (tmp_path / "data dir").mkdir()
    (tmp_path / ".hidden").write_text("")
    c = completer(cwd=str(tmp_path))
    assert sorted(texts(list(c.get_completions(Document("run "), CompleteEvent())))) == ["'data dir/", "train.py"]
    assert texts(list(c.get_completions(Document("run tr"), CompleteEvent())))[0] == "train.py"
    (tmp_path / "data dir" / "x.csv").write_text("")
    assert texts(list(c.get_completions(Document("run 'data dir/"), CompleteEvent()))) == ["'data dir/x.csv'"]


def test_age_format():
    assert [age(s) for s in (5, 119, 600, 7200 * 3, 86400 * 3, 86400 * 800)] == ["5s", "119s", "10m", "6h", "3d", "2y"]
