"""Colours and sizes for a 24-hour control room, read from across the room.

Sizes follow the readability numbers in the domain notes: text at least 16
arcminutes at the farthest viewing distance (ISO 9241-3, NUREG-0700), better
about 23 (the "150H" rule: capital height >= distance / 150). Capital height is
about 0.7 of the font's pixel size, so the font size is derived from the
wanted capital height in millimetres and the panel's pixels per millimetre.

Colours are for a dark room; every text/background pair used is checked for a
contrast ratio of at least 7:1 (tests/ui/test_theme.py). Red is kept for
alarms; priority is never shown by colour alone (a word or a shape goes with it).
"""

from __future__ import annotations

from dataclasses import dataclass

from commandcenter.core import legibility

# --- palette -----------------------------------------------------------------------

BG = "#0b0f14"  # near-black blue: less glare than pure black on big panels
BG_PANEL = "#121a23"
BG_RAISED = "#1a2430"
GRID = "#2a3644"
TEXT = "#e8eef5"
TEXT_DIM = "#b4c0cc"  # still >= 7:1 on BG_PANEL
ACCENT = "#7cc4ff"

ALARM_RED = "#ff7a7a"  # alarms and the stale banner only
ALARM_BG = "#b00020"  # full-width "TERPUTUS — DATA LAMA" banner
ALARM_TEXT = "#ffffff"
WARN = "#ffb347"  # amber: service level near breach, medium priority
OK = "#5fd38d"  # live, within target
#: Replay only ("PUTAR ULANG" banner and header): a deep teal no other part of the wall uses, so
#: a replayed past is never taken for live (the stale banner is red, live states green/amber).
REPLAY_BG = "#00564d"
REPLAY_TEXT = "#ffffff"

PRIORITY_COLOR = {"high": ALARM_RED, "medium": WARN, "low": "#8fb8ff"}
FEED_STATE_COLOR = {"live": OK, "connecting": WARN, "stale": ALARM_RED, "offline": ALARM_RED}
UNIT_GROUP_COLOR = {"available": OK, "busy": WARN, "out_of_service": "#9aa7b4"}

#: Text/background pairs the UI uses; each must reach 7:1.
TEXT_PAIRS: list[tuple[str, str]] = [
    (TEXT, BG),
    (TEXT, BG_PANEL),
    (TEXT, BG_RAISED),
    (TEXT_DIM, BG),
    (TEXT_DIM, BG_PANEL),
    (ALARM_TEXT, ALARM_BG),
    (REPLAY_TEXT, REPLAY_BG),
    (ALARM_RED, BG),
    (WARN, BG),
    (WARN, BG_PANEL),
    (OK, BG),
    (OK, BG_PANEL),
    (ACCENT, BG),
    (PRIORITY_COLOR["low"], BG),
    (PRIORITY_COLOR["low"], BG_PANEL),
]


def _channel(c: float) -> float:
    c = c / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(hex_color: str) -> float:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(fg: str, bg: str) -> float:
    """WCAG 2 contrast ratio between two #rrggbb colours (1 to 21)."""
    a, b = relative_luminance(fg), relative_luminance(bg)
    hi, lo = max(a, b), min(a, b)
    return (hi + 0.05) / (lo + 0.05)


# --- sizes ---------------------------------------------------------------------------
# The numbers (arcminutes, capital height per em, line pitch) are the engine's rule in
# commandcenter.core.legibility, the same the layout check reports: a view sized here fits
# exactly what `commandcenter layout check` says it does.

CAP_HEIGHT_PER_EM = legibility.CAP_HEIGHT_PER_EM
#: Never smaller than this, whatever the distance (a desk console).
MIN_FONT_PX = legibility.MIN_FONT_PX


@dataclass(frozen=True)
class ScreenMetrics:
    """Font sizes in pixels for one screen at one viewing distance."""

    px_per_mm: float
    distance_m: float
    body_px: int  # tables, labels: 16 arcmin at the distance
    heading_px: int  # titles, key figures: the 150H rule (about 23 arcmin)
    figure_px: int  # the big numbers of the leader overview
    small_px: int  # secondary text (captions): dimmer, never below 16 arcmin

    @property
    def sizes(self) -> legibility.TextSizes:
        """The engine's text sizes these metrics stand for (lines and characters that fit)."""
        return legibility.TextSizes(self.px_per_mm, self.distance_m, self.body_px, self.heading_px,
                                    self.figure_px)  # fmt: skip

    @property
    def row_px(self) -> int:
        """Height of a table row, a line of body text: the engine's line pitch."""
        return self.sizes.line_px

    @property
    def pad_px(self) -> int:
        return max(4, self.body_px // 3)


def cap_height_mm(distance_m: float, arcmin: float) -> float:
    """Capital height that subtends ``arcmin`` minutes of arc at ``distance_m``."""
    return legibility.cap_height_mm(distance_m, arcmin)


def px_per_mm_for(width_px: int, height_px: int, diagonal_in: float) -> float:
    return legibility.px_per_mm(width_px, height_px, diagonal_in)


def metrics_for(width_px: int, height_px: int, diagonal_in: float, distance_m: float) -> ScreenMetrics:
    """Sizes for a panel of ``diagonal_in`` inches showing ``width_px`` x
    ``height_px`` (device-independent pixels) read from ``distance_m``
    (commandcenter.core.legibility.sizes_for). At 6 m on a 55-inch 1080p panel:
    a 63 px body (16') and 90 px headings (23').

    Secondary text is told apart by colour and weight, not by size: nothing on
    the wall may drop below the 16-arcminute minimum.
    """
    s = legibility.sizes_for(width_px, height_px, diagonal_in, distance_m)
    return ScreenMetrics(s.ppm, s.distance_m, s.body_px, s.heading_px, s.figure_px, s.body_px)


def stylesheet(m: ScreenMetrics) -> str:
    """The application stylesheet for one screen's widgets."""
    return f"""
    QWidget {{ background: {BG}; color: {TEXT}; font-size: {m.body_px}px; }}
    QFrame#panel, QWidget#panel {{ background: {BG_PANEL}; border: 1px solid {GRID}; border-radius: 6px; }}
    QLabel#dim {{ color: {TEXT_DIM}; font-size: {m.small_px}px; }}
    QLabel#heading {{ font-size: {m.heading_px}px; font-weight: 600; }}
    QLabel#figure {{ font-size: {m.figure_px}px; font-weight: 700; }}
    QHeaderView::section {{ background: {BG_RAISED}; color: {TEXT}; border: 0; padding: 0px {m.pad_px}px;
                            font-size: {m.small_px}px; font-weight: 600; }}
    QTableView {{ background: {BG_PANEL}; alternate-background-color: {BG_RAISED}; gridline-color: {GRID};
                  selection-background-color: #24507a; selection-color: {TEXT}; }}
    QTabBar::tab {{ background: {BG_RAISED}; color: {TEXT}; padding: {m.pad_px}px {m.pad_px * 2}px; }}
    QTabBar::tab:selected {{ background: #24507a; }}
    QPushButton {{ background: {BG_RAISED}; color: {TEXT}; border: 1px solid {GRID}; border-radius: 6px;
                   padding: {m.pad_px}px {m.pad_px * 2}px; }}
    QPushButton:focus {{ border: 2px solid {ACCENT}; }}
    """
