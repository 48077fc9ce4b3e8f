"""`python -m commandcenter`: the engine's Qt-free command line (as `python -m commandcenter.cli`).

The `commandcenter` console script (ui.app.cli) adds the Qt commands `wall` and `demo`; the engine
never imports Qt, so here they are stand-ins that say where the wall is, and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from commandcenter import cli

#: The console script's commands that need Qt (ui.app.cli).
WALL_COMMANDS = ("wall", "demo")


def _needs_qt(command: str) -> int:
    sys.stderr.write(
        f"commandcenter {command}: the wall needs the Qt layer, which `python -m commandcenter` "
        f"never loads. Run `commandcenter {command} ...` (the installed console script) or "
        f"`python -m ui.app.cli {command} ...`.\n"
    )
    return 2


def _command(argv: Sequence[str]) -> str:
    """The subcommand in ``argv``: its first word that is neither an option nor --log-level's value."""
    words = iter(argv)
    for word in words:
        if word == "--log-level":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


def build_parser() -> argparse.ArgumentParser:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in WALL_COMMANDS:
        # Listed in --help; main answers them before parsing, whatever options follow.
        hint = f"needs Qt: run `commandcenter {name}` (the console script, ui.app.cli) instead"
        p = sub.add_parser(name, help=hint, description=hint)
        p.set_defaults(func=lambda args: _needs_qt(args.command))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command(argv)
    if command in WALL_COMMANDS and not {"-h", "--help"} & set(argv):
        return _needs_qt(command)
    return cli.main(argv, parser=build_parser())


if __name__ == "__main__":
    sys.exit(main())
