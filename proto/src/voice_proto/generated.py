"""The command line of a document generated from code and committed beside it (the bus's AsyncAPI
document, the browser protocol's JSON Schema): print it, ``--write`` it, or ``--check`` a
committed copy, which exits 1 when the copy no longer says what the code does."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def document_command(
    argv: list[str] | None,
    *,
    description: str | None,
    render: Callable[[], str],
    load: Callable[[str], Any],
    source: str,
) -> int:
    """Run the command; ``render`` makes the document's text, ``load`` parses a copy for comparison
    (so layout does not count), ``source`` names the code it is generated from."""
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
        if load(args.check.read_text()) != load(text):
            print(f"{args.check} disagrees with {source}; regenerate it with --write", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0
