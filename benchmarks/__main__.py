"""Run every benchmark (`make bench`): each `bench_*.py` module's main(), in name order, bench_goals' table last."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import traceback

import benchmarks


def main(argv: list[str]) -> int:
    # kf in its own process unless a benchmark asks for the agent (bench_goals' agent rows do, with their own
    # XDG_RUNTIME_DIR), so the figures say what they measure.
    os.environ.setdefault("KF_AGENT", "0")
    wanted = set(argv)
    failed = []
    # bench_goals last: its table of issue 13's goals is what `make bench` ends with
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: (m.name == "bench_goals", m.name)):
        if not info.name.startswith("bench_") or (wanted and info.name not in wanted):
            continue
        print(f"\n== {info.name}", flush=True)
        try:
            importlib.import_module(f"benchmarks.{info.name}").main()
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(info.name)
    if failed:
        print(f"\nbenchmarks failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
