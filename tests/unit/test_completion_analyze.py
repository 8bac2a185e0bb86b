"""What belongs at the cursor, for each kind of argument, decided from the spec alone."""

from __future__ import annotations

from kfshell.completion.analyze import analyze

from .completion_specs import DictRegistry

REGISTRY = DictRegistry()


def wanted(line_words, query="", **kwargs):
    return analyze(REGISTRY, line_words, query, **kwargs)


def static_names(result):
    return [item.name for want in result.wants for item in want.items]


def test_first_word_is_a_command():
    assert wanted([], "st").sources == ("commands",)


def test_subcommands_after_a_command_with_subcommands():
    result = wanted(["status"])
    assert static_names(result) == ["list", "health", "info"]
    assert result.path == ("status",)


def test_positional_source_after_the_subcommand():
    result = wanted(["status", "info"], "jup")
    assert result.sources == ("components",)
    assert result.query == "jup"
    assert result.path == ("status", "info")


def test_positional_of_a_command_without_subcommands():
    assert wanted(["use"]).sources == ("namespaces",)


def test_word_that_is_no_subcommand_goes_to_the_default_subcommand():
    # `status jupyter-web-app` is `status list jupyter-web-app`: nothing more to offer positionally
    result = wanted(["status", "jupyter-web-app"])
    assert result.sources == ()


def test_second_positional_containers_of_the_pod_named_before():
    result = wanted(["logs", "trainer-0"])
    assert result.sources == ("containers",)
    assert result.wants[0].parent == "trainer-0"


def test_option_value_containers_after_pod():
    result = wanted(["shell", "trainer-0", "-c"])
    assert result.sources == ("containers",)
    assert result.wants[0].parent == "trainer-0"


def test_flags_when_the_word_starts_with_a_dash():
    assert static_names(wanted(["logs"], "-")) == ["--follow", "--tail", "--output", "--namespace", "--context",
                                                   "--help"]


def test_used_flags_are_not_offered_again():
    names = static_names(wanted(["logs", "--follow"], "--"))
    assert "--follow" not in names
    assert "--tail" in names


def test_option_value_is_not_taken_for_a_positional():
    # `--tail 10` consumes 10, so the cursor is still at the pod
    assert wanted(["logs", "--tail", "10"]).sources == ("pods",)


def test_option_with_choices():
    assert static_names(wanted(["create", "--mode"])) == ["fast", "safe"]


def test_option_value_after_equals_sign():
    result = wanted(["create"], "--mode=fa")
    assert static_names(result) == ["fast", "safe"]
    assert result.query == "fa"
    assert result.keep == "--mode="


def test_common_options_complete_their_values():
    assert wanted(["status", "list", "-n"]).sources == ("namespaces",)
    assert wanted(["status", "list", "--context"]).sources == ("contexts",)
    assert static_names(wanted(["status", "list", "-o"])) == ["table", "wide", "json", "yaml", "name"]


def test_files_source_and_repeat():
    assert wanted(["create", "-r"]).sources == ("files",)
    assert wanted(["run", "a.py", "b.py"]).sources == ("files",)


def test_flags_offered_when_every_positional_is_given():
    assert "--dry-run" in static_names(wanted(["create", "ns"]))


def test_commands_source_for_help():
    assert wanted(["help"]).sources == ("commands",)


def test_unknown_command_offers_nothing():
    assert wanted(["frobnicate"]).wants == ()


def test_outer_command_line_skips_kf_options():
    assert wanted(["--context", "kf-alice", "-n", "alice"], "st", outer=True).sources == ("commands",)
    assert wanted(["--context"], outer=True).sources == ("contexts",)
    assert wanted(["-n", "alice", "use"], outer=True).sources == ("namespaces",)
    assert "--kubeconfig" in static_names(wanted([], "--", outer=True))


def test_real_registry_status_use_and_help():
    from kfshell.completion.scripts import builtin_registry

    registry = builtin_registry()
    assert [item.name for want in analyze(registry, ["status"], "").wants for item in want.items] == [
        "list", "health", "info"]
    assert analyze(registry, ["status", "info"], "").sources == ("components",)
    assert analyze(registry, ["use"], "").sources == ("namespaces",)
    assert analyze(registry, ["delete"], "").sources == ("namespaces",)
    assert analyze(registry, ["help"], "").sources == ("commands",)
    assert analyze(registry, ["create", "-r"], "").sources == ("files",)


def test_every_common_option_the_parser_accepts_is_offered():
    from kfshell.parsing import COMMON_OPTIONS

    offered = static_names(wanted(["exit"], "--"))
    for option in COMMON_OPTIONS:
        assert any(flag in offered for flag in option.flags), option.name
