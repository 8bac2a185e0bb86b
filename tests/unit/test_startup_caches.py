"""The caches on kf's start-up path give a fresh answer as soon as what they stand for changes (no cluster)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from kfshell import kubeconfig as kubeconfig_module
from kfshell.kubeconfig import load_kubeconfig
from kfshell.kubeconfig_cache import CACHE_NAME
from kfshell.registry import SpecCache  # registry first: it and specfiles import each other
from kfshell.specfiles import _entry_points

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster:
    server: https://dev.example:6443
    insecure-skip-tls-verify: true
users:
- name: alice
  user:
    token: {token}
contexts:
- name: work
  context: {{cluster: dev, user: alice, namespace: "team-a"}}
current-context: work
"""


def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every file kubeconfig parses with PyYAML (a cache hit parses none)."""
    seen: list[Path] = []
    real = kubeconfig_module._parse

    def counting(path: Path, text: str) -> object:
        seen.append(path)
        return real(path, text)

    monkeypatch.setattr(kubeconfig_module, "_parse", counting)
    return seen


def test_a_kubeconfig_is_parsed_once_and_its_cache_holds_no_credentials(tmp_path, monkeypatch):
    config, cache = tmp_path / "config", tmp_path / "cache"
    config.write_text(KUBECONFIG.format(token="secret-token-1"))
    seen = parses(monkeypatch)
    first = load_kubeconfig(config, cache_dir=cache)
    again = load_kubeconfig(config, cache_dir=cache)
    assert seen == [config]  # the second read came from the cache
    for loaded in (first, again):
        assert loaded.token() == "secret-token-1"
        assert loaded.server() == "https://dev.example:6443"
        assert loaded.namespace() == "team-a"
        assert loaded.cluster()["insecure-skip-tls-verify"] is True
    stored = (cache / CACHE_NAME).read_text()
    assert "secret-token-1" not in stored and "dev.example" not in stored
    assert os.stat(cache / CACHE_NAME).st_mode & 0o077 == 0
    assert os.stat(cache).st_mode & 0o077 == 0


def test_a_changed_kubeconfig_is_read_fresh_even_at_the_same_size(tmp_path, monkeypatch):
    config, cache = tmp_path / "config", tmp_path / "cache"
    config.write_text(KUBECONFIG.format(token="secret-token-1"))
    load_kubeconfig(config, cache_dir=cache)
    config.write_text(KUBECONFIG.format(token="rotated-token-2"))
    os.utime(config, ns=(0, 0))  # even a writer that puts the old mtime back: ctime still moves
    seen = parses(monkeypatch)
    assert load_kubeconfig(config, cache_dir=cache).token() == "rotated-token-2"
    assert seen == [config]
    config.write_text(KUBECONFIG.format(token="t3").replace("team-a", "team-b"))
    assert load_kubeconfig(config, cache_dir=cache).namespace() == "team-b"


def test_values_the_text_does_not_hold_verbatim_are_parsed_every_time(tmp_path, monkeypatch):
    config, cache = tmp_path / "config", tmp_path / "cache"
    config.write_text(KUBECONFIG.format(token='"tab\\there"'))  # an escape: the text is not the value
    seen = parses(monkeypatch)
    assert load_kubeconfig(config, cache_dir=cache).token() == "tab\there"
    assert load_kubeconfig(config, cache_dir=cache).token() == "tab\there"
    assert seen == [config, config]


def test_a_damaged_cache_means_parsing_again(tmp_path):
    config, cache = tmp_path / "config", tmp_path / "cache"
    config.write_text(KUBECONFIG.format(token="secret-token-1"))
    load_kubeconfig(config, cache_dir=cache)
    entries = json.loads((cache / CACHE_NAME).read_text())
    for entry in entries.values():
        entry["shape"] = {"m": [[["str", 0, 10 ** 6], ["nonsense", 1, 2]]]}
    (cache / CACHE_NAME).write_text(json.dumps(entries))
    assert load_kubeconfig(config, cache_dir=cache).token() == "secret-token-1"
    (cache / CACHE_NAME).write_text("{not json")
    assert load_kubeconfig(config, cache_dir=cache).token() == "secret-token-1"


# ---- installed packages' entry points ------------------------------------------------------------------


def dist(site: Path, command: str, module: str = "kf_cache_demo.hello") -> Path:
    info = site / "kf_cache_demo-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kf-cache-demo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[kf.commands]\n{command} = {module}\n")
    return info


def names(cache: SpecCache) -> list[str]:
    return sorted(name for name, _module, _file in _entry_points(cache) if name.startswith("demo-"))


def test_entry_points_are_read_again_when_a_distribution_changes(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    cache = SpecCache(tmp_path / "specs.json")
    assert names(cache) == []
    info = dist(site, "demo-one")  # installed
    assert names(cache) == ["demo-one"]
    entry_points = info / "entry_points.txt"
    entry_points.write_text("[kf.commands]\ndemo-two = kf_cache_demo.hello\n")  # reinstalled in place
    stat = entry_points.stat()
    os.utime(entry_points, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert names(cache) == ["demo-two"]
    cache.save()
    assert names(SpecCache(tmp_path / "specs.json")) == ["demo-two"]  # kept between runs
    for child in info.iterdir():  # uninstalled
        child.unlink()
    info.rmdir()
    assert names(SpecCache(tmp_path / "specs.json")) == []


def test_entry_points_stay_cached_while_other_files_beside_them_change(tmp_path, monkeypatch):
    site = tmp_path / "site"
    dist(site, "demo-one")
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    cache = SpecCache(tmp_path / "specs.json")
    assert names(cache) == ["demo-one"]
    cache.save()
    (site / "README.md").write_text("a checkout on sys.path changes all the time")
    reread = SpecCache(tmp_path / "specs.json")
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **_: pytest.fail("scanned again"))
    assert names(reread) == ["demo-one"]


# ---- no Function lookup with --dispatch local ------------------------------------------------------------


class _Env:
    def __init__(self, root: Path) -> None:
        self.config_dir = root / "config"
        self.cache_dir = root / "cache"


class _Session:
    def __init__(self, root: Path, dispatch: str) -> None:
        self.env = _Env(root)
        self.context, self.namespace, self.dispatch = "work", "team-a", dispatch


def catalog(tmp_path: Path, dispatch: str):
    from kfshell.catalog import Catalog, Deployed
    from kfshell.registry import Registry

    session = _Session(tmp_path, dispatch)
    found = Catalog(session, lambda: Registry.load(cache_file=tmp_path / "specs.json"))
    asked: list[tuple[str | None, str | None]] = []

    def fetch(context=None, namespace=None, api=None):
        asked.append(found.place(context, namespace))
        return Deployed(*found.place(context, namespace))

    found.fetch_deployed = fetch  # type: ignore[method-assign]
    return found, asked


def test_dispatch_local_runs_a_built_in_without_asking_the_cluster_for_functions(tmp_path):
    found, asked = catalog(tmp_path, "local")
    found.registry_for(["status", "list"])
    assert asked == []
    found.registry_for(["no-such-command"])  # only a Function could provide it
    assert asked == [("work", "team-a")]


def test_dispatch_local_still_looks_where_the_caller_pinned_a_function(tmp_path):
    found, asked = catalog(tmp_path, "local")
    found.trust.trust("team-b", "status", "def handler(event, context): ...")
    found.registry_for(["status", "list"])
    assert asked == []  # pinned elsewhere: nothing here can replace the built-in
    found.registry_for(["status", "list", "-n", "team-b"], namespace="team-b")
    assert asked == [("work", "team-b")]


def test_dispatch_auto_looks_the_functions_up(tmp_path):
    found, asked = catalog(tmp_path, "auto")
    found.registry_for(["status", "list"])
    assert asked == [("work", "team-a")]


# ---- the shell's own commands, read without importing them ---------------------------------------------


def test_client_commands_are_read_from_their_files_and_match_their_modules(tmp_path):
    import importlib

    from kfshell.commands import CLIENT_COMMANDS
    from kfshell.specfiles import load_client_commands

    cache = SpecCache(tmp_path / "specs.json")
    read = load_client_commands(CLIENT_COMMANDS, cache)
    cache.save()
    again = load_client_commands(CLIENT_COMMANDS, SpecCache(tmp_path / "specs.json"))
    imported = load_client_commands(CLIENT_COMMANDS)  # the old way: import each module
    assert read == again == imported
    assert [s.origin for s in read] == list(CLIENT_COMMANDS)
    for spec in read:  # and dispatch finds what it runs where the spec says
        assert callable(importlib.import_module(spec.origin).run)
