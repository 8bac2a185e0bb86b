"""Results and how they are printed: exact JSON/YAML for scripts, aligned tables, colour and pager on a tty."""

from __future__ import annotations

import io
import json

import pytest
import yaml

from kfshell.env import Environment
from kfshell.errors import (
    CommandFailed,
    CredentialsRefused,
    ExitStatus,
    Unreachable,
    UsageError,
)
from kfshell.output import emit, render
from kfshell.result import Message, Object, Table, from_dict

TABLE = {
    "kind": "table",
    "columns": ["Name", "Ready", "Age"],
    "wide_columns": ["Image Tag"],
    "rows": [["jupyter-web-app", "1/1", "5m", "v1.10.0"], ["profiles", "0/1", "12d", "v1.10.0"]],
}


def test_table_is_aligned_with_upper_case_headers_and_no_colour_when_piped():
    text = render(from_dict(TABLE), "table")
    assert text == (
        "NAME              READY   AGE\n"
        "jupyter-web-app   1/1     5m\n"
        "profiles          0/1     12d\n"
    )
    assert "\x1b" not in text


def test_wide_adds_the_wide_columns():
    text = render(from_dict(TABLE), "wide")
    assert text.splitlines()[0] == "NAME              READY   AGE   IMAGE TAG"
    assert text.splitlines()[1].endswith("v1.10.0")


def test_colour_marks_the_header_and_health():
    text = render(from_dict(TABLE), "table", colors=True)
    assert "\x1b[1mNAME\x1b[0m" in text
    assert "\x1b[32m1/1\x1b[0m" in text and "\x1b[31m0/1\x1b[0m" in text


def test_json_is_records_with_sorted_keys_and_exact_values():
    result = from_dict({"kind": "table", "columns": ["Name", "Replicas", "Ready"],
                        "rows": [["a", 2, True], ["b", None, False]]})
    text = render(result, "json")
    assert json.loads(text) == [{"name": "a", "replicas": 2, "ready": True},
                                {"name": "b", "replicas": None, "ready": False}]
    assert text.index('"name"') < text.index('"ready"') < text.index('"replicas"')
    assert render(result, "json") == text  # stable


def test_yaml_matches_json():
    result = from_dict(TABLE)
    assert yaml.safe_load(render(result, "yaml")) == json.loads(render(result, "json"))
    assert json.loads(render(result, "json"))[0]["image_tag"] == "v1.10.0"


def test_name_prints_the_first_column_or_the_object_name():
    assert render(from_dict(TABLE), "name") == "jupyter-web-app\nprofiles\n"
    obj = from_dict({"kind": "object", "object": {"metadata": {"name": "alice"}, "spec": {}}})
    assert render(obj, "name") == "alice\n"


def test_object_as_text_keeps_the_function_order_and_nests():
    obj = Object({"user": "bob", "groups": ["a", "b"], "where": {"context": "kf-bob", "ns": "alice"},
                  "images": [{"name": "x", "tag": "1"}]})
    assert render(obj, "table") == (
        "user: bob\n"
        "groups: a,b\n"
        "where:\n"
        "  context: kf-bob\n"
        "  ns: alice\n"
        "images:\n"
        "  - name: x\n"
        "    tag: 1\n"
    )


def test_message_json_and_text():
    assert render(Message("done"), "table") == "done\n"
    assert json.loads(render(Message("done"), "json")) == {"message": "done"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "returned NoneType, not a dict"),
        ({"kind": "chart"}, "returned kind 'chart'"),
        ({"kind": "table", "columns": "NAME", "rows": []}, "columns are not a list of strings"),
        ({"kind": "table", "columns": ["A", "B"], "rows": [["x"]]}, "row 1 does not match its 2 columns"),
        ({"kind": "object", "object": [1]}, "'object' is not a dict"),
        ({"kind": "message"}, "without text"),
        ({"kind": "message", "text": "x", "exit_status": "bad"}, "exit_status 'bad'"),
        ({"kind": "message", "text": {1, 2}}, "not JSON"),
        ({"kind": "message", "text": "x", "warnings": "w"}, "warnings that are not a list"),
    ],
)
def test_garbage_from_a_function_is_a_clear_failure(raw, message):
    with pytest.raises(CommandFailed) as caught:
        from_dict(raw, function="function f")
    assert message in caught.value.message
    assert caught.value.message.startswith("function f ")
    assert caught.value.reason == "BadResult"


@pytest.mark.parametrize(
    ("error", "exit_status", "kind", "status"),
    [
        ({"reason": "Forbidden", "message": "bob may not list pods", "status": 403}, None, CommandFailed, 1),
        ({"reason": "Unauthorized", "message": "refused", "status": 401}, None, CredentialsRefused, 3),
        ({"reason": "Unreachable", "message": "no route", "status": 503}, None, Unreachable, 3),
        ({"reason": "Usage", "message": "bad name", "status": 400}, None, UsageError, 2),
        ({"reason": "Invalid", "message": "bad name", "status": 422}, 2, UsageError, 2),
        ({"reason": "Odd", "message": "?", "status": 500}, 3, Unreachable, 3),
    ],
)
def test_error_results_map_to_exit_statuses(error, exit_status, kind, status):
    raw = {"error": error}
    if exit_status is not None:
        raw["exit_status"] = exit_status
    with pytest.raises(kind) as caught:
        from_dict(raw)
    assert caught.value.exit_status == status
    assert caught.value.message == error["message"]


def test_error_hint_is_shown_in_parentheses():
    with pytest.raises(CommandFailed) as caught:
        from_dict({"error": {"reason": "NotFound", "message": "component 'x' not found", "hint": "did you mean y?"}})
    caught.value.what = "status info"
    assert caught.value.one_line() == "kf: status info: component 'x' not found (did you mean y?)"


def test_extras_warnings_switch_and_exit_status():
    result = from_dict({"kind": "message", "text": "created", "warnings": ["left out x"], "exit_status": 1,
                        "session": {"namespace": "proj"}})
    assert result.warnings == ("left out x",) and result.switch == {"namespace": "proj"}
    assert result.exit_status == ExitStatus.FAILED


def _env(tty: bool, pager: str) -> Environment:
    return Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                       environ={"PAGER": pager, "LINES": "5", "COLUMNS": "80"}, stdin_isatty=tty,
                       stdout_isatty=tty)


def test_long_output_goes_through_the_pager_only_on_a_terminal(tmp_path):
    paged = tmp_path / "paged"
    pager = f"sh -c 'cat > {paged}; echo $LESS >> {paged}'"
    table = Table(columns=("Name",), rows=tuple((f"row{i}",) for i in range(20)))
    env = _env(True, pager)
    emit(table, "table", env)
    assert env.stdout.getvalue() == ""
    assert "row19" in paged.read_text() and "-SRXF" in paged.read_text()

    piped = _env(False, pager)
    paged.unlink()
    emit(table, "table", piped)
    assert "row19" in piped.stdout.getvalue() and not paged.exists()


def test_short_output_and_json_never_page(tmp_path):
    paged = tmp_path / "paged"
    env = _env(True, f"sh -c 'cat > {paged}'")
    emit(Table(columns=("Name",), rows=(("a",),)), "table", env)
    emit(Table(columns=("Name",), rows=tuple((f"r{i}",) for i in range(20))), "json", env)
    assert not paged.exists()
    assert "NAME" in env.stdout.getvalue() and "\"r19\"" in env.stdout.getvalue()
