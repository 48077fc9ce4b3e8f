"""One source for every default: the schema. default.toml must agree with it key
by key, docs/configuration.md must be what it generates, and code that needs a
default reads it from the schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from commandcenter.cli import main as cli_main
from commandcenter.config import (
    ConfigError,
    JournalConfig,
    ServeConfig,
    ServerConfig,
    default_client_id,
    default_data,
    default_of,
)
from commandcenter.config.docgen import check_defaults, render_reference, schema_tables, undocumented_keys

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "configuration.md"


def test_every_key_has_a_description() -> None:
    assert undocumented_keys() == [], "add doc('...') to these keys in commandcenter/config/schema.py"


def test_shipped_defaults_agree_with_the_schema() -> None:
    assert check_defaults() == []


def test_the_reference_in_docs_is_what_the_schema_generates() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render_reference(), (
        "regenerate: commandcenter config reference --output docs/configuration.md"
    )


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            ("server", "heartbeat_timeout_s"),
            11.0,
            "server.heartbeat_timeout_s: default.toml has 11.0, the schema 10.0",
        ),
        (("serve", "port"), 8113, "serve.port: default.toml has 8113, the schema 8112"),
        (
            ("display", "night", "enabled"),
            True,
            "display.night.enabled: default.toml has true, the schema false",
        ),
        # A nested table whose default is not its class's own default.
        (
            ("alerts", "texts", "en", "stage_verify"),
            "unverified",
            "alerts.texts.en.stage_verify: default.toml has",
        ),
        (("display", "operators"), ["Sari"], 'display.operators: default.toml has ["Sari"]'),
        (("speech", "id", "pronunciation", "OKI"), "oki", "speech.id.pronunciation: default.toml has"),
    ],
)
def test_a_default_that_differs_is_named(path: tuple[str, ...], value: Any, expected: str) -> None:
    data = default_data()
    table = data
    for part in path[:-1]:
        table = table[part]
    table[path[-1]] = value
    problems = check_defaults(data)
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_screens_are_compared_whole() -> None:
    data = default_data()
    data["screens"][3]["viewing_distance_m"] = 1.0
    assert [p.split(":")[0] for p in check_defaults(data)] == ["screens"]


def test_a_key_missing_from_default_toml_is_named() -> None:
    data = default_data()
    del data["watchdog"]["stall_limit_s"]
    del data["alerts"]["priorities"]["low"]["tone"]
    assert check_defaults(data) == [
        "alerts.priorities.low.tone: in the schema but not in default.toml",
        "watchdog.stall_limit_s: in the schema but not in default.toml",
    ]


def test_a_key_not_in_the_schema_is_refused() -> None:
    data = default_data()
    data["server"]["heartbeat_timout_s"] = 10.0
    with pytest.raises(ConfigError, match=r"server\.heartbeat_timout_s: unknown key"):
        check_defaults(data)


def test_data_arrays_are_validated_not_compared() -> None:
    data = default_data()
    data["agencies"][0]["name"] = "Pemadam Kebakaran"
    data["districts"] = data["districts"][:3]
    data["alerts"]["rules"] = []
    assert check_defaults(data) == []
    data["districts"][0]["lat"] = 99.0
    with pytest.raises(ConfigError, match="districts"):
        check_defaults(data)


def test_the_reference_lists_every_key_with_its_default_and_bounds() -> None:
    text = render_reference()
    for table in schema_tables():
        for key in table.keys:
            assert f"| `{key.name}` | {key.type} | {key.default} |" in text
    row = next(line for line in text.splitlines() if line.startswith("| `heartbeat_timeout_s` |"))
    assert "`10.0`" in row and "> 0" in row and "stale" in row
    assert "## `[[categories]]` · `sla`" in text
    assert "Ringkasan (Bahasa Indonesia)" in text


def test_cli_reference_check_fails_on_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "configuration.md"
    assert cli_main(["config", "reference", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_reference()
    assert cli_main(["config", "reference", "--output", str(target), "--check"]) == 0
    target.write_text(render_reference().replace("`10.0`", "`12.0`"), encoding="utf-8")
    assert cli_main(["config", "reference", "--output", str(target), "--check"]) == 1
    assert "not what the schema produces" in capsys.readouterr().out


def test_cli_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["config", "defaults", "--check"]) == 0
    assert "agrees with the schema" in capsys.readouterr().out
    assert cli_main(["config", "defaults"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "server.heartbeat_timeout_s = 10.0" in lines
    assert 'alerts.texts.en.stage_arrive = "no unit on scene"' in lines
    assert 'screens[].name = ""' in lines


def test_default_of_reads_the_schema() -> None:
    assert default_of(ServerConfig, "heartbeat_timeout_s") == ServerConfig().heartbeat_timeout_s
    assert default_of(JournalConfig, "snapshot_every_events") == JournalConfig().snapshot_every_events
    with pytest.raises(KeyError):
        default_of(ServerConfig, "no_such_key")


def test_engine_settings_take_their_defaults_from_the_schema() -> None:
    from commandcenter.refserver.server import ServerSettings
    from commandcenter.wall.feed import FeedSettings

    feed = FeedSettings(url="ws://127.0.0.1:1/", token="t")
    server = ServerConfig()
    assert (feed.heartbeat_timeout_s, feed.reconnect_min_s, feed.reconnect_max_s, feed.stable_after_s) == (
        server.heartbeat_timeout_s,
        server.reconnect_min_s,
        server.reconnect_max_s,
        server.stable_after_s,
    )
    journal = JournalConfig()
    assert (feed.snapshot_every_events, feed.snapshot_interval_s) == (
        journal.snapshot_every_events,
        journal.snapshot_interval_s,
    )
    settings, serve = ServerSettings(), ServeConfig()
    for key in (
        "host",
        "port",
        "heartbeat_interval_s",
        "max_frame_bytes",
        "send_queue_limit",
        "client_rate_per_s",
        "client_burst",
        "history_limit_events",
        "max_connections",
    ):
        assert getattr(settings, key) == getattr(serve, key), key
    assert settings.max_shelve_s == serve.max_shelve_minutes * 60
    assert settings.max_mute_s == serve.max_mute_minutes * 60


def test_journal_retention_defaults_are_the_schemas() -> None:
    import inspect

    from commandcenter.storage.journal import Journal

    params = inspect.signature(Journal.open).parameters
    journal = JournalConfig()
    for key in ("retention_days", "max_mb", "audit_retention_days"):
        assert params[key].default == getattr(journal, key), key


def test_one_default_client_id_and_it_is_a_valid_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wall that names no client id uses its host name, made a valid protocol
    id, whether the feed settings or the config fill it in."""
    import re
    import socket

    from commandcenter.wall.feed import FeedSettings

    monkeypatch.setattr(socket, "gethostname", lambda: "ruang kendali #1 " + "x" * 80)
    feed = FeedSettings(url="ws://127.0.0.1:1/", token="t")
    assert feed.client_id == ServerConfig().effective_client_id() == default_client_id()
    assert re.fullmatch(r"[A-Za-z0-9_.:\-]{1,64}", feed.client_id)
    assert ServerConfig(client_id="wall-1").effective_client_id() == "wall-1"
