"""Small builders of valid model values and frames for tests."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from commandcenter.core import protocol as p
from commandcenter.core.model import (
    AgencyTask,
    Incident,
    IncidentTimes,
    Location,
    Reporter,
)

T0 = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)  # 10:00 WIB
_ids = itertools.count(1)


def make_incident(**overrides: Any) -> Incident:
    n = next(_ids)
    fields: dict[str, Any] = {
        "id": f"inc-{n}",
        "ticket": f"OKI-20261127-{n:04d}",
        "version": 1,
        "category": "kebakaran",
        "priority": "high",
        "status": "received",
        "location": Location(
            lat=-3.086, lon=105.223, kecamatan="Pangkalan Lampam", kecamatan_code="16.02.19", desa="Deling"
        ),
        "reporter": Reporter(name="Warga", phone_masked="0812****789"),
        "description": "Kebakaran rumah warga",
        "victims": 0,
        "tasks": [AgencyTask(agency="DAMKAR", status="forwarded", forwarded_at=T0)],
        "times": IncidentTimes(received=T0),
    }
    fields.update(overrides)
    return Incident(**fields)


def make_event(body: p.EventBody, *, seq: int, epoch: str = "ep-1", ts: dt.datetime = T0) -> p.Event:
    return p.Event(epoch=epoch, seq=seq, id=f"{epoch}-{seq}", ts=ts, body=body)


def incident_event(seq: int, epoch: str = "ep-1", **overrides: Any) -> p.Event:
    return make_event(p.IncidentUpserted(incident=make_incident(**overrides)), seq=seq, epoch=epoch)
