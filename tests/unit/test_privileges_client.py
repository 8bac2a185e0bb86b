"""Which commands the privilege reviews cover: functions always, a shell command only if it declares needs."""

from __future__ import annotations

from kfshell.privileges import Answers, access, all_needs
from kfshell.registry import spec_from_dict

ADMIN = {"name": "admin", "subcommands": [{"name": "install", "requires": [
    {"verb": "create", "resource": "customresourcedefinitions", "group": "apiextensions.k8s.io", "namespace": ""}]}]}


def test_a_shell_command_that_declares_requirements_is_reviewed_and_hidden_when_refused():
    admin = spec_from_dict(ADMIN, source="client", runs="client")
    plain = spec_from_dict({"name": "use"}, source="client", runs="client")
    wanted = all_needs([admin, plain], "alice")
    assert [(a.verb, a.resource) for a in wanted] == [("create", "customresourcedefinitions")]
    refused = Answers("ctx", "alice", {wanted[0]: False})
    install = admin.subcommands[0]
    assert not refused.may_run(admin, install)
    assert refused.may_run(plain)  # declares nothing: always offered
    assert Answers("ctx", "alice", {access(admin.subcommands[0].requires[0], "alice"): True}).may_run(admin, install)
