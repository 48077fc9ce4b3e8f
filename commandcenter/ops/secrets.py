"""Access tokens on the command line: from a file or the environment, never argv.

A value given with ``--token`` shows in ``ps`` and in any log that records the
command line, to every user of the machine. The documented ways are
``--token-file PATH`` (the first line of a file only its owner can read) and the
``COMMANDCENTER_TOKEN`` environment variable; ``--token`` still works and warns.
Every subcommand that has ``--token`` gets ``--token-file`` here, in one place,
and the supervisor hands a token to the wall it starts through the environment.
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from commandcenter.config import ENV_TOKEN

log = logging.getLogger(__name__)

__all__ = [
    "ENV_TOKEN",
    "TokenError",
    "add_token_file_options",
    "read_token_file",
    "resolve_token_args",
    "strip_token_args",
]

#: Longest token accepted (the config's limit).
MAX_TOKEN_CHARS = 256


class TokenError(Exception):
    """A token file that cannot be used; the message is one line for a person."""


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The token in ``path``: its first line, stripped. Refuses a missing,
    unreadable or empty file, and one that other users may read or write (they
    would have the token too). Raises :class:`TokenError`."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            st = os.fstat(fh.fileno())
            raw = fh.read(MAX_TOKEN_CHARS * 4 + 2)
    except OSError as exc:
        raise TokenError(f"token file {p}: {exc.strerror or exc}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenError(
            f"token file {p} is readable by other users (mode {stat.S_IMODE(st.st_mode):o}); "
            f"make it private: chmod 600 {p}"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenError(f"token file {p} is not UTF-8 text") from None
    lines = text.splitlines()
    token = lines[0].strip() if lines else ""
    if not token:
        raise TokenError(f"token file {p} is empty")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenError(f"token file {p}: the token is longer than {MAX_TOKEN_CHARS} characters")
    return token


def _has_option(parser: argparse.ArgumentParser, option: str) -> bool:
    return any(option in action.option_strings for action in parser._actions)


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                out.append(sub)
                out.extend(_subparsers(sub))
    return out


def add_token_file_options(parser: argparse.ArgumentParser) -> None:
    """Give every (sub)command that takes ``--token`` a ``--token-file`` too."""
    for sub in _subparsers(parser):
        if _has_option(sub, "--token") and not _has_option(sub, "--token-file"):
            sub.add_argument(
                "--token-file",
                default=None,
                metavar="PATH",
                help=f"read the access token from this file (mode 0600); or set {ENV_TOKEN}. "
                "Better than --token, whose value every user sees in `ps`",
            )


def resolve_token_args(args: argparse.Namespace, argv: Sequence[str] = ()) -> None:
    """``--token-file`` into ``args.token``; a warning when ``--token`` was given
    on the command line. Raises :class:`TokenError` for a bad token file."""
    path = getattr(args, "token_file", None)
    if path:
        if getattr(args, "token", None):
            raise TokenError("give either --token or --token-file, not both")
        args.token = read_token_file(path)
        return
    if getattr(args, "token", None) and any(a == "--token" or a.startswith("--token=") for a in argv):
        log.warning(
            "--token is visible to every user of this machine (ps, shell history); "
            "use --token-file PATH or the %s environment variable",
            ENV_TOKEN,
        )


def strip_token_args(argv: Sequence[str]) -> tuple[list[str], str | None]:
    """``argv`` without ``--token VALUE`` / ``--token=VALUE``, and that value
    (the supervisor passes it to its child in the environment instead)."""
    out: list[str] = []
    token: str | None = None
    it = iter(argv)
    for arg in it:
        if arg == "--token":
            token = next(it, None)
            continue
        if arg.startswith("--token="):
            token = arg.split("=", 1)[1]
            continue
        out.append(arg)
    return out, token
