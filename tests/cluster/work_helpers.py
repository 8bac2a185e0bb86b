"""What the notebook/train/serve/tensorboard cluster tests share: reading and patching objects as admin,
driving a status subresource where no controller runs, and running a kf command in the background."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from kfshell.cluster import request_json

MERGE = {"Content-Type": "application/merge-patch+json"}


def names(admin: Any, path: str) -> list[str]:
    """The names of the objects listed at `path` (what the namespace holds, as admin sees it)."""
    return sorted(o["metadata"]["name"] for o in request_json(admin, "GET", path).get("items") or [])


def get(admin: Any, path: str) -> dict[str, Any] | None:
    from kfshell.cluster import ApiError

    try:
        return request_json(admin, "GET", path)
    except ApiError as err:
        if err.status == 404:
            return None
        raise


def set_status(admin: Any, path: str, status: dict[str, Any]) -> None:
    """Write an object's status as its controller would (the status subresource), for kinds with no controller."""
    request_json(admin, "PATCH", f"{path}/status", body={"status": status}, headers=MERGE)


def controller_running(word: str) -> bool:
    """Whether `python -m devcluster status` lists a running component whose name holds `word`."""
    done = subprocess.run([sys.executable, "-m", "devcluster", "status"], capture_output=True, text=True,
                          check=False)
    return any(word in line and "stopped" not in line and "False" not in line
               for line in done.stdout.splitlines() if not line.startswith("kubeconfig"))


class Background:
    """A call on a thread (a kf command that waits), joined with `result()`."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None

        def work() -> None:
            try:
                self._value = call()
            except BaseException as err:  # noqa: BLE001 - handed to the test thread by result()
                self._error = err

        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()

    def result(self, timeout: float = 120.0) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the background kf command did not finish"
        if self._error is not None:
            raise self._error
        return self._value
