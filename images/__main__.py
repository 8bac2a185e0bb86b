"""`python -m images build [--refresh] | unpack DEST | lock | digest`: the runtime image kf-runtime:0.1.0."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    from images import build

    parser = argparse.ArgumentParser(prog="python -m images", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="a traceback on failure")
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("build", help=f"build {build.REF} into {build.CACHE} (steps with unchanged inputs skipped)")
    make.add_argument("--refresh", action="store_true", help="rebuild the Debian layer even if its inputs match")
    unpack = sub.add_parser("unpack", help="unpack the image's root filesystem into DEST (a new directory)")
    unpack.add_argument("dest", type=Path)
    sub.add_parser("lock", help="re-resolve kf's dependencies into images/requirements.lock")
    sub.add_parser("digest", help="print the built image's manifest digest")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            start = time.monotonic()
            image = build.build(refresh=args.refresh)
            print(f"{build.REF} {image.digest} in {time.monotonic() - start:.0f} s\n"
                  f"  OCI layout:     {image.layout.relative_to(build.REPO)} (ref {build.TAG})\n"
                  f"  docker-archive: {image.archive.relative_to(build.REPO)}\n"
                  f"  rootfs:         {image.rootfs.relative_to(build.REPO)}")
        elif args.command == "unpack":
            print(build.unpack(args.dest))
        elif args.command == "lock":
            print(build.lock().relative_to(build.REPO))
        else:
            print(build.manifest_digest())
    except (build.BuildError, OSError) as exc:
        if args.verbose:
            raise
        print(f"image: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
