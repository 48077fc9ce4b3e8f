"""Alert rules with a fake clock: raising, repeat, escalation, flood grouping,
shelving and muting expiry, audit. No sleeps."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commandcenter.config import AlertRule, AlertsConfig, Config, ConfigError, load_defaults, parse_config
from commandcenter.core import protocol as p
from commandcenter.core.model import (
    ACTIVE_STATUSES,
    Acknowledgement,
    AgencyTask,
    Alert,
    CallFunnel,
    DisasterSituation,
    IncidentTimes,
    Location,
    Unit,
)
from commandcenter.core.store import Store
from commandcenter.core.timeutil import FakeClock
from commandcenter.storage.audit import audit_main
from commandcenter.storage.journal import Journal
from commandcenter.wall.alerts import SYSTEM_OPERATOR, AlertAction, AlertEngine, make_alert_id, write_audit
from tests.factories import T0, make_event, make_incident

CFG = load_defaults()
FIRE_TEXT = "Kebakaran, prioritas tinggi, Desa Deling, Kecamatan Pangkalan Lampam"
PAMPANGAN = Location(lat=-3.311, lon=105.034, kecamatan="Pampangan", kecamatan_code="16.02.12", desa="Kandis")


class Wall:
    """A store and an alert engine on one fake clock, fed events like the feed does."""

    def __init__(
        self, cfg: Config | AlertsConfig = CFG, console: str = "console-1", language: str | None = None
    ) -> None:
        self.clock = FakeClock(T0)
        self.store = Store(clock=self.clock)
        self.engine = AlertEngine(cfg, self.store, clock=self.clock, console=console, language=language)
        self.seq = 0
        self.log: list[AlertAction] = []

    def apply(self, *bodies: p.EventBody) -> list[AlertAction]:
        events = []
        for body in bodies:
            self.seq += 1
            events.append(make_event(body, seq=self.seq, ts=self.clock.now))
        out = self.engine.on_changes(self.store.apply_many(events))
        self.log += out
        return out

    def tick(self, advance: float = 0.0) -> list[AlertAction]:
        self.clock.advance(advance)
        out = self.engine.tick()
        self.log += out
        return out

    def ack(self, alert_id: str, operator: str = "Sari", console: str = "console-1") -> list[AlertAction]:
        ack = Acknowledgement(
            ack_id=f"ack-{alert_id}"[:64].replace("/", "_"),
            alert_id=alert_id,
            operator=operator,
            console=console,
            at=self.clock.now,
        )
        return self.apply(p.AlertAcknowledged(ack=ack))


def upsert(**overrides: Any) -> p.IncidentUpserted:
    return p.IncidentUpserted(incident=make_incident(**overrides))


def flood_incident(clock: FakeClock, **overrides: Any) -> p.IncidentUpserted:
    fields: dict[str, Any] = {
        "category": "banjir",
        "priority": "high",
        "location": PAMPANGAN,
        "tasks": [AgencyTask(agency="BPBD")],
        "times": IncidentTimes(received=clock.now),
        "description": "Air masuk rumah",
    }
    fields.update(overrides)
    return upsert(**fields)


def kinds(actions: list[AlertAction]) -> list[str]:
    return [a.kind for a in actions]


def only(actions: list[AlertAction], kind: str) -> AlertAction:
    found = [a for a in actions if a.kind == kind]
    assert len(found) == 1, actions
    return found[0]


# --- which events raise an alert -----------------------------------------------------------


def test_new_high_priority_incident_raises_with_tone_and_indonesian_text() -> None:
    wall = Wall()
    out = wall.apply(upsert(id="inc-fire"))
    raised = only(out, "raise")
    assert raised.alert_ids == ("incident:inc-fire",)
    assert raised.priority == "high"
    assert raised.sound == "tone_high"
    assert raised.speech == FIRE_TEXT
    assert raised.text == FIRE_TEXT
    assert raised.visual == "flash"
    assert not raised.muted
    assert raised.audit is not None and raised.audit.action == "alert.raised"
    assert raised.audit.detail["incident_id"] == "inc-fire"
    [active] = wall.engine.active()
    assert (active.id, active.rule, active.incident_id) == (
        "incident:inc-fire",
        "new_high_priority",
        "inc-fire",
    )
    # One alert per incident, even though the category rule matches too.
    assert wall.apply(upsert(id="inc-fire", version=2, victims=2)) == []


def test_english_text_by_language() -> None:
    wall = Wall(language="en")
    raised = only(wall.apply(upsert(id="inc-fire")), "raise")
    assert raised.speech == "Fire, high priority, Deling village, Pangkalan Lampam district"


def test_medium_incident_of_ordinary_category_raises_nothing() -> None:
    wall = Wall()
    assert wall.apply(flood_incident(wall.clock, priority="medium")) == []
    assert wall.engine.active() == []


@pytest.mark.parametrize("category", ["kebakaran", "perlindungan_perempuan_anak"])
def test_category_rule_raises_regardless_of_priority(category: str) -> None:
    wall = Wall()
    raised = only(wall.apply(upsert(id="inc-1", category=category, priority="low")), "raise")
    assert raised.priority == "high"
    [active] = wall.engine.active()
    assert (active.kind, active.rule) == ("category", "critical_category")
    assert "prioritas rendah" in active.text  # the incident's own priority is spoken


def test_closed_or_cancelled_incident_never_alerts_and_closing_clears() -> None:
    wall = Wall()
    closed_times = IncidentTimes(received=T0, closed=T0)
    assert wall.apply(upsert(id="a", status="closed", times=closed_times)) == []
    assert wall.apply(upsert(id="b", status="cancelled")) == []
    wall.apply(upsert(id="c"))
    wall.clock.advance(30)
    out = wall.apply(
        upsert(id="c", version=2, status="closed", times=IncidentTimes(received=T0, closed=wall.clock.now))
    )
    clear = only(out, "clear")
    assert clear.alert_ids == ("incident:c",) and clear.reason == "closed"
    assert clear.audit is not None and clear.audit.action == "alert.resolved"
    assert wall.engine.active() == []
    assert not [a for a in wall.tick(600) if a.audible]


def test_sla_breach_raised_by_tick_alone_and_cleared_when_forwarded() -> None:
    wall = Wall()
    # Banjir, medium: no alert on arrival; the category's forward target is 600 s.
    assert wall.apply(flood_incident(wall.clock, id="inc-b", priority="medium")) == []
    assert wall.tick(599) == []
    raised = only(wall.tick(1), "raise")
    assert raised.alert_ids == ("sla:not_forwarded_in_time:forward:inc-b",)
    assert raised.priority == "medium" and raised.sound == "tone_medium"
    assert raised.speech == "Banjir, belum diteruskan dalam 10 menit, Desa Kandis, Kecamatan Pampangan"
    [active] = wall.engine.active()
    assert active.kind == "sla_breach" and active.stage == "forward"
    assert active.raised_at == T0 + dt.timedelta(seconds=600)
    forwarded = [AgencyTask(agency="BPBD", status="forwarded", forwarded_at=wall.clock.now)]
    out = wall.apply(
        flood_incident(
            wall.clock,
            id="inc-b",
            priority="medium",
            version=2,
            tasks=forwarded,
            times=IncidentTimes(received=T0),
        )
    )
    assert only(out, "clear").reason == "forward_met"
    assert wall.engine.active() == []


def test_sla_forwarded_in_time_never_alerts() -> None:
    wall = Wall()
    wall.apply(flood_incident(wall.clock, id="inc-b", priority="medium"))
    wall.clock.advance(300)
    forwarded = [AgencyTask(agency="BPBD", status="forwarded", forwarded_at=wall.clock.now)]
    wall.apply(
        flood_incident(
            wall.clock,
            id="inc-b",
            priority="medium",
            version=2,
            tasks=forwarded,
            times=IncidentTimes(received=T0),
        )
    )
    assert wall.tick(3600) == []


def test_sla_rule_with_own_minutes_and_alerts_config_only() -> None:
    rule = AlertRule(
        name="not_forwarded_2min", when="sla_breach", stages=["forward"], after_s=120, priority="high"
    )
    wall = Wall(AlertsConfig(rules=[rule]))
    wall.apply(flood_incident(wall.clock, id="inc-x", priority="low"))
    assert wall.tick(119) == []
    raised = only(wall.tick(1), "raise")
    assert raised.priority == "high"
    assert raised.text == "Banjir, belum diteruskan dalam 2 menit, Desa Kandis, Kecamatan Pampangan"


def test_unit_emergency_from_server_alert() -> None:
    wall = Wall()
    wall.apply(upsert(id="inc-u", priority="medium", category="medis", tasks=[]))
    unit = Unit(id="u-7", callsign="AMB-07", agency="DINKES", kind="ambulance", status="on_scene", version=1)
    alert = Alert(
        id="alert-unit-00001",
        kind="unit_emergency",
        priority="high",
        raised_at=wall.clock.now,
        incident_id="inc-u",
        unit_id="u-7",
        message="Tombol darurat unit AMB-07 ditekan",
    )
    out = wall.apply(p.UnitUpserted(unit=unit), p.AlertRaised(alert=alert))
    raised = only(out, "raise")
    assert raised.alert_ids == ("alert-unit-00001",) and raised.sound == "tone_high"
    assert raised.speech == "Darurat! Unit AMB-07 minta bantuan, Desa Deling, Kecamatan Pangkalan Lampam"
    [active] = wall.engine.active()
    assert active.server and active.kind == "unit_emergency"
    # The incident closing does not silence an officer's emergency.
    wall.clock.advance(10)
    wall.apply(
        upsert(
            id="inc-u",
            version=2,
            priority="medium",
            category="medis",
            tasks=[],
            status="closed",
            times=IncidentTimes(received=T0, closed=wall.clock.now),
        )
    )
    assert [a.id for a in wall.engine.active()] == ["alert-unit-00001"]


def test_disabled_unit_emergency_rule_raises_nothing() -> None:
    rules = [
        msgspec.structs.replace(r, enabled=False) if r.when == "unit_emergency" else r
        for r in CFG.alerts.rules
    ]
    cfg = msgspec.structs.replace(CFG, alerts=msgspec.structs.replace(CFG.alerts, rules=rules))
    wall = Wall(cfg)
    alert = Alert(id="alert-unit-1", kind="unit_emergency", priority="high", raised_at=T0, unit_id="u-1")
    assert wall.apply(p.AlertRaised(alert=alert)) == []


def test_declared_situation_raises_and_ending_clears() -> None:
    wall = Wall()
    sit = DisasterSituation(
        id="sit-1",
        version=1,
        hazard="banjir",
        name="Banjir Pampangan",
        status="active",
        kecamatan=["Pampangan"],
        declared_at=T0,
    )
    raised = only(wall.apply(p.SituationUpserted(situation=sit)), "raise")
    assert raised.alert_ids == ("situation:sit-1",) and raised.priority == "high"
    assert raised.speech == "Situasi bencana ditetapkan: Banjir Pampangan, Kecamatan Pampangan"
    wall.clock.advance(3600)
    ended = msgspec.structs.replace(sit, version=2, status="ended", ended_at=wall.clock.now)
    assert only(wall.apply(p.SituationUpserted(situation=ended)), "clear").reason == "situation_ended"


def test_funnel_with_prank_and_ghost_calls_never_alerts() -> None:
    wall = Wall()
    for n in range(1, 30):
        funnel = CallFunnel(
            day=dt.date(2026, 11, 27),
            calls_in=n * 10,
            answered=n * 9,
            abandoned=n,
            prank=n * 4,
            ghost=n * 3,
            valid=n,
            info=n,
        )
        assert wall.apply(p.FunnelUpdated(funnel=funnel)) == []
        assert wall.tick(30) == []
    assert wall.engine.active() == [] and not wall.engine.flood_active


# --- repeat, acknowledgement, escalation ---------------------------------------------------------


def test_repeats_until_acknowledged_on_any_console() -> None:
    wall = Wall()
    wall.apply(upsert(id="inc-fire"))
    assert wall.tick(59) == []
    repeat = only(wall.tick(1), "repeat")
    assert repeat.alert_ids == ("incident:inc-fire",) and repeat.sound == "tone_high"
    assert repeat.speech == f"Peringatan belum dikonfirmasi: {FIRE_TEXT}"
    assert repeat.audit is not None and repeat.audit.action == "alert.repeated"
    assert kinds(wall.tick(60)) == ["repeat"]
    # Acknowledged on another console: the server's event reaches every wall.
    clear = only(wall.ack("incident:inc-fire", operator="Budi", console="console-2"), "clear")
    assert clear.reason == "acknowledged"
    assert clear.audit is not None
    assert (clear.audit.action, clear.audit.operator, clear.audit.console) == (
        "alert.acknowledged",
        "Budi",
        "console-2",
    )
    assert wall.engine.active() == []
    [recent] = wall.engine.acknowledged_recent()
    assert recent.acknowledged_by == "Budi"
    for _ in range(10):
        assert wall.tick(60) == []


def test_acknowledgement_before_the_alert_is_computed_keeps_it_silent() -> None:
    wall = Wall()
    wall.ack("incident:inc-fire")
    assert wall.apply(upsert(id="inc-fire")) == []
    assert wall.engine.active() == []
    assert wall.tick(600) == []


def test_escalation_with_distinct_tone_and_spoken_reminder() -> None:
    wall = Wall()
    wall.apply(upsert(id="inc-fire"))
    assert kinds(wall.tick(60)) == ["repeat"]
    assert kinds(wall.tick(60)) == ["repeat"]
    escalate = only(wall.tick(60), "escalate")
    assert escalate.sound == "tone_escalation"
    assert escalate.speech is not None and FIRE_TEXT in escalate.speech and escalate.speech != FIRE_TEXT
    assert escalate.escalated
    assert escalate.audit is not None and escalate.audit.action == "alert.escalated"
    [flagged] = wall.engine.escalated()
    assert flagged.id == "incident:inc-fire"
    # Later reminders keep the escalation tone and say it is still unconfirmed.
    repeat = only(wall.tick(60), "repeat")
    assert repeat.sound == "tone_escalation" and repeat.speech is not None
    assert "belum dikonfirmasi" in repeat.speech


def test_low_priority_sounds_once_without_voice() -> None:
    rule = AlertRule(name="any_low", when="new_incident", min_priority="low", priority="low")
    wall = Wall(msgspec.structs.replace(CFG, alerts=msgspec.structs.replace(CFG.alerts, rules=[rule])))
    raised = only(wall.apply(upsert(id="inc-l", category="sampah_lingkungan", priority="low")), "raise")
    assert raised.sound == "tone_low" and raised.speech is None and raised.visual == "steady"
    assert wall.tick(3600) == []
    assert len(wall.engine.active()) == 1


# --- alarm flood ----------------------------------------------------------------------------------


def test_flood_of_twelve_reports_in_one_batch_is_one_grouped_announcement() -> None:
    wall = Wall()
    out = wall.apply(*(flood_incident(wall.clock, id=f"flood-{i}") for i in range(12)))
    raises = [a for a in out if a.kind == "raise"]
    assert len(raises) == 12 and all(a.grouped and not a.audible for a in raises)
    assert only(out, "flood_start").count == 12
    group = only(out, "announce_group")
    assert group.speech == "12 laporan banjir baru di Kecamatan Pampangan"
    assert group.sound == "tone_high" and group.count == 12 and len(group.alert_ids) == 12
    assert wall.engine.flood_active
    assert len(wall.engine.active()) == 12


def test_flood_building_up_over_minutes_groups_after_the_threshold() -> None:
    wall = Wall()
    for i in range(12):
        wall.apply(flood_incident(wall.clock, id=f"flood-{i}"))
        wall.clock.advance(20)
    raises = [a for a in wall.log if a.kind == "raise"]
    assert [a.audible for a in raises] == [True] * 10 + [False] * 2
    assert kinds(wall.log).count("flood_start") == 1
    assert only(wall.log, "announce_group").speech == "11 laporan banjir baru di Kecamatan Pampangan"
    # Within flood_announce_s no second group announcement; then one with the count in the window.
    out = wall.tick(40)
    groups = [a for a in out if a.kind == "announce_group" and a.speech and "laporan banjir" in a.speech]
    assert [g.speech for g in groups] == ["12 laporan banjir baru di Kecamatan Pampangan"]
    # Reminders due together in a flood become one summary, not twelve voices.
    assert all(not a.audible for a in out if a.kind in ("repeat", "escalate"))
    assert len([a for a in out if a.audible]) <= 2
    assert len(wall.engine.active()) == 12


def test_flood_ends_below_the_end_threshold() -> None:
    wall = Wall()
    forwarded = [AgencyTask(agency="BPBD", status="forwarded", forwarded_at=T0)]
    wall.apply(*(flood_incident(wall.clock, id=f"flood-{i}", tasks=forwarded) for i in range(12)))
    assert wall.engine.flood_active
    wall.clock.advance(300)
    assert "flood_end" not in kinds(wall.tick())
    for i in range(12):
        wall.ack(f"incident:flood-{i}")
    end = only(wall.tick(301), "flood_end")
    assert end.audit is not None and end.audit.action == "alert.flood_ended"
    assert not wall.engine.flood_active
    raised = only(wall.apply(upsert(id="inc-after")), "raise")
    assert raised.audible and not raised.grouped


def test_unit_emergency_is_never_grouped_in_a_flood() -> None:
    wall = Wall()
    wall.apply(*(flood_incident(wall.clock, id=f"flood-{i}") for i in range(12)))
    alert = Alert(
        id="alert-unit-9", kind="unit_emergency", priority="high", raised_at=wall.clock.now, unit_id="u-9"
    )
    raised = only(wall.apply(p.AlertRaised(alert=alert)), "raise")
    assert raised.audible and not raised.grouped


# --- shelving and muting ---------------------------------------------------------------------------


def test_shelving_hides_until_expiry_then_returns_with_audit() -> None:
    wall = Wall()
    wall.apply(upsert(id="inc-fire"))
    until = wall.clock.now + dt.timedelta(seconds=300)
    out = wall.apply(
        p.AlertShelved(
            alert_id="incident:inc-fire",
            until=until,
            operator="Sari",
            console="console-1",
            reason="petugas sudah di lokasi",
        )
    )
    shelve = only(out, "shelve")
    assert shelve.audit is not None
    assert (shelve.audit.action, shelve.audit.operator) == ("alert.shelved", "Sari")
    assert shelve.audit.detail["reason"] == "petugas sudah di lokasi"
    assert wall.engine.active() == []
    [listed] = wall.engine.shelved_list()
    assert listed.shelved_until == until and listed.shelved_by == "Sari"
    assert wall.tick(60) == [] and wall.tick(180) == []  # no repeat, no escalation while shelved
    expired = only(wall.tick(60), "shelve_expired")
    assert expired.sound == "tone_high" and expired.speech == FIRE_TEXT
    assert expired.audit is not None and expired.audit.action == "alert.unshelved"
    assert expired.audit.detail["reason"] == "expired"
    assert [a.id for a in wall.engine.active()] == ["incident:inc-fire"]
    assert wall.engine.shelved_list() == []
    # Expiry is reported once; the server's later unshelve is not audited twice.
    assert "shelve_expired" not in kinds(wall.tick(1))
    assert wall.apply(p.AlertUnshelved(alert_id="incident:inc-fire", operator="Sari")) == []


def test_manual_unshelve_returns_the_alert() -> None:
    wall = Wall()
    wall.apply(upsert(id="inc-fire"))
    until = wall.clock.now + dt.timedelta(seconds=900)
    wall.apply(p.AlertShelved(alert_id="incident:inc-fire", until=until, operator="Sari", console="c1"))
    unshelve = only(
        wall.apply(p.AlertUnshelved(alert_id="incident:inc-fire", operator="Budi", console="c2")), "unshelve"
    )
    audit = unshelve.audit
    assert audit is not None and audit.action == "alert.unshelved"
    # Who took it off (another console than the one that shelved it), not this wall.
    assert (audit.operator, audit.console, audit.target_id) == ("Budi", "c2", "incident:inc-fire")
    assert audit.detail == {"reason": "operator", "until": until.isoformat()}
    assert len(wall.engine.active()) == 1
    # Shelved again: the earlier unshelve no longer names anyone.
    wall.apply(p.AlertShelved(alert_id="incident:inc-fire", until=until, operator="Sari", console="c1"))
    assert "incident:inc-fire" not in wall.store.unshelved_by


def test_unmute_and_expiries_are_audited_with_who_did_it() -> None:
    wall = Wall(console="console-1")
    wall.apply(upsert(id="inc-fire"))
    until = wall.clock.now + dt.timedelta(seconds=300)
    wall.apply(p.ConsoleMuted(console="console-1", until=until, operator="Budi"))
    unmute = only(wall.apply(p.ConsoleUnmuted(console="console-1", operator="Rina")), "unmute")
    assert unmute.audit is not None
    assert (unmute.audit.action, unmute.audit.operator, unmute.audit.console) == (
        "console.unmuted", "Rina", "console-1",
    )  # fmt: skip
    assert unmute.audit.detail == {"reason": "operator", "until": until.isoformat()}

    # A mute and a shelf that run out: audited as the wall's own doing.
    wall.apply(
        p.ConsoleMuted(console="console-1", until=wall.clock.now + dt.timedelta(seconds=30), operator="Budi")
    )
    wall.apply(
        p.AlertShelved(
            alert_id="incident:inc-fire", until=wall.clock.now + dt.timedelta(seconds=30), operator="Sari",
            console="console-1",
        )
    )  # fmt: skip
    out = wall.tick(31)
    mute_expired, shelve_expired = only(out, "mute_expired"), only(out, "shelve_expired")
    assert mute_expired.audit is not None and shelve_expired.audit is not None
    assert (mute_expired.audit.action, mute_expired.audit.operator) == ("console.unmuted", SYSTEM_OPERATOR)
    assert (
        mute_expired.audit.detail["reason"] == "expired" and mute_expired.audit.detail["muted_by"] == "Budi"
    )
    assert (shelve_expired.audit.action, shelve_expired.audit.operator) == (
        "alert.unshelved",
        SYSTEM_OPERATOR,
    )
    assert shelve_expired.audit.detail["shelved_by"] == "Sari"
    # The server's later unmute/unshelve of what already ran out is not audited again.
    assert wall.apply(p.ConsoleUnmuted(console="console-1", operator="Rina")) == []
    assert wall.apply(p.AlertUnshelved(alert_id="incident:inc-fire", operator="Rina")) == []
    # Pruning forgets who unmuted/unshelved (bounded memory on a wall that runs for months).
    assert wall.store.unmuted_by and wall.store.unshelved_by
    wall.store.prune(closed_older_than_s=6 * 3600)
    assert not wall.store.unmuted_by and not wall.store.unshelved_by


def test_muting_suppresses_sound_not_visual_until_expiry() -> None:
    wall = Wall(console="console-1")
    other = AlertEngine(CFG, wall.store, clock=wall.clock, console="console-2")
    until = wall.clock.now + dt.timedelta(seconds=120)
    mute = only(wall.apply(p.ConsoleMuted(console="console-1", until=until, operator="Budi")), "mute")
    assert mute.console == "console-1"
    assert mute.audit is not None and (mute.audit.action, mute.audit.operator) == ("console.muted", "Budi")
    assert wall.engine.is_muted() and not other.is_muted()
    assert wall.engine.muted_consoles() == {"console-1": until}
    cs_events = [make_event(upsert(id="inc-fire"), seq=99, ts=wall.clock.now)]
    cs = wall.store.apply_many(cs_events)
    raised = only(wall.engine.on_changes(cs), "raise")
    assert raised.muted and raised.sound is None and raised.speech is None
    assert raised.visual == "flash" and raised.text == FIRE_TEXT
    assert only(other.on_changes(cs), "raise").sound == "tone_high"
    repeat = only(wall.tick(60), "repeat")
    assert repeat.muted and not repeat.audible
    expired = only(wall.tick(60), "mute_expired")
    assert expired.audit is not None and expired.audit.action == "console.unmuted"
    assert not wall.engine.is_muted()
    escalate = only(wall.tick(60), "escalate")
    assert escalate.sound == "tone_escalation" and not escalate.muted


# --- determinism, rebuild, ids ---------------------------------------------------------------------


def test_two_walls_compute_the_same_ids_and_one_ack_stops_both() -> None:
    a, b = Wall(console="console-1"), Wall(console="wall-2")
    bodies = [
        upsert(id="inc-1"),
        upsert(id="inc-2", category="perlindungan_perempuan_anak", priority="medium"),
        flood_incident(a.clock, id="inc-3", priority="medium"),
    ]
    for wall in (a, b):
        wall.apply(*bodies)
        wall.tick(700)
    ids_a = [x.id for x in a.engine.active()]
    assert ids_a == [x.id for x in b.engine.active()]
    assert set(ids_a) == {"incident:inc-1", "incident:inc-2", "sla:not_forwarded_in_time:forward:inc-3"}
    for wall in (a, b):
        wall.ack("incident:inc-1")
        assert "incident:inc-1" not in [x.id for x in wall.engine.active()]


def test_reset_rebuilds_silently_and_keeps_acknowledgements() -> None:
    wall = Wall()
    wall.apply(upsert(id="inc-1"), upsert(id="inc-2"))
    wall.ack("incident:inc-1")
    state = wall.store.to_state()
    state.acks = []  # pruned on the server: the engine's latch still holds
    state.ack_ids = {}
    out = wall.engine.on_changes(wall.store.load_state(state))
    assert not [a for a in out if a.audible]
    assert [x.id for x in wall.engine.active()] == ["incident:inc-2"]
    # A fresh engine on a restored store knows the open alerts without a sound.
    fresh = AlertEngine(CFG, wall.store, clock=wall.clock, console="console-1")
    assert {x.id for x in fresh.active()} == {"incident:inc-1", "incident:inc-2"}


def test_make_alert_id_is_valid_and_stable() -> None:
    long_id = make_alert_id("sla", "r" * 60, "forward", "inc-" + "9" * 60)
    assert long_id == make_alert_id("sla", "r" * 60, "forward", "inc-" + "9" * 60)
    assert (
        msgspec.convert(
            {"ack_id": "x", "alert_id": long_id, "operator": "a", "console": "c", "at": T0}, Acknowledgement
        ).alert_id
        == long_id
    )
    assert make_alert_id("incident", "inc-1") == "incident:inc-1"


def test_alert_texts_config_refuses_unknown_placeholders() -> None:
    data = msgspec.to_builtins(CFG)
    data["alerts"]["texts"]["id"]["sla_breach"] = "{kota}"
    with pytest.raises(ConfigError, match=r"alerts\.texts\.id\.sla_breach.*unknown placeholder \{kota\}"):
        parse_config(data)
    with pytest.raises(msgspec.ValidationError, match="after_s"):
        msgspec.convert({"name": "x", "when": "category", "after_s": 60}, AlertRule)


# --- audit log -------------------------------------------------------------------------------------


def test_audit_entries_written_and_exported_as_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wall = Wall()
    wall.apply(upsert(id="inc-fire"))
    wall.tick(60)
    wall.apply(
        p.AlertShelved(
            alert_id="incident:inc-fire",
            until=wall.clock.now + dt.timedelta(seconds=60),
            operator="Sari",
            console="console-1",
        )
    )
    wall.tick(60)
    wall.apply(
        p.ConsoleMuted(console="console-1", until=wall.clock.now + dt.timedelta(seconds=60), operator="Budi")
    )
    wall.tick(60)
    wall.tick(60)
    wall.ack("incident:inc-fire", operator="Rina")
    db = tmp_path / "journal.sqlite3"

    async def write() -> int:
        async with await Journal.open(db, clock=wall.clock) as journal:
            return await write_audit(journal, wall.log)

    assert asyncio.run(write()) == sum(1 for a in wall.log if a.audit is not None)
    out = io.StringIO()
    assert audit_main(str(db), "2026-11-27T09:00", out=out) == 0  # WIB, an hour before T0
    lines = out.getvalue().splitlines()
    assert lines[0] == "at,at_wib,action,operator,console,target_kind,target_id,detail"
    actions = [line.split(",")[2] for line in lines[1:]]
    for expected in (
        "alert.raised",
        "alert.repeated",
        "alert.shelved",
        "alert.unshelved",
        "console.muted",
        "console.unmuted",
        "alert.acknowledged",
    ):
        assert expected in actions, expected
    assert any(",Rina," in line for line in lines)
    out = io.StringIO()
    assert audit_main(str(db), "2026-11-28T00:00+07:00", out=out) == 0
    assert out.getvalue().splitlines()[1:] == []
    assert audit_main(str(db), "kemarin") == 1
    assert audit_main(str(tmp_path / "missing.sqlite3"), "2026-11-27") == 1
    err = capsys.readouterr().err
    assert "not an ISO time" in err and "missing.sqlite3" in err


# --- random streams ----------------------------------------------------------------------------------

CATEGORIES = ["kebakaran", "banjir", "medis", "sampah_lingkungan", "perlindungan_perempuan_anak", "karhutla"]
OPS = st.one_of(
    st.tuples(
        st.just("incident"),
        st.integers(0, 5),
        st.sampled_from([*sorted(ACTIVE_STATUSES), "closed", "cancelled"]),
        st.sampled_from(["high", "medium", "low"]),
        st.sampled_from(CATEGORIES),
    ),
    st.tuples(st.just("advance"), st.integers(0, 400)),
    st.tuples(st.just("ack"), st.integers(0, 20)),
    st.tuples(st.just("shelve"), st.integers(0, 20), st.integers(-60, 600)),
    st.tuples(st.just("unshelve"), st.integers(0, 20)),
    st.tuples(st.just("mute"), st.integers(1, 300)),
    st.tuples(st.just("unmute")),
    st.tuples(st.just("funnel"), st.integers(0, 50), st.integers(0, 50)),
    st.tuples(st.just("unit"), st.integers(0, 5)),
    st.tuples(st.just("situation"), st.booleans()),
    st.tuples(st.just("prune"), st.integers(0, 600)),
)


@settings(max_examples=300)
@given(st.lists(OPS, min_size=5, max_size=80))
def test_random_streams_never_fail_nor_alert_for_closed_incidents(ops: list[tuple[Any, ...]]) -> None:
    wall = Wall()
    versions: dict[int, int] = {}
    sit_version = 0
    units = 0

    def check(actions: list[AlertAction]) -> None:
        for action in actions:
            if action.kind in ("raise", "repeat", "escalate", "shelve_expired") and action.audible:
                rec = wall.engine.get(action.alert_ids[0])
                assert rec is not None
                inc = wall.store.incidents.get(rec.incident_id or "")
                if inc is not None and rec.kind != "unit_emergency":
                    assert inc.status in ACTIVE_STATUSES, (action, inc.status)
        for alert in wall.engine.active():
            inc = wall.store.incidents.get(alert.incident_id or "")
            if inc is not None and alert.kind != "unit_emergency":
                assert inc.status in ACTIVE_STATUSES, (alert, inc.status)

    for op in ops:
        now = wall.clock.now
        kind = op[0]
        out: list[AlertAction]
        if kind == "incident":
            _, n, status, priority, category = op
            versions[n] = versions.get(n, 0) + 1
            times = IncidentTimes(received=T0, closed=now if status == "closed" else None)
            out = wall.apply(
                upsert(
                    id=f"inc-{n}",
                    version=versions[n],
                    status=status,
                    priority=priority,
                    category=category,
                    times=times,
                    tasks=[AgencyTask(agency="BPBD")],
                )
            )
        elif kind == "advance":
            out = wall.tick(op[1])
        elif kind in ("ack", "shelve", "unshelve"):
            known = sorted({a.id for a in wall.engine.active()} | {a.id for a in wall.engine.shelved_list()})
            if not known:
                continue
            aid = known[op[1] % len(known)]
            if kind == "ack":
                out = wall.ack(aid)
            elif kind == "shelve":
                until = now + dt.timedelta(seconds=op[2])
                out = wall.apply(p.AlertShelved(alert_id=aid, until=until, operator="Sari", console="c"))
            else:
                out = wall.apply(p.AlertUnshelved(alert_id=aid))
        elif kind == "mute":
            out = wall.apply(
                p.ConsoleMuted(console="console-1", until=now + dt.timedelta(seconds=op[1]), operator="B")
            )
        elif kind == "unmute":
            out = wall.apply(p.ConsoleUnmuted(console="console-1"))
        elif kind == "funnel":
            prank, ghost = op[1], op[2]
            funnel = CallFunnel(
                day=dt.date(2026, 11, 27),
                calls_in=200,
                answered=150,
                abandoned=50,
                prank=prank,
                ghost=ghost,
                valid=0,
            )
            out = wall.apply(p.FunnelUpdated(funnel=funnel))
            assert [a for a in out if a.kind == "raise"] == []
        elif kind == "unit":
            units += 1
            alert = Alert(
                id=f"alert-unit-{units}",
                kind="unit_emergency",
                priority="high",
                raised_at=now,
                incident_id=f"inc-{op[1]}",
                unit_id="u-1",
            )
            out = wall.apply(p.AlertRaised(alert=alert))
        elif kind == "situation":
            sit_version += 1
            sit = DisasterSituation(
                id="sit-1",
                version=sit_version,
                hazard="banjir",
                name="Banjir",
                status="active" if op[1] else "ended",
                declared_at=T0,
                ended_at=None if op[1] else now,
            )
            out = wall.apply(p.SituationUpserted(situation=sit))
        else:
            out = wall.engine.on_changes(wall.store.prune(op[1]))
        check(out)
    check(wall.tick(3600))


# --- hostile names (issue 15) -----------------------------------------------------------------


def test_feed_names_in_an_alert_text_are_isolated_but_not_spoken_as_marks() -> None:
    from commandcenter.core.text import FSI, PDI
    from commandcenter.wall.speech import spoken_form

    wall = Wall()
    place = Location(lat=-3.39, lon=104.83, kecamatan="Pangkalan Lampam", desa="שלום 3")
    raised = only(wall.apply(upsert(id="inc-rtl", location=place)), "raise")
    # Right-to-left letters and the digit after them cannot reorder the words around them.
    assert f"Desa {FSI}שלום 3{PDI}, Kecamatan Pangkalan Lampam" in raised.text
    assert raised.speech is not None
    assert FSI not in spoken_form(CFG.speech, raised.speech, "id")
    # An older journal's bidi override is dropped, never shown.
    odd = Location(lat=-3.39, lon=104.83, kecamatan="Pangkalan\u202e Lampam", desa="Deling")
    raised = only(wall.apply(upsert(id="inc-rlo", location=odd)), "raise")
    assert "\u202e" not in raised.text and "Kecamatan Pangkalan Lampam" in raised.text


def test_a_flood_in_one_district_is_one_group_whatever_invisible_characters_its_name_carries() -> None:
    wall = Wall()
    names = ["Pampangan", "Pampangan\u200b", "Pam\u200bpangan", "\ufeffPampangan"]
    out = wall.apply(
        *(
            flood_incident(
                wall.clock, id=f"flood-{i}", location=msgspec.structs.replace(PAMPANGAN, kecamatan=name)
            )
            for i, name in enumerate(names * 3)
        )
    )
    group = only(out, "announce_group")
    assert group.count == 12 and len(group.alert_ids) == 12
    assert group.speech == "12 laporan banjir baru di Kecamatan Pampangan"
