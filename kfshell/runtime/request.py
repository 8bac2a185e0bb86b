"""The HTTP request as a function sees it in `event["extensions"]["request"]`.

Kubeless hands functions its web framework's request object. Ours crosses a process boundary (the
function runs in a worker process), so it is a plain, picklable value with the parts functions use:
method, path, query, headers and body. `get_header` mirrors the call Kubeless functions make.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only request headers; a repeated header reads as its values joined by ", "."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = tuple((str(k), str(v)) for k, v in pairs)

    def __getitem__(self, name: str) -> str:
        values = self.get_all(name)
        if not values:
            raise KeyError(name)
        return ", ".join(values)

    def get_all(self, name: str) -> list[str]:
        lowered = name.lower()
        return [v for k, v in self._pairs if k.lower() == lowered]

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for k, _ in self._pairs:
            if k.lower() not in seen:
                seen.add(k.lower())
                yield k

    def __len__(self) -> int:
        return len({k.lower() for k, _ in self._pairs})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_all(name))

    def __repr__(self) -> str:
        # Never show values: Authorization and the caller's token live here.
        return f"Headers({sorted(self)})"


@dataclass(frozen=True)
class FunctionRequest:
    method: str
    url: str  # path and query, as received
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    remote_addr: str | None = None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    def get_header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def json(self) -> object:
        return json.loads(self.body or b"null")

    def __repr__(self) -> str:
        return f"FunctionRequest({self.method} {self.path}, {len(self.body)} bytes)"


def is_json(content_type: str | None) -> bool:
    """application/json, with or without parameters (charset=...)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/json"
