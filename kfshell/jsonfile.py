"""Small JSON files kf keeps for itself (caches): read as a dict or nothing, written atomically and privately.

A missing, damaged or unreadable file reads as `{}` (a cache then only costs a re-parse); a write goes to a
0600 temporary file in the same 0700 directory and is renamed over the old one, so readers never see half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_dict(path: Path) -> dict[str, Any]:
    """The JSON object in `path`, or {} when there is none (missing, unreadable, damaged or not an object)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_private(path: Path, data: dict[str, Any]) -> bool:
    """Replace `path` with `data` as JSON; False when it cannot be written (a read-only home, a value JSON
    cannot hold): callers treat that as no cache this time."""
    import tempfile  # only when something changed

    path = Path(path)
    try:
        text = json.dumps(data)  # one write: dump() writes in many small pieces, ~10x slower
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    except (OSError, TypeError, ValueError):
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    return True
