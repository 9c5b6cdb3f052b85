"""``livefeed`` command line. Each subcommand is a module in ``livefeed.commands`` with ``add_parser`` and ``run``.

No input ends in a traceback: usage mistakes and livefeed's own errors print one line and exit 2; anything else
prints one line naming the error and exits 1 (``livefeed -v ...`` logs its traceback too).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from .commands.arguments import OneLineParser
from .errors import LivefeedError

__all__ = ["main", "build_parser", "COMMANDS"]

COMMANDS = ("demo", "capture", "replay", "sim")


def _commands() -> dict[str, ModuleType]:
    found = {}
    for name in COMMANDS:
        try:
            found[name] = importlib.import_module(f"livefeed.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"livefeed.commands.{name}":
                raise
    return found


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = OneLineParser(prog="livefeed", description="Live market data: demo, capture, replay, sim.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log reconnects and resyncs")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = _commands()
    for module in commands.values():
        module.add_parser(sub)
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(commands[args.command].run(args) or 0)
    except LivefeedError as exc:
        _one_line(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: a bug, reported in one line rather than a traceback
        if args.verbose:
            logging.getLogger("livefeed.cli").exception("livefeed %s failed", args.command)
        _one_line(f"unexpected {type(exc).__name__}: {exc}" + ("" if args.verbose else " (-v shows the traceback)"))
        return 1


def _one_line(message: str) -> None:
    print(f"livefeed: {' '.join(message.split())}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
