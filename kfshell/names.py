"""Kubernetes name rules and "did you mean" suggestions. Pure functions, no cluster."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from kfshell.errors import UsageError

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def dns1123_label_problem(name: str) -> str | None:
    """Why `name` is not a DNS-1123 label (what namespaces and most names must be), or None when it is."""
    if not name:
        return "it is empty"
    if len(name) > DNS1123_LABEL_MAX:
        return f"it is {len(name)} characters long, the limit is {DNS1123_LABEL_MAX}"
    if name != name.lower():
        return "it has upper-case letters"
    bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c == "-"))})
    if bad:
        return "it contains " + " ".join(repr(c) for c in bad)
    if not _LABEL.fullmatch(name):
        return "it must start and end with a letter or digit"
    return None


def dns1123_subdomain_problem(name: str) -> str | None:
    """Why `name` is not a DNS-1123 subdomain (Deployments, Services, ConfigMaps ...), or None."""
    if not name:
        return "it is empty"
    if len(name) > DNS1123_SUBDOMAIN_MAX:
        return f"it is {len(name)} characters long, the limit is {DNS1123_SUBDOMAIN_MAX}"
    for part in name.split("."):
        problem = dns1123_label_problem(part)
        if problem and part != name:
            return f"part {part!r}: {problem}"
        if problem:
            return problem
    return None


def check_name(name: str, what: str = "namespace", subdomain: bool = False) -> str:
    """`name` when it is a valid Kubernetes name; else a UsageError saying which rule it breaks."""
    problem = dns1123_subdomain_problem(name) if subdomain else dns1123_label_problem(name)
    if problem is None:
        return name
    rule = "DNS-1123 subdomain" if subdomain else "DNS-1123 label"
    raise UsageError(
        f"{what} name {name!r} is not valid: {problem}",
        hint=f"a {rule} uses lower-case letters, digits and '-', starts and ends with a letter or digit, "
             f"at most {DNS1123_SUBDOMAIN_MAX if subdomain else DNS1123_LABEL_MAX} characters",
        reason="Invalid",
    )


def nearest(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Up to `limit` candidates closest to `name`: prefix matches first, then similar spellings."""
    pool = sorted(set(candidates))
    prefixed = [c for c in pool if c != name and c.startswith(name)] if name else []
    similar = difflib.get_close_matches(name, pool, n=limit, cutoff=0.6)
    found: list[str] = []
    for candidate in prefixed + similar:
        if candidate not in found and candidate != name:
            found.append(candidate)
    return found[:limit]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint such as "did you mean jupyter-web-app?", or None when nothing is close."""
    close = nearest(name, candidates)
    if not close:
        return None
    return "did you mean " + " or ".join(close) + "?"
