"""Kubeconfig reading and merging, as kubectl does it, with temporary files (no cluster)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from kfshell.errors import UsageError
from kfshell.kubeconfig import load_kubeconfig


def write(path: Path, *, clusters=(), users=(), contexts=(), current=None) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters],
        "users": [{"name": n, "user": u} for n, u in users],
        "contexts": [{"name": n, "context": c} for n, c in contexts],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    first = write(
        tmp_path / "a.yaml",
        clusters=[("dev", {"server": "https://first:6443", "certificate-authority": "ca.crt"})],
        users=[("alice", {"token": "first-token"})],
        contexts=[("work", {"cluster": "dev", "user": "alice", "namespace": "alice"})],
        current="work",
    )
    (tmp_path / "b").mkdir()
    second = write(
        tmp_path / "b" / "b.yaml",
        clusters=[("dev", {"server": "https://second:6443"}), ("prod", {"server": "https://prod:6443"})],
        users=[("alice", {"token": "second-token"}), ("bob", {"tokenFile": "bob.token"})],
        contexts=[("work", {"cluster": "prod", "user": "bob"}), ("prod", {"cluster": "prod", "user": "bob"})],
        current="prod",
    )
    (tmp_path / "b" / "bob.token").write_text("bob-token\n")
    return first, second


def test_first_file_wins_per_name_and_for_current_context(two_files):
    first, second = two_files
    config = load_kubeconfig(environ={"KUBECONFIG": os.pathsep.join([str(first), str(second)])})
    assert config.current_context == "work"
    assert config.server() == "https://first:6443"  # cluster "dev" from the first file
    assert config.context("work").user == "alice"  # context "work" from the first file
    assert config.server("prod") == "https://prod:6443"  # only the second file has it
    assert config.token() == "first-token"
    assert set(config.contexts) == {"work", "prod"}


def test_order_of_kubeconfig_decides(two_files):
    first, second = two_files
    config = load_kubeconfig(environ={"KUBECONFIG": os.pathsep.join([str(second), str(first)])})
    assert config.current_context == "prod"
    assert config.context("work").cluster == "prod"


def test_relative_paths_resolve_against_their_own_file(two_files):
    first, second = two_files
    config = load_kubeconfig(environ={"KUBECONFIG": os.pathsep.join([str(first), str(second)])})
    assert config.cluster("work")["certificate-authority"] == str(first.parent / "ca.crt")
    assert config.user("prod")["tokenFile"] == str(second.parent / "bob.token")
    assert config.token("prod") == "bob-token"
    assert config.has_token("prod")


def test_missing_files_in_kubeconfig_are_skipped(two_files, tmp_path):
    first, _ = two_files
    config = load_kubeconfig(environ={"KUBECONFIG": os.pathsep.join([str(tmp_path / "nope"), str(first)])})
    assert config.paths == (str(first),)
    assert config.selected == "work"


def test_explicit_path_must_exist(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_kubeconfig(str(tmp_path / "missing.yaml"))


def test_explicit_path_wins_over_environment(two_files):
    first, second = two_files
    config = load_kubeconfig(str(second), environ={"KUBECONFIG": str(first)})
    assert config.current_context == "prod"


def test_context_override_and_namespace_default(two_files):
    _, second = two_files
    config = load_kubeconfig(str(second), context="work")
    assert config.selected == "work"
    assert config.namespace() == "default"  # the context names no namespace


def test_unknown_context_suggests_the_nearest(two_files):
    first, _ = two_files
    with pytest.raises(UsageError) as caught:
        load_kubeconfig(str(first), context="wrk")
    assert "wrk" in caught.value.message
    assert "did you mean work" in (caught.value.hint or "")


def test_no_kubeconfig_at_all_says_so(tmp_path):
    config = load_kubeconfig(environ={"KUBECONFIG": str(tmp_path / "none")})
    with pytest.raises(UsageError, match="no kubeconfig"):
        config.context()


def test_bad_yaml_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("clusters:\n  - name: x\n   bad: [\n")
    with pytest.raises(UsageError) as caught:
        load_kubeconfig(str(bad))
    assert str(bad) in caught.value.message and "line" in caught.value.message


def test_tokens_stay_out_of_repr(two_files):
    first, _ = two_files
    config = load_kubeconfig(str(first))
    assert "first-token" not in repr(config)
    assert "first-token" not in str(config)


def test_as_dict_holds_one_context(two_files):
    first, second = two_files
    config = load_kubeconfig(environ={"KUBECONFIG": os.pathsep.join([str(first), str(second)])})
    one = config.as_dict("prod")
    assert one["current-context"] == "prod"
    assert [c["name"] for c in one["contexts"]] == ["prod"]
    assert one["clusters"][0]["cluster"]["server"] == "https://prod:6443"
    assert one["users"][0]["name"] == "bob"


def test_exec_command_with_a_directory_resolves_relative_to_the_file(tmp_path):
    path = write(tmp_path / "c.yaml", clusters=[("c", {"server": "https://x"})],
                 users=[("u", {"exec": {"command": "./bin/login", "apiVersion": "v1"}}),
                        ("v", {"exec": {"command": "gcloud", "apiVersion": "v1"}})],
                 contexts=[("x", {"cluster": "c", "user": "u"}), ("y", {"cluster": "c", "user": "v"})],
                 current="x")
    config = load_kubeconfig(str(path))
    assert config.user("x")["exec"]["command"] == str(tmp_path / "bin" / "login")
    assert config.user("y")["exec"]["command"] == "gcloud"
    assert not config.has_token("x")
