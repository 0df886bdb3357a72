"""The command line of a document generated from the channel table (the AsyncAPI document, the NATS
permissions of the Helm chart): print it, ``--write`` it, or ``--check`` that a committed copy
still says the same (compared as data, so formatting does not matter)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import yaml


def main(argv: list[str] | None, *, description: str | None, render: Callable[[], str]) -> int:
    """Exit status: 0, or 1 when ``--check`` finds the file differs from what ``render`` makes."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, help="write the document to this file")
    group.add_argument("--check", type=Path, help="exit 1 when this file differs from the code")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        args.write.write_text(text)
    elif args.check:
        # YAML reads JSON too.
        if yaml.safe_load(args.check.read_text()) != yaml.safe_load(text):
            print(
                f"{args.check} disagrees with voice_proto.channels; regenerate it with --write",
                file=sys.stderr,
            )
            return 1
    else:
        sys.stdout.write(text)
    return 0
