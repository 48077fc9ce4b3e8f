"""`commandcenter doctor` with the checks only Qt can do: the screens (and
which view each gets, by the wall's own plan) and the audio output.

Runs on the same platform the wall would: the real display, or with
``--headless`` / ``--screens FILE`` Qt's offscreen platform with that layout.
Only a QGuiApplication is made (no windows, no QtWebEngine), so the check is
quick and shows nothing on the wall.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from commandcenter.config import Config
from commandcenter.core.i18n import Strings
from commandcenter.ops.doctor import Check, report, tr

if TYPE_CHECKING:  # Qt loads only when the checks run
    from PySide6.QtGui import QGuiApplication, QScreen

# The texts of the Qt checks are in the doctor catalog with the engine's (doctor.po).


def _physical(screen: QScreen) -> str:
    size = screen.physicalSize()
    if size.width() <= 0 or size.height() <= 0:
        return ""
    return f", {size.width():.0f}x{size.height():.0f} mm"


def check_screens(app: QGuiApplication, config: Config, strings: Strings) -> Check:
    """The screens Qt sees and the views the wall would put on each, from the
    wall's own plan (ui.app.wall.plan_windows), the primary screen first."""
    from commandcenter.wall.layout import LayoutError, resolve_layout
    from ui.app.wall import plan_windows, screen_infos

    # The wall's own ordering (the primary screen first) and names.
    infos, qscreens = screen_infos(app)
    if not infos:
        return Check("screens", "fail", tr(strings, "screens.none"), tr(strings, "screens.none.do"))
    try:
        layout = resolve_layout(config)[1]
    except LayoutError as exc:
        return Check("screens", "fail", str(exc), "commandcenter layout check --preset NAME")
    planned = plan_windows(layout, infos)
    # A video wall's window covers several Qt screens: each of them shows its views.
    plans = {info.index: plan for plan in planned for info in infos if info.name in plan.qt_screens}
    plans.update({plan.screen.index: plan for plan in planned})
    rows: list[dict[str, Any]] = []
    parts = []
    for info, qs in zip(infos, qscreens, strict=True):
        g = qs.geometry()
        plan = plans.get(info.index)
        views = plan.views if plan else []
        size = qs.physicalSize()
        rows.append(
            {
                "name": info.name,
                "index": info.index,
                "primary": info.index == 0,
                "geometry": [g.x(), g.y(), g.width(), g.height()],
                "physical_mm": [round(size.width()), round(size.height())],
                "views": views,
            }
        )
        shown = ", ".join(views) if views else "-"
        parts.append(
            tr(strings, "screens.one", name=info.name or f"#{info.index}", w=g.width(), h=g.height(),
               mm=_physical(qs), views=shown)
        )  # fmt: skip
    # A layout screen not found by its name falls back to its index, else its
    # views join the primary window: the wall still shows them, but not where
    # the layout meant.
    missing = [
        f"{'+'.join(r.view for r in ls.regions)} "
        f"({'+'.join(ls.qt_screens) if ls.qt_screens else ls.name or '#' + str(ls.index)})"
        for plan in planned
        for ls in plan.missing
    ]
    data = {"screens": rows, "missing": missing}
    if missing:
        text = tr(strings, "screens.missing", n=len(infos), missing=", ".join(missing), list="; ".join(parts))
        return Check("screens", "warn", text, tr(strings, "screens.missing.do"), data)
    return Check("screens", "ok", tr(strings, "screens.ok", n=len(infos), list="; ".join(parts)), data=data)


def check_audio(strings: Strings) -> Check:
    from PySide6.QtMultimedia import QMediaDevices

    outputs = QMediaDevices.audioOutputs()
    default = QMediaDevices.defaultAudioOutput()
    names = [d.description() for d in outputs]
    data = {"outputs": names, "default": "" if default.isNull() else default.description()}
    if not outputs or default.isNull():
        # A warning, not a failure: a wall screen may be silent by design (its
        # sound comes from the operator console). The wall itself shows it.
        return Check("audio", "warn", tr(strings, "audio.none"), tr(strings, "audio.none.do"), data)
    detail = tr(strings, "audio.ok", name=default.description(), n=len(outputs))
    return Check("audio", "ok", detail, data=data)


def check_layout(config: Config) -> Check:
    """What fits where on the room layout the wall would run (commandcenter layout check)."""
    from commandcenter.wall.burnin import BurnInSchedule
    from commandcenter.wall.layout import LayoutError, check_layout, format_report, resolve_layout

    try:
        name, layout = resolve_layout(config)
    except LayoutError as exc:
        return Check("layout", "fail", str(exc), "commandcenter layout check --preset NAME")
    # Inside the margins this configuration's burn-in shift keeps (what the wall gives the views).
    margin = BurnInSchedule.from_config(config.display.burn_in).margin_px
    rep = check_layout(name, layout, config.display.language, margin)
    lines = format_report(rep)
    data = {"layout": name, "ok": rep.ok, "lines": lines}
    if rep.ok:
        return Check("layout", "ok", "\n".join(lines), data=data)
    return Check("layout", "warn", "\n".join(lines), f"commandcenter layout check --preset {name}", data)


def qt_checks(app: QGuiApplication) -> Callable[[Config, Strings], list[Check]]:
    def run(config: Config, strings: Strings) -> list[Check]:
        return [check_screens(app, config, strings), check_layout(config), check_audio(strings)]

    return run


def doctor_main(args: argparse.Namespace) -> int:
    from ui.app.wall import has_display, prepare_environment

    headless = bool(args.headless) or (not has_display() and not args.screens)
    prepare_environment(headless, args.screens)
    # QtMultimedia lists every optional back-end it cannot load; the report
    # already says what matters (is there an audio output).
    os.environ.setdefault(
        "QT_LOGGING_RULES", "qt.multimedia.symbolsresolver=false;qt.multimedia.ffmpeg=false"
    )
    from PySide6.QtGui import QGuiApplication

    existing = QGuiApplication.instance()
    app = existing if isinstance(existing, QGuiApplication) else QGuiApplication(sys.argv[:1])
    return report(args, qt_checks=qt_checks(app))


__all__ = ["check_audio", "check_layout", "check_screens", "doctor_main", "qt_checks"]
