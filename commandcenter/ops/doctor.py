"""`commandcenter doctor`: is this wall PC ready to run the wall?

A wall PC runs for months without anyone at its keyboard; when something is
wrong, whoever comes to look needs one command that says what and what to do.
Each check gives OK, PERINGATAN (warning) or GAGAL (failure), a detail and an
action. The exit code is 1 when any check failed, else 0: warnings alone do
not fail, because they name things a wall can run with (no journal yet before
the first start, a silent wall screen whose sound comes from the console, a
disk getting full).

This module holds the checks that need no Qt: the configuration, the server
and the token (a real hello over the wire protocol), the journal, disk space
and the speech voice. The screens and the audio output are Qt's to know; they
live in ui.app.doctor, which adds them to the same report. ``python -m
commandcenter.cli doctor`` (servers, machines without Qt) reports them as
skipped and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from commandcenter.config import APP_NAME, Config, ConfigError, load_config, load_defaults
from commandcenter.config.schema import server_argument
from commandcenter.core import protocol as p
from commandcenter.core.i18n import Strings, strings_for
from commandcenter.core.timeutil import WIB, utcnow

Status = Literal["ok", "warn", "fail", "skip"]

#: Disk space below either limit is a warning; below the hard limit a failure
#: (SQLite cannot append events, logs stop).
DISK_WARN_BYTES = 1 << 30
DISK_WARN_FRACTION = 0.05
DISK_FAIL_BYTES = 200 << 20
#: The journal holds no event younger than this: the wall is likely not
#: receiving (a quiet hour is normal, a quiet day is not).
JOURNAL_STALE_S = 24 * 3600.0
SERVER_TIMEOUT_S = 5.0

#: Every text of the report is in the doctor catalog
#: (resources/locale/<lang>/LC_MESSAGES/doctor.po), keys prefixed "doctor.".


def tr(strings: Strings, key: str, **fields: object) -> str:
    return strings.t(f"doctor.{key}", **fields)


@dataclass
class Check:
    """One line of the report."""

    key: str
    status: Status
    detail: str
    action: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def title(self, strings: Strings) -> str:
        return tr(strings, f"t.{self.key}") if f"doctor.t.{self.key}" in strings else self.key


@dataclass
class DoctorOptions:
    config: str | None = None
    server: str | None = None
    token: str | None = None
    data_dir: str | None = None
    lang: str | None = None
    timeout_s: float = SERVER_TIMEOUT_S


# --- formatting helpers ------------------------------------------------------------------


def human_bytes(n: float, strings: Strings) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            # Through the locale: 1,5 GB in Indonesian, 1.5 GB in English.
            return f"{strings.number(n, 0 if unit == 'B' else 1)} {unit}"
        n /= 1024
    return f"{strings.number(n, 1)} TB"  # pragma: no cover - the loop always returns


# --- the checks ----------------------------------------------------------------------------


def load_for_check(opts: DoctorOptions) -> tuple[Config, str, ConfigError | None]:
    """The configuration (the defaults when it is invalid, so the other checks
    still run), where it came from, and its error."""
    from commandcenter.config import ENV_CONFIG, user_config_path

    try:
        config = load_config(opts.config)
    except ConfigError as exc:
        return load_defaults(), "", exc
    source = opts.config or os.environ.get(ENV_CONFIG) or ""
    if not source and user_config_path().is_file():
        source = str(user_config_path())
    return config, source, None


def check_config(source: str, error: ConfigError | None, strings: Strings) -> Check:
    if error is not None:
        return Check("config", "fail", tr(strings, "config.bad", error=error), tr(strings, "config.bad.do"))
    return Check("config", "ok", tr(strings, "config.ok", source=source or tr(strings, "config.defaults")))


async def probe_server(url: str, token: str, client_id: str, timeout_s: float) -> tuple[str, str, Any]:
    """One real hello: ("ok", "", welcome), ("token", reason, None),
    ("unreachable" | "refused" | "protocol", reason, None)."""
    import websockets
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

    try:
        async with asyncio.timeout(timeout_s):
            async with websockets.connect(
                url,
                open_timeout=timeout_s,
                compression=None,
                ping_interval=None,
                proxy=None,
                close_timeout=1,
                max_size=p.MAX_FRAME_BYTES,
            ) as ws:
                hello = p.Hello(token=token, client_id=client_id, software=f"{APP_NAME}-doctor")
                await ws.send(p.encode(hello).decode())
                try:
                    first = p.decode_server_frame(await ws.recv())
                except ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd is not None else None
                    reason = exc.rcvd.reason if exc.rcvd is not None else str(exc)
                    if code == 4401:  # commandcenter.refserver.server.CLOSE_BAD_TOKEN
                        return "token", f"4401 {reason}".strip(), None
                    return "refused", f"closed {code}: {reason}", None
                if isinstance(first, p.Error):
                    if first.code == "bad_token":
                        return "token", f"{first.code}: {first.reason}", None
                    return "refused", f"{first.code}: {first.reason}", None
                if not isinstance(first, p.Welcome):
                    return "protocol", f"expected welcome, got {type(first).__name__}", None
                return "ok", "", first
    except TimeoutError:
        return "unreachable", "timeout", None
    except p.ProtocolError as exc:
        return "protocol", str(exc), None
    except InvalidURI as exc:
        return "unreachable", f"invalid URL: {exc}", None
    except InvalidStatus as exc:
        return "protocol", f"HTTP {exc.response.status_code}, not a websocket server", None
    except InvalidHandshake as exc:
        return "protocol", f"{type(exc).__name__}: {exc}", None
    except OSError as exc:
        # asyncio words a refused connection as "Connect call failed (...)";
        # the errno's own text ("Connection refused") tells a person more.
        # (getaddrinfo's errors carry negative codes and their own text.)
        by_errno = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else ""
        reason = by_errno or exc.strerror or str(exc)
        return "unreachable", reason or type(exc).__name__, None


def check_server(config: Config, opts: DoctorOptions, strings: Strings) -> Check:
    url = opts.server or config.server.url
    token = opts.token or config.server.token
    client_id = f"doctor-{config.server.effective_client_id()}"[:64]
    if not token:
        no_token = tr(strings, "server.no_token", url=url)
        return Check("server", "fail", no_token, tr(strings, "server.token.do"))
    outcome, reason, welcome = asyncio.run(probe_server(url, token, client_id, opts.timeout_s))
    if outcome == "ok":
        return Check(
            "server",
            "ok",
            tr(strings, "server.ok", url=url, role=welcome.role, epoch=welcome.epoch, seq=welcome.head_seq),
            data={"url": url, "role": welcome.role, "epoch": welcome.epoch, "head_seq": welcome.head_seq},
        )
    if reason == "timeout":
        reason = tr(strings, "server.timeout", s=strings.number(opts.timeout_s, None))
    data = {"url": url, "outcome": outcome, "reason": reason}
    if outcome == "token":
        return Check(
            "server",
            "fail",
            tr(strings, "server.token", url=url, reason=reason),
            tr(strings, "server.token.do"),
            data,
        )
    if outcome == "protocol":
        return Check(
            "server",
            "fail",
            tr(strings, "server.protocol", url=url, reason=reason),
            tr(strings, "server.protocol.do", version=p.PROTOCOL_VERSION),
            data,
        )
    key = "server.refused" if outcome == "refused" else "server.unreachable"
    return Check(
        "server", "fail", tr(strings, key, url=url, reason=reason), tr(strings, "server.unreachable.do"), data
    )


def wall_journal_path(config: Config, data_dir: str | None) -> Path:
    """The journal the wall uses (ui.app.wall.run_wall): journal.path when set,
    else wall-journal.sqlite3 in the data directory."""
    if config.journal.path:
        return config.journal.resolved_path()
    return default_data_dir(data_dir) / "wall-journal.sqlite3"


def default_data_dir(data_dir: str | None) -> Path:
    import platformdirs

    return Path(data_dir) if data_dir else Path(platformdirs.user_data_dir(APP_NAME))


def check_journal(path: Path, config: Config, strings: Strings, now: dt.datetime) -> Check:
    from commandcenter.storage.journal import Journal, JournalError

    shown = str(path)
    if not path.exists():
        return Check(
            "journal",
            "warn",
            tr(strings, "journal.missing", path=shown),
            tr(strings, "journal.missing.do"),
            {"path": shown, "exists": False},
        )

    async def stats() -> dict[str, Any]:
        # readonly: never creates, migrates or changes the file.
        async with await Journal.open(path, readonly=True) as journal:
            return await journal.stats()

    try:
        st = asyncio.run(stats())
    except (JournalError, sqlite3.Error, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Check(
            "journal",
            "fail",
            tr(strings, "journal.bad", path=shown, reason=reason),
            tr(strings, "journal.bad.do"),
            {"path": shown, "error": reason},
        )
    size_bytes = int(st["file_bytes"]) + int(st["wal_bytes"])
    size = human_bytes(size_bytes, strings)
    data = {"path": shown, "integrity": st["integrity"], "events": st["events"], "bytes": size_bytes}
    if st["integrity"] != "ok":
        return Check(
            "journal",
            "fail",
            tr(strings, "journal.bad", path=shown, reason=st["integrity"]),
            tr(strings, "journal.bad.do"),
            data,
        )
    # The newest data the journal holds: its last event, else (a wall that
    # joined through a snapshot and saw nothing since) its latest snapshot.
    if st["last"] is not None:
        newest = str(st["last"]["ts"])
    elif st["latest_snapshot"] is not None:
        newest = str(st["latest_snapshot"]["created_at"])
    else:
        return Check("journal", "ok", tr(strings, "journal.empty", path=shown, size=size), data=data)
    last_ts = dt.datetime.fromisoformat(newest)
    if last_ts.tzinfo is None:
        last_ts = last_ts.replace(tzinfo=dt.UTC)
    # Event times are the server's (a simulator at speed runs ahead): never
    # show a negative age.
    age_s = max(0.0, (now - last_ts).total_seconds())
    data["newest_age_s"] = round(age_s, 1)
    data["seq"] = st["position"]["seq"]
    if size_bytes > 0.9 * config.journal.max_mb * (1 << 20):
        return Check(
            "journal",
            "warn",
            tr(strings, "journal.big", path=shown, size=size, max_mb=config.journal.max_mb),
            tr(strings, "journal.big.do"),
            data,
        )
    refused = int(st.get("refused") or 0)
    if refused:
        # Events from the server this program could not hold: stepped over,
        # never applied (commandcenter.wall.feed); the server may be of another version.
        data["refused"] = refused
        return Check(
            "journal",
            "warn",
            tr(strings, "journal.refused", path=shown, n=strings.number(refused)),
            tr(strings, "journal.refused.do"),
            data,
        )
    if age_s > JOURNAL_STALE_S:
        return Check(
            "journal",
            "warn",
            tr(strings, "journal.old", path=shown, age=strings.age_coarse(age_s)),
            tr(strings, "journal.old.do"),
            data,
        )
    seq = st["position"]["seq"]
    age = strings.age_coarse(age_s)
    text = tr(strings, "journal.ok", path=shown, events=st["events"], seq=seq, size=size, age=age)
    return Check("journal", "ok", text, data=data)


def _existing(path: Path) -> Path:
    """The nearest existing directory (the journal or log dir may not exist yet)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def check_disk(
    key: str, path: Path, strings: Strings, usage: Callable[[Path], Any] = shutil.disk_usage
) -> Check:
    where = _existing(path)
    try:
        du = usage(where)
    except OSError as exc:
        return Check(
            key,
            "fail",
            tr(strings, "disk.error", path=path, reason=exc.strerror or exc),
            data={"path": str(path)},
        )
    pct = 100.0 * du.free / du.total if du.total else 0.0
    free, total = human_bytes(du.free, strings), human_bytes(du.total, strings)
    fields = {"path": path, "free": free, "total": total, "pct": strings.number(pct)}
    data = {"path": str(path), "checked": str(where), "free_bytes": du.free, "total_bytes": du.total}
    if du.free < DISK_FAIL_BYTES:
        return Check(key, "fail", tr(strings, "disk.low", **fields), tr(strings, "disk.low.do"), data)
    if du.free < DISK_WARN_BYTES or pct < DISK_WARN_FRACTION * 100:
        return Check(key, "warn", tr(strings, "disk.low", **fields), tr(strings, "disk.low.do"), data)
    return Check(key, "ok", tr(strings, "disk.ok", **fields), data=data)


def check_speech(config: Config, strings: Strings) -> Check:
    from commandcenter.wall.speech import check_available, speech_language

    if not config.speech.enabled:
        return Check("speech", "ok", tr(strings, "speech.off"))
    speech_lang = speech_language(config)
    # The audio device is the audio check's business (Qt's view of it):
    # here only whether the voice exists.
    ok, detail = check_available(config.speech, speech_lang, probe_audio=False)
    data = {"language": speech_lang, "voice": config.speech.for_language(speech_lang).voice}
    if ok:
        return Check("speech", "ok", tr(strings, "speech.ok", language=speech_lang, detail=detail), data=data)
    return Check(
        "speech",
        "fail",
        tr(strings, "speech.missing", language=speech_lang, detail=detail),
        tr(strings, "speech.missing.do", language=speech_lang),
        data,
    )


def skipped_qt_checks(strings: Strings) -> list[Check]:
    return [Check(key, "skip", tr(strings, "qt.skipped")) for key in ("screens", "audio")]


def run_checks(
    opts: DoctorOptions,
    *,
    qt_checks: Callable[[Config, Strings], Iterable[Check]] | None = None,
    now: dt.datetime | None = None,
) -> tuple[list[Check], Strings]:
    """Every check, in report order; returns them and the report language."""
    config, source, error = load_for_check(opts)
    strings = strings_for(opts.lang or config.display.language)
    checks = [check_config(source, error, strings)]
    checks.extend(qt_checks(config, strings) if qt_checks is not None else skipped_qt_checks(strings))
    checks.append(check_speech(config, strings))
    checks.append(check_server(config, opts, strings))
    journal = wall_journal_path(config, opts.data_dir)
    checks.append(check_journal(journal, config, strings, now or utcnow()))
    checks.append(check_disk("disk.journal", journal.parent, strings))
    checks.append(check_disk("disk.logs", config.logging.resolved_dir(), strings))
    return checks, strings


def exit_code(checks: Iterable[Check]) -> int:
    return 1 if any(c.status == "fail" for c in checks) else 0


def format_report(checks: list[Check], strings: Strings, now: dt.datetime | None = None) -> str:
    labels = {status: tr(strings, f"status.{status}") for status in ("ok", "warn", "fail", "skip")}
    width = max(len(v) for v in labels.values())
    title_width = max(len(c.title(strings)) for c in checks)
    when = (now or utcnow()).astimezone(WIB)
    lines = [tr(strings, "title", time=f"{when:%Y-%m-%d %H:%M}"), ""]
    for c in checks:
        line = f"{labels[c.status]:<{width}}  {c.title(strings):<{title_width}}  {c.detail}"
        if c.action:
            line += f" → {tr(strings, 'action')}: {c.action}"
        lines.append(line)
    fails = sum(c.status == "fail" for c in checks)
    warns = sum(c.status == "warn" for c in checks)
    lines.append("")
    if fails:
        lines.append(tr(strings, "summary.fail", n=fails))
    elif warns:
        lines.append(tr(strings, "summary.warn", n=warns))
    else:
        lines.append(tr(strings, "summary.ok"))
    return "\n".join(lines) + "\n"


def format_json(checks: list[Check], strings: Strings, now: dt.datetime | None = None) -> str:
    doc = {
        "generated_at": (now or utcnow()).isoformat(),
        "language": strings.language,
        "exit_code": exit_code(checks),
        "ok": exit_code(checks) == 0,
        "checks": [
            {
                "key": c.key,
                "title": c.title(strings),
                "status": c.status,
                "label": tr(strings, f"status.{c.status}"),
                "detail": c.detail,
                "action": c.action,
                "data": c.data,
            }
            for c in checks
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"


def options_from_args(args: argparse.Namespace) -> DoctorOptions:
    return DoctorOptions(
        config=args.config,
        server=args.server,
        token=args.token,
        data_dir=args.data_dir,
        lang=args.lang,
        timeout_s=args.timeout,
    )


def report(
    args: argparse.Namespace, qt_checks: Callable[[Config, Strings], Iterable[Check]] | None = None
) -> int:
    """Run the checks, print the report (or JSON), return the exit code."""
    checks, strings = run_checks(options_from_args(args), qt_checks=qt_checks)
    out = format_json(checks, strings) if args.json else format_report(checks, strings)
    sys.stdout.write(out)
    return exit_code(checks)


def doctor_main(args: argparse.Namespace) -> int:
    """The Qt-free variant: screens and audio are reported as skipped."""
    return report(args)


def add_doctor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="configuration file")
    p.add_argument("--server", default=None, type=server_argument, help="server URL (overrides the config)")
    p.add_argument("--token", default=None, help="access token (overrides the config)")
    p.add_argument(
        "--data-dir", default=None, help="the wall's data dir (journal; default: the platform data dir)"
    )
    p.add_argument(
        "--lang", choices=["id", "en"], default=None, help="report language (default: display.language)"
    )
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.add_argument("--timeout", type=float, default=SERVER_TIMEOUT_S, help="seconds to wait for the server")


__all__ = [
    "Check",
    "DoctorOptions",
    "add_doctor_arguments",
    "check_disk",
    "check_journal",
    "check_server",
    "doctor_main",
    "exit_code",
    "format_json",
    "format_report",
    "run_checks",
    "wall_journal_path",
]
