"""Every visible string, in Indonesian (default) and English.

Views never hard-code a visible string: they call ``t("key")``. Category and
agency names come from the configuration (name_id / name_en). A test checks
that every key has both languages.
"""

from __future__ import annotations

from typing import Any

_LANG = "id"

STRINGS: dict[str, dict[str, str]] = {
    # --- app and screens
    "app.title": {"id": "OKI Siaga 112 — Ruang Kendali", "en": "OKI Siaga 112 — Command Center"},
    "view.map": {"id": "Peta", "en": "Map"},
    "view.operations": {"id": "Operasional", "en": "Operations"},
    "view.leader": {"id": "Ringkasan Pimpinan", "en": "Leader Overview"},
    "view.console": {"id": "Konsol Operator", "en": "Operator Console"},
    # --- feed state
    "feed.live": {"id": "LANGSUNG", "en": "LIVE"},
    "feed.connecting": {"id": "MENGHUBUNGKAN", "en": "CONNECTING"},
    "feed.stale": {"id": "DATA LAMA", "en": "STALE"},
    "feed.offline": {"id": "TERPUTUS", "en": "OFFLINE"},
    "feed.last_event": {"id": "kejadian terakhir {age} lalu", "en": "last event {age} ago"},
    "feed.no_event": {"id": "belum ada data", "en": "no data yet"},
    "banner.stale": {"id": "TERPUTUS — DATA LAMA, {age}", "en": "DISCONNECTED — STALE DATA, {age}"},
    "banner.never": {"id": "TERPUTUS — BELUM ADA DATA", "en": "DISCONNECTED — NO DATA YET"},
    "age.seconds": {"id": "{n} detik", "en": "{n} s"},
    "age.minutes": {"id": "{n} menit", "en": "{n} min"},
    "age.hours": {"id": "{n} jam {m} menit", "en": "{n} h {m} min"},
    "clock.zone": {"id": "WIB", "en": "WIB"},
    # --- priorities and statuses
    "priority.high": {"id": "Prioritas Tinggi", "en": "High Priority"},
    "priority.medium": {"id": "Prioritas Sedang", "en": "Medium Priority"},
    "priority.low": {"id": "Prioritas Rendah", "en": "Low Priority"},
    "priority.short.high": {"id": "TINGGI", "en": "HIGH"},
    "priority.short.medium": {"id": "SEDANG", "en": "MEDIUM"},
    "priority.short.low": {"id": "RENDAH", "en": "LOW"},
    "status.received": {"id": "Diterima", "en": "Received"},
    "status.verified": {"id": "Terverifikasi", "en": "Verified"},
    "status.forwarded": {"id": "Diteruskan ke OPD", "en": "Forwarded to agency"},
    "status.in_handling": {"id": "Dalam Penanganan", "en": "In handling"},
    "status.closed": {"id": "Selesai", "en": "Closed"},
    "status.cancelled": {"id": "Dibatalkan", "en": "Cancelled"},
    "task.pending": {"id": "Menunggu", "en": "Waiting"},
    "task.forwarded": {"id": "Diteruskan", "en": "Forwarded"},
    "task.accepted": {"id": "Diterima OPD", "en": "Accepted"},
    "task.in_handling": {"id": "Ditindaklanjuti", "en": "In handling"},
    "task.done": {"id": "Selesai", "en": "Done"},
    "task.rejected": {"id": "Ditolak", "en": "Rejected"},
    "unit.available": {"id": "Tersedia", "en": "Available"},
    "unit.busy": {"id": "Bertugas", "en": "Busy"},
    "unit.out_of_service": {"id": "Tidak Aktif", "en": "Out of service"},
    "unit.dispatched": {"id": "Menuju lokasi", "en": "En route"},
    "unit.on_scene": {"id": "Di lokasi", "en": "On scene"},
    "unit.returning": {"id": "Kembali", "en": "Returning"},
    # --- queue columns
    "col.priority": {"id": "Prioritas", "en": "Priority"},
    "col.ticket": {"id": "Tiket", "en": "Ticket"},
    "col.category": {"id": "Kategori", "en": "Category"},
    "col.location": {"id": "Lokasi Kejadian", "en": "Location"},
    "col.age": {"id": "Umur", "en": "Age"},
    "col.status": {"id": "Status", "en": "Status"},
    "col.agencies": {"id": "OPD", "en": "Agencies"},
    "col.units": {"id": "Unit", "en": "Units"},
    "col.ack": {"id": "Konfirmasi", "en": "Acknowledged"},
    "col.victims": {"id": "Korban", "en": "Victims"},
    "ack.none": {"id": "Belum", "en": "No"},
    "ack.sending": {"id": "mengirim…", "en": "sending…"},
    "ack.by": {"id": "Dikonfirmasi oleh {operator}, {time}", "en": "Acknowledged by {operator}, {time}"},
    "ack.button": {"id": "Konfirmasi", "en": "Acknowledge"},
    # --- figures
    "kpi.active": {"id": "Kejadian Aktif", "en": "Active Incidents"},
    "kpi.unacked_high": {"id": "Prioritas Tinggi Belum Dikonfirmasi", "en": "Unacknowledged High Priority"},
    "kpi.oldest_unhandled": {"id": "Belum Ditangani Terlama", "en": "Oldest Unhandled"},
    "kpi.median_response": {"id": "Median Waktu Tiba Hari Ini", "en": "Median Arrival Today"},
    "kpi.median_dispatch": {"id": "Median Waktu Berangkat", "en": "Median Time to Dispatch"},
    "kpi.p90": {"id": "p90 {value}", "en": "p90 {value}"},
    "kpi.target": {"id": "target {minutes} menit", "en": "target {minutes} min"},
    "kpi.within_target": {"id": "{pct}% dalam target", "en": "{pct}% within target"},
    "kpi.closed_today": {"id": "Selesai Hari Ini", "en": "Closed Today"},
    "kpi.none": {"id": "—", "en": "—"},
    "funnel.title": {"id": "Panggilan Hari Ini", "en": "Calls Today"},
    "funnel.calls_in": {"id": "Panggilan Masuk", "en": "Calls In"},
    "funnel.answered": {"id": "Terjawab", "en": "Answered"},
    "funnel.abandoned": {"id": "Tak Terjawab", "en": "Abandoned"},
    "funnel.prank": {"id": "Prank Call", "en": "Prank Calls"},
    "funnel.ghost": {"id": "Ghost Call", "en": "Ghost Calls"},
    "funnel.valid": {"id": "Laporan Darurat Valid", "en": "Valid Emergencies"},
    "funnel.info": {"id": "Laporan Informasi", "en": "Information Requests"},
    "chart.per_hour": {"id": "Kejadian per Jam (24 jam)", "en": "Incidents per Hour (24 h)"},
    "chart.per_district": {"id": "Kejadian Aktif per Kecamatan", "en": "Active Incidents per District"},
    "chart.response": {"id": "Sebaran Waktu Tiba (menit)", "en": "Arrival Time Distribution (min)"},
    "agency.units": {"id": "Unit", "en": "Units"},
    "agency.active": {"id": "Kejadian aktif", "en": "Active incidents"},
    "agency.median": {"id": "Median respons", "en": "Median response"},
    "situation.title": {"id": "Situasi Bencana: {name}", "en": "Disaster Situation: {name}"},
    "situation.incidents": {"id": "{n} laporan", "en": "{n} reports"},
    "situation.households": {"id": "{n} KK terdampak", "en": "{n} households affected"},
    "situation.evacuated": {"id": "{n} jiwa mengungsi", "en": "{n} people evacuated"},
    "situation.none": {"id": "Tidak ada situasi bencana aktif", "en": "No active disaster situation"},
    "detail.reporter": {"id": "Pelapor", "en": "Reporter"},
    "detail.location": {"id": "Lokasi Kejadian", "en": "Location"},
    "detail.description": {"id": "Keterangan", "en": "Description"},
    "detail.victims": {"id": "Korban", "en": "Victims"},
    "detail.none_selected": {"id": "Pilih kejadian", "en": "Select an incident"},
    "map.layer.incidents": {"id": "Kejadian", "en": "Incidents"},
    "map.layer.units": {"id": "Unit", "en": "Units"},
    "map.layer.districts": {"id": "Kecamatan", "en": "Districts"},
    "map.layer.tiles": {"id": "Peta Dasar (daring)", "en": "Base map (online)"},
    "filter.all": {"id": "Semua", "en": "All"},
    "filter.active": {"id": "Aktif", "en": "Active"},
    "unit.distance_km": {"id": "{km} km", "en": "{km} km"},
}


def set_language(lang: str) -> None:
    global _LANG
    if lang not in ("id", "en"):
        raise ValueError(f"unsupported language {lang!r}")
    _LANG = lang


def language() -> str:
    return _LANG


def t(key: str, **fmt: Any) -> str:
    """The string for ``key`` in the current language, formatted with ``fmt``.

    A missing key shows as the key itself (visible in screenshots and caught by
    the tests) rather than crashing a wall that must keep running."""
    entry = STRINGS.get(key)
    text = entry.get(_LANG, entry.get("id", key)) if entry else key
    return text.format(**fmt) if fmt else text


def format_age(seconds: float | None) -> str:
    """'3 menit', '45 detik', '2 jam 5 menit' (or English)."""
    if seconds is None:
        return t("kpi.none")
    s = max(0, int(seconds))
    if s < 60:
        return t("age.seconds", n=s)
    if s < 3600:
        return t("age.minutes", n=s // 60)
    return t("age.hours", n=s // 3600, m=(s % 3600) // 60)


def format_minutes(seconds: float | None) -> str:
    """Durations on figures: '12,5 mnt' style in Indonesian, '12.5 min' in English."""
    if seconds is None:
        return t("kpi.none")
    value = f"{seconds / 60:.1f}"
    if _LANG == "id":
        return value.replace(".", ",") + " mnt"
    return value + " min"


def category_name(config: Any, code: str) -> str:
    cat = config.category(code) if config is not None else None
    if cat is None:
        return code
    return str(cat.name_id if _LANG == "id" else cat.name_en)


def agency_name(config: Any, code: str, short: bool = True) -> str:
    ag = config.agency(code) if config is not None else None
    if ag is None:
        return code
    if short and getattr(ag, "short", ""):
        return str(ag.short)
    return str(ag.name if _LANG == "id" or not ag.name_en else ag.name_en)
