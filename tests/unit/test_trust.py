"""Trust without a cluster: the caller's pins, precedence with untrusted Functions, and where they may run."""

from __future__ import annotations

import json

import pytest

from kfshell.catalog import specs_of
from kfshell.dispatch import where
from kfshell.dispatch.kubeless import FunctionRef, source_checksum
from kfshell.errors import CommandFailed
from kfshell.registry import Registry, spec_from_dict
from kfshell.trust import TrustStore

STATUS = {"name": "status", "help": "mine", "subcommands": [{"name": "list", "default": True}]}
CODE = "def handler(e, c):\n    return 'pwned'\n"


def ref(namespace: str = "team-a", code: str = CODE, name: str = "status") -> FunctionRef:
    return FunctionRef(name=name, namespace=namespace, subcommand="status", spec=STATUS, source=code,
                       checksum=source_checksum(code), handler="status.handler")


class Catalog:
    def __init__(self, found: FunctionRef, trust: TrustStore) -> None:
        self.found, self.trust = found, trust

    def deployed(self, context=None, namespace=None, *, stale=False):
        found = self.found

        class Deployed:
            def ref(self, origin):
                return found if origin == found.origin else None

        return Deployed()


class Session:
    def __init__(self, found: FunctionRef, trust: TrustStore) -> None:
        self.catalog = Catalog(found, trust)


def test_a_pin_holds_for_exactly_the_source_it_was_made_for(tmp_path):
    store = TrustStore(tmp_path)
    assert not store.is_trusted("team-a", "status", CODE)
    assert store.is_trusted("kf-system", "status", CODE)  # the administrator's namespace, by default
    store.trust("team-a", "status", CODE)
    assert store.is_trusted("team-a", "status", CODE)
    assert not store.is_trusted("team-a", "status", CODE + "# one more line\n")
    assert not store.is_trusted("team-b", "status", CODE)  # another namespace's copy is another Function
    assert not store.is_trusted("team-a", "other", CODE)
    saved = json.loads((tmp_path / "trust.json").read_text())
    assert saved["pins"][0]["namespace"] == "team-a" and saved["pins"][0]["name"] == "status"
    assert (tmp_path / "trust.json").stat().st_mode & 0o077 == 0
    assert store.untrust("team-a", "status") and not store.is_trusted("team-a", "status", CODE)
    assert store.untrust("kf-system", "status") and not store.is_trusted("kf-system", "status", CODE)
    store.trust("kf-system", "status", CODE)
    assert store.is_trusted("kf-system", "status", "anything")


def test_a_damaged_trust_file_trusts_nothing_extra(tmp_path):
    (tmp_path / "trust.json").write_text("{not json")
    store = TrustStore(tmp_path)
    assert not store.is_trusted("team-a", "status", CODE)
    assert store.is_trusted("kf-system", "status", CODE)


def test_an_untrusted_function_never_shadows_the_builtin_and_a_trusted_one_does(tmp_path):
    builtin = spec_from_dict(STATUS, source="builtin", origin="/x/status.py")
    store = TrustStore(tmp_path)
    specs, problems = specs_of([ref()], store)
    assert not problems and specs[0].trusted is False
    registry = Registry([builtin, *specs])
    assert registry.get("status").source == "builtin"
    assert [s.spec.source for s in registry.shadowed] == ["namespace"]
    store.trust("team-a", "status", CODE)
    specs, _ = specs_of([ref()], store)
    assert Registry([builtin, *specs]).get("status").source == "namespace"
    # kf-system's shadows the built-in by default; an untrusted namespace one does not shadow kf-system's
    system, _ = specs_of([ref("kf-system"), ref("team-b", code=CODE + "#\n")], store)
    assert Registry([builtin, *system]).get("status").origin == "kf-system/status"


def test_an_untrusted_function_runs_nowhere_and_says_how_to_trust_it(tmp_path):
    store = TrustStore(tmp_path)
    found = ref()
    spec = specs_of([found], store)[0][0]
    for mode in where.MODES:
        with pytest.raises(CommandFailed) as refused:
            where.choose(spec, mode, Session(found, store), None, "team-a")
        assert refused.value.reason == "Untrusted"
        assert "not running status from Function team-a/status: you have not trusted it" in refused.value.message
        assert "`command trust status`" in refused.value.hint
    store.trust("team-a", "status", CODE)
    assert where.choose(spec, "local", Session(found, store), None, "team-a").ref is found
    changed = ref(code=CODE + "# changed\n")
    with pytest.raises(CommandFailed, match="its source changed since you trusted it"):
        where.choose(spec, "local", Session(changed, store), None, "team-a")


def test_the_checksum_message_does_not_claim_authorship():
    found = FunctionRef(name="status", namespace="team-a", subcommand="status", source=CODE + "#\n",
                        checksum=source_checksum(CODE))
    spec = spec_from_dict(STATUS, source="namespace", origin="team-a/status", runs="kubeless")
    with pytest.raises(CommandFailed) as refused:
        where.check_source(spec, found)
    assert "edited without `command upgrade`" in refused.value.message
    assert "does not tell who wrote the code" in refused.value.hint
    assert "vouch" not in str(refused.value)


def test_a_context_that_impersonates_never_sends_its_token_to_a_function(tmp_path):
    from kfshell.dispatch import kubeless
    from kfshell.rest import RestClient

    store = TrustStore(tmp_path)
    found = ref("kf-system")
    spec = specs_of([found], store)[0][0]
    api = RestClient("https://127.0.0.1:1", token="secret", impersonate=("alice", ("team",)))
    told = []

    class Impersonating(Session):
        def api(self, context=None):
            return api

        def tell_once(self, key, line):
            told.append(line)

    target = where.choose(spec, "auto", Impersonating(found, store), None, "team-a")
    assert target.kind == "local" and told == [where.impersonation_note("alice") + ": commands run locally"]
    with pytest.raises(CommandFailed, match="acts as alice"):
        where.choose(spec, "kubeless", Impersonating(found, store), None, "team-a")
    with pytest.raises(kubeless.NoBearerToken):
        kubeless.call_function(api, "kf-system", "status", {}, port="http")


def test_under_dispatch_local_a_known_function_replaces_a_builtin_only_when_pinned(tmp_path):
    """As in a one-shot: --dispatch local runs the commands that are here, even after the REPL's refresher
    found kf-system's Functions; a Function the caller pinned still wins, and new commands still appear."""
    from types import SimpleNamespace

    from kfshell.catalog import Catalog as RealCatalog
    from kfshell.catalog import Deployed

    builtin = spec_from_dict(STATUS, source="builtin", origin="/x/status.py")
    extra = FunctionRef(name="hello", namespace="kf-system", subcommand="hello", spec={"name": "hello"},
                        source=CODE, checksum=source_checksum(CODE), handler="hello.handler")
    session = SimpleNamespace(env=SimpleNamespace(config_dir=tmp_path), context="ctx", namespace="team-a",
                              dispatch="local")
    catalog = RealCatalog(session, lambda: Registry([builtin]))

    def found(*refs: FunctionRef) -> None:
        specs, _ = specs_of(list(refs), catalog.trust)
        catalog._deployed[("ctx", "team-a")] = Deployed("ctx", "team-a", refs=refs, specs=tuple(specs))

    found(ref("kf-system"), extra)
    assert catalog.registry().get("status").source == "builtin"
    assert catalog.registry().get("hello").origin == "kf-system/hello"
    session.dispatch = "auto"
    catalog._combined = None
    assert catalog.registry().get("status").origin == "kf-system/status"
    session.dispatch = "local"
    catalog.trust.trust("team-a", "status", CODE)
    found(ref("team-a"))
    assert catalog.registry().get("status").origin == "team-a/status"
