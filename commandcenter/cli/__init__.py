"""The ``commandcenter`` command line.

Each subcommand imports what it needs lazily, so ``commandcenter schema`` or
``journal stats`` start fast and never load Qt. The Qt-based commands (``wall``,
``demo``) live in the ui package and are imported only when asked for.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from commandcenter import __version__

log = logging.getLogger(__name__)


def _cmd_schema(args: argparse.Namespace) -> int:
    from commandcenter.core.protocol import json_schema_text

    sys.stdout.write(json_schema_text() + "\n")
    return 0


def _cmd_config_check(args: argparse.Namespace) -> int:
    from commandcenter.config import config_check_main

    return config_check_main(args.file)


def _cmd_config_reference(args: argparse.Namespace) -> int:
    from commandcenter.config.docgen import reference_main

    return reference_main(args.output, args.check, sys.stdout)


def _cmd_config_defaults(args: argparse.Namespace) -> int:
    from commandcenter.config.docgen import defaults_main

    return defaults_main(args.check, sys.stdout)


def _cmd_config_show(args: argparse.Namespace) -> int:
    import msgspec

    from commandcenter.config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"config error: {exc}\n")
        return 1
    data = msgspec.to_builtins(cfg)
    # Tokens are secrets: show that one is set, never its value.
    if data.get("server", {}).get("token"):
        data["server"]["token"] = "***"
    for grant in data.get("serve", {}).get("tokens", []):
        grant["token"] = "***"
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(data), indent=2).decode() + "\n")
    return 0


def _cmd_journal_stats(args: argparse.Namespace) -> int:
    from commandcenter.storage.journal import journal_stats_main

    return journal_stats_main(args.db)


def _cmd_journal_export(args: argparse.Namespace) -> int:
    from commandcenter.storage.journal import journal_export_main

    return journal_export_main(args.db)


def _cmd_audit(args: argparse.Namespace) -> int:
    from commandcenter.storage.audit import audit_main

    return audit_main(args.db, args.since)


def _cmd_say(args: argparse.Namespace) -> int:
    from commandcenter.wall.speech import say_main

    return say_main(args.lang, args.out, args.text)


def _cmd_layout_check(args: argparse.Namespace) -> int:
    from commandcenter.wall.layout import layout_check_main

    return layout_check_main(args.preset or "", args.config or "", all_presets=args.all, lang=args.lang or "")


def _cmd_ingest_check(args: argparse.Namespace) -> int:
    from commandcenter.ingest.check import check_main

    return check_main(args.format, args.file, districts=args.districts, villages=args.villages)


def _lazy(module: str, func: str) -> Callable[[argparse.Namespace], int]:
    """A handler that imports ``module`` only when the command runs."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        handler: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), func)
        return handler(args)

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="commandcenter",
        description="OKI Siaga 112 command-center wall display and reference dispatch server.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("schema", help="print the JSON Schema of wire protocol v1")
    p.set_defaults(func=_cmd_schema)

    p = sub.add_parser("config", help="check or show configuration")
    csub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    pc = csub.add_parser("check", help="validate a configuration file")
    pc.add_argument("file", help="TOML file to validate (merged over the shipped defaults)")
    pc.set_defaults(func=_cmd_config_check)
    ps = csub.add_parser("show", help="print the effective configuration as JSON")
    ps.add_argument("--config", default=None, help="user configuration file")
    ps.set_defaults(func=_cmd_config_show)
    pr = csub.add_parser("reference", help="print the configuration reference made from the schema")
    pr.add_argument("--output", default=None, help="write it to this file (docs/configuration.md)")
    pr.add_argument("--check", action="store_true", help="exit 1 when that file differs")
    pr.set_defaults(func=_cmd_config_reference)
    pd = csub.add_parser("defaults", help="print the schema's default of every key")
    pd.add_argument("--check", action="store_true", help="exit 1 when config/default.toml disagrees")
    pd.set_defaults(func=_cmd_config_defaults)

    p = sub.add_parser("journal", help="inspect a journal database")
    jsub = p.add_subparsers(dest="journal_command", required=True, metavar="ACTION")
    pj = jsub.add_parser("stats", help="size, counts, positions and health of a journal")
    pj.add_argument("--db", required=True, help="journal file (SQLite)")
    pj.set_defaults(func=_cmd_journal_stats)
    pe = jsub.add_parser("export", help="every event as JSON Lines, in order, with epoch and seq")
    pe.add_argument("--db", required=True, help="journal file (SQLite)")
    pe.set_defaults(func=_cmd_journal_export)

    from commandcenter.cli import runner

    p = sub.add_parser("serve", help="run the reference dispatch server (with the OKI simulator)")
    runner.add_serve_arguments(p)
    p.set_defaults(func=_lazy("commandcenter.cli.runner", "serve_main"))

    p = sub.add_parser("follow", help="follow a server into a journal (headless recording node)")
    runner.add_follow_arguments(p)
    p.set_defaults(func=_lazy("commandcenter.cli.runner", "follow_main"))

    p = sub.add_parser("inject", help="push scripted events (drills, tests); needs the admin role")
    runner.add_inject_arguments(p)
    p.set_defaults(func=_lazy("commandcenter.cli.runner", "inject_main"))

    p = sub.add_parser("audit", help="the audit log (acknowledged, shelved, muted ...) as CSV")
    p.add_argument("--db", required=True, help="journal file (SQLite)")
    p.add_argument("--since", required=True, help="ISO time, e.g. 2026-11-27T08:00 (WIB when no offset)")
    p.set_defaults(func=_cmd_audit)

    p = sub.add_parser("say", help="write what the wall would say to a WAV file")
    p.add_argument("--lang", default="id", choices=["id", "en"])
    p.add_argument("--out", required=True, help="WAV file to write")
    p.add_argument("text", help="the announcement text")
    p.set_defaults(func=_cmd_say)

    from commandcenter.ops.doctor import add_doctor_arguments

    p = sub.add_parser(
        "doctor",
        help="check this wall PC: screens, audio, speech voice, server and token, journal, disk "
        "(`python -m commandcenter.cli doctor` is Qt-free and skips screens and audio)",
    )
    add_doctor_arguments(p)
    p.set_defaults(func=_lazy("commandcenter.ops.doctor", "doctor_main"))

    p = sub.add_parser("demo-terminal", help="the simulator into a journal, summarised in the terminal")
    p.add_argument("--run-for", type=float, default=None, help="stop after SECONDS (default: until Ctrl-C)")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    p.add_argument("--rate", type=float, default=6.0, help="incidents a minute in normal times")
    p.add_argument("--seed", type=int, default=112)
    p.add_argument("--scenario", default="mixed", choices=["normal", "flood", "karhutla", "mixed"])
    p.add_argument("--data-dir", default=None, help="where the journal goes (default: a temp dir)")
    p.set_defaults(func=_lazy("commandcenter.cli.demo_terminal", "demo_main"))

    p = sub.add_parser("layout", help="room layouts: what fits on each screen at its viewing distance")
    lsub = p.add_subparsers(dest="layout_command", required=True, metavar="ACTION")
    pl = lsub.add_parser("check", help="rows, columns, text size per screen and view; exit 1 on a miss")
    which = pl.add_mutually_exclusive_group()
    which.add_argument("--preset", default=None, help="a shipped preset (config/layouts.toml)")
    which.add_argument("--config", default=None, help="a layout file, or a config file with a [layout] table")
    which.add_argument("--all", action="store_true", help="every shipped preset")
    pl.add_argument("--lang", choices=["id", "en"], default=None,
                    help="measure the captions of this language (default: display.language)")
    pl.set_defaults(func=_cmd_layout_check)

    from commandcenter.cli.report import add_report_arguments

    p = sub.add_parser("report", help="situation report or shift handover from a journal (PDF, HTML, CSV)")
    add_report_arguments(p)
    p.set_defaults(func=_lazy("commandcenter.cli.report", "report_main"))

    p = sub.add_parser("ingest", help="external feeds: BMKG, CAP, FIRMS, PetaBencana, NENA EIDO")
    isub = p.add_subparsers(dest="ingest_command", required=True, metavar="ACTION")
    pi = isub.add_parser("check", help="parse a feed file offline: a JSON line per item, exit 2 on bad input")
    pi.add_argument(
        "--format", required=True, choices=["bmkg-quake", "bmkg-rss", "cap", "firms", "petabencana", "eido"]
    )
    pi.add_argument("--districts", default="", help="district boundaries (GeoJSON; default: the shipped OKI)")
    pi.add_argument("--villages", default="", help="village boundaries (GeoJSON; default: the shipped OKI)")
    pi.add_argument("file", help="the feed file (JSON, XML or CSV as the format says)")
    pi.set_defaults(func=_cmd_ingest_check)
    pr = isub.add_parser("run", help="poll the configured [[sources]] and publish new items into the server")
    from commandcenter.config.schema import server_argument

    pr.add_argument(
        "--server", required=True, type=server_argument, help="the dispatch server's ws:// or wss:// URL"
    )
    pr.add_argument("--token", default=None, help="admin-role token (better: --token-file)")
    pr.add_argument("--config", default=None, help="configuration file with the [[sources]] to poll")
    pr.set_defaults(func=_lazy("commandcenter.ingest.run", "ingest_run_main"))

    return parser


def main(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    from commandcenter.ops.secrets import TokenError, add_token_file_options, resolve_token_args

    parser = parser or build_parser()
    add_token_file_options(parser)  # --token-file wherever there is a --token
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        resolve_token_args(args, sys.argv[1:] if argv is None else argv)
    except TokenError as exc:
        sys.stderr.write(f"{args.command}: {exc}\n")
        return 2
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `commandcenter journal export | head` closes the pipe early; that's fine.
        return 0
    except Exception as exc:
        # A journal that is locked, read-only or on a full disk: one line and a
        # non-zero code (a restart may find it free), not a traceback.
        from commandcenter.storage.journal import JournalError

        if not isinstance(exc, JournalError):
            raise
        log.debug("%s failed", args.command, exc_info=True)
        sys.stderr.write(f"{args.command}: {exc}\n")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
