"""The runtime image's tests build it when it is missing (about two minutes cold, then cached) and need root."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "image: builds or unpacks the runtime image (slow the first time; root)")
