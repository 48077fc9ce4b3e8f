"""The `commandcenter` command: the engine's commands plus the Qt ones.

The engine's parser (commandcenter.cli) knows nothing of Qt; this module adds
`wall` and `demo`, so the layering holds: ui imports the engine, never the
reverse. `python -m commandcenter.cli` stays a Qt-free entry for servers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from commandcenter import cli as engine_cli


def _supervised(args: argparse.Namespace) -> int | None:
    """Run the command as a supervised child (commandcenter.ops.supervisor) unless
    this already is that child or --no-supervisor asks for one process."""
    # A replay (--replay) is a look back, not a wall to keep up: no supervisor.
    if args.no_supervisor or args.supervised or getattr(args, "replay", None):
        return None
    from commandcenter.ops.supervisor import supervise_main

    return supervise_main(args, args.raw_argv)


def _wall(args: argparse.Namespace) -> int:
    code = _supervised(args)
    if code is not None:
        return code
    from ui.app.wall import wall_main

    return wall_main(args, demo=False)


def _demo(args: argparse.Namespace) -> int:
    code = _supervised(args)
    if code is not None:
        return code
    from ui.app.wall import wall_main

    return wall_main(args, demo=True)


def _doctor(args: argparse.Namespace) -> int:
    from ui.app.doctor import doctor_main

    return doctor_main(args)


def add_replay_arguments(p: argparse.ArgumentParser) -> None:
    """`wall --replay` (ui.app.replay, imported only when replaying: Qt is slow to import)."""
    p.add_argument("--replay", default=None, metavar="JOURNAL",
                   help="replay this journal (read-only) on the wall instead of following the server")
    p.add_argument("--from", dest="replay_from", default=None, metavar="TIME",
                   help="with --replay: start here (ISO time, WIB when no offset)")
    p.add_argument("--to", dest="replay_to", default=None, metavar="TIME",
                   help="with --replay: end here (ISO time, WIB when no offset)")
    p.add_argument("--speed", dest="replay_speed", type=float, default=1.0, metavar="X",
                   help="with --replay: play at X times real time (1 to 600); paused until played")
    p.add_argument("--play", dest="replay_play", action="store_true",
                   help="with --replay: start playing at once")
    p.add_argument("--replay-sound", action="store_true",
                   help="with --replay: play the alerts' tones and speech (silent by default)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    from ui.app.wall import add_wall_arguments

    parser = engine_cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    p = sub.add_parser("wall", help="run the wall display (connects to the server in the config)")
    add_wall_arguments(p, demo=False)
    add_replay_arguments(p)
    p.set_defaults(func=_wall)
    p = sub.add_parser("demo", help="start the reference server with the simulator and the wall")
    add_wall_arguments(p, demo=True)
    p.set_defaults(func=_demo)
    # The engine's doctor, plus the screens and the audio output seen by Qt.
    p = sub.choices["doctor"]
    p.description = "Check this wall PC (screens and audio included)."
    p.add_argument("--headless", action="store_true", help="no display: Qt's offscreen platform")
    p.add_argument("--screens", default=None, help="offscreen screen layout (JSON) to check against")
    p.set_defaults(func=_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # The supervisor starts the wall again with exactly this command line.
    parser.set_defaults(raw_argv=argv)
    return engine_cli.main(argv, parser=parser)


if __name__ == "__main__":
    sys.exit(main())
