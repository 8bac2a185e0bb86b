"""The parsed shape of kubeconfig files, remembered between runs so a start skips PyYAML (~25 ms here).

The cache holds no values from the file, so no credentials: each file's entry is its YAML structure with
every scalar replaced by where its text sits in the file (`[tag, start, end]`). The file is read fresh on
every run and the values (tokens included) are cut out of that fresh text. An entry is used only while the
file's size, mtime, ctime and inode are those it was made from; a file whose values cannot be cut out exactly
(folded or escaped strings, anchors merged, timestamps...) is simply parsed every time.

File: `$XDG_CACHE_HOME/kf/kubeconfig-shapes.json`, mode 0600 in a 0700 directory (the shapes still name which
files exist and how long their lines are). A damaged or lost cache only means parsing again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kfshell import jsonfile

CACHE_NAME = "kubeconfig-shapes.json"
_STR, _NULL, _BOOL, _INT, _FLOAT = "str", "null", "bool", "int", "float"
_TAGS = {f"tag:yaml.org,2002:{t}": t for t in (_STR, _NULL, _BOOL, _INT, _FLOAT)}
_TRUE = ("true", "yes", "on")


def stamp(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class ShapeCache:
    """Shapes of kubeconfig files, keyed by absolute path and checked against the file's stamp."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / CACHE_NAME
        self._entries: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = jsonfile.read_dict(self.path)
        return self._entries

    def document(self, path: Path, text: str, file_stamp: list[int] | None) -> Any:
        """The document of `path` from its remembered shape (None if unknown). `text` is the file's text, read
        while its stamp stayed `file_stamp` (taken before and after the read: see kubeconfig._read)."""
        entry = self._load().get(str(Path(path).absolute()))
        if (file_stamp is None or not isinstance(entry, dict) or entry.get("stamp") != file_stamp
                or entry.get("length") != len(text)):
            return None
        try:
            return materialise(entry["shape"], text)
        except (KeyError, TypeError, ValueError, IndexError):
            return None

    def remember(self, path: Path, text: str, document: Any, file_stamp: list[int] | None) -> None:
        """Keep the shape of `document`, just parsed from `text`, if its values can be cut out of the text."""
        key = str(Path(path).absolute())
        shape = shape_of(text, document) if file_stamp is not None else None
        entries = self._load()
        if shape is None:
            if entries.pop(key, None) is None:
                return
        else:
            entries[key] = {"stamp": file_stamp, "length": len(text), "shape": shape}
        self._save(entries)

    def _save(self, entries: dict[str, Any]) -> None:
        jsonfile.write_private(self.path, entries)  # not written (read-only home): parse every time


def shape_of(text: str, document: Any) -> Any:
    """The shape of `text` (already parsed as `document`), or None when it would not give `document` back."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader)  # noqa: S506 - a safe loader
        shape = _shape(node, text) if node is not None else None
        if shape is None or not _same(materialise(shape, text), document):
            return None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return None
    return shape


def _same(a: Any, b: Any) -> bool:
    # json tells True from 1 and says no to values it cannot hold (timestamps, bytes): then no shape
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _shape(node: Any, text: str) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode):
        pairs = [[_shape(k, text), _shape(v, text)] for k, v in node.value]
        return {"m": pairs} if all(k is not None and v is not None for k, v in pairs) else None
    if isinstance(node, yaml.SequenceNode):
        items = [_shape(v, text) for v in node.value]
        return {"s": items} if all(i is not None for i in items) else None
    tag = _TAGS.get(node.tag)
    start, end = node.start_mark.index, node.end_mark.index
    if tag is None or node.style not in (None, "", "'", '"'):  # plain is None (Python) or "" (libyaml)
        return None  # block scalars (| >), binary, timestamps: parse every time
    if node.style:
        start, end = start + 1, end - 1  # inside the quotes
    if text[start:end] != node.value:
        return None  # escapes or folded lines: the text is not the value
    return [tag, start, end]


def materialise(shape: Any, text: str) -> Any:
    if isinstance(shape, dict):
        if "m" in shape:
            return {materialise(k, text): materialise(v, text) for k, v in shape["m"]}
        return [materialise(v, text) for v in shape["s"]]
    tag, start, end = shape
    raw = text[start:end]
    if tag == _STR:
        return raw
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return raw.lower() in _TRUE
    if tag == _INT:
        return int(raw.replace("_", ""), 0)
    if tag == _FLOAT:
        return float(raw.replace("_", ""))
    raise ValueError(tag)
