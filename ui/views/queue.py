"""The incident queue as a Qt item model, kept in step with the store.

:class:`IncidentQueueModel` holds one row per incident in the store, keyed by
incident id. A :class:`~commandcenter.core.store.ChangeSet` turns into row-level
signals (``rowsInserted`` for new incidents appended at the end,
``rowsRemoved`` for contiguous runs of pruned ones, ``dataChanged`` for the rows
that changed); the model is only reset when the change set says the whole state
was replaced. The display order is the proxy's business
(:class:`IncidentQueueProxy`), so rows never move in the source model.

Time-driven state is refreshed from the bridge's 1 s tick without scanning the
rows: the age column gets one ``dataChanged`` for its whole range, and rows
whose service-level colour or "new" highlight changes are found through a heap
of their next change time.

The model holds no rule of its own: service levels come from
:mod:`commandcenter.core.sla` (the alert engine's rule too), ages from
``sla.age_s``, and a row's acknowledgement from :meth:`Store.incident_ack`.
"""

from __future__ import annotations

import bisect
import heapq
import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    QRect,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QIcon,
    QPainter,
    QPixmap,
    QPolygonF,
    QStaticText,
    QTransform,
)
from PySide6.QtWidgets import QAbstractItemView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from commandcenter.core.i18n import Strings, strings_for
from commandcenter.core.model import (
    INCIDENT_STATUSES,
    PRIORITY_RANK,
    Incident,
)
from commandcenter.core.plausibility import problem_text
from commandcenter.core.sla import SlaState, SlaTargets, age_s, sla_state
from commandcenter.core.store import ChangeSet, Store
from commandcenter.core.text import isolate
from ui.support import theme
from ui.support.text import plain_tooltip

if TYPE_CHECKING:
    from commandcenter.config import Config
    from ui.support.bridge import EngineBridge

log = logging.getLogger(__name__)

# --- columns and roles -------------------------------------------------------------

COLUMNS: tuple[str, ...] = (
    "priority",
    "ticket",
    "category",
    "location",
    "age",
    "status",
    "agencies",
    "units",
    "ack",
    "victims",
)
(
    COL_PRIORITY,
    COL_TICKET,
    COL_CATEGORY,
    COL_LOCATION,
    COL_AGE,
    COL_STATUS,
    COL_AGENCIES,
    COL_UNITS,
    COL_ACK,
    COL_VICTIMS,
) = range(len(COLUMNS))
#: Columns a wall in compact mode leaves out (read from metres away, the rest does not fit).
WALL_HIDDEN_COLUMNS: frozenset[int] = frozenset({COL_TICKET, COL_AGENCIES, COL_UNITS, COL_ACK, COL_VICTIMS})

#: A sortable scalar for the cell (int, float or str).
SortKeyRole = int(Qt.ItemDataRole.UserRole)
#: The incident id of the row (any column).
IncidentIdRole = SortKeyRole + 1
#: Lower-case text the search box matches (ticket, desa, kecamatan, road).
SearchTextRole = SortKeyRole + 2
#: The row's service-level state: "ok", "warn", "breach" or "" (no target running).
SlaLevelRole = SortKeyRole + 3

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_DECORATION = int(Qt.ItemDataRole.DecorationRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
#: Roles that change with time alone: the proxy neither re-sorts nor re-filters on them.
_TIME_ROLES = [_DISPLAY, _TOOLTIP, _DECORATION, _FOREGROUND, _BACKGROUND, SlaLevelRole]
#: The roles data() answers: a table's paint asks about seven roles per cell, and a wall
#: repaints its queue many times a second in a burst; the rest are answered at once.
_ROLES = frozenset(
    {_DISPLAY, _TOOLTIP, _DECORATION, _FOREGROUND, _BACKGROUND, _ALIGN,
     SortKeyRole, IncidentIdRole, SearchTextRole, SlaLevelRole}
)  # fmt: skip
_ALIGN_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_ALIGN_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
#: Every row's flags, made once: a table asks them twice per painted cell, and or-ing
#: three Python enum members each time cost about a tenth of the queue's paint.
_ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
_NO_FLAGS = Qt.ItemFlag.NoItemFlags
_STATE_SELECTED = QStyle.StateFlag.State_Selected.value

# --- colours ------------------------------------------------------------------------

#: Row backgrounds; every one keeps theme.TEXT at >= 7:1 (tests check it).
SLA_BREACH_BG = "#5a1220"  # dark red: a service level missed (red is for alarms)
SLA_WARN_BG = "#3a2a08"  # dark amber: more than 75 % of the target used
NEW_ROW_BG = "#103a5a"  # dark blue: arrived in the last few seconds
ROW_BACKGROUNDS = (SLA_BREACH_BG, SLA_WARN_BG, NEW_ROW_BG)
NEW_HIGHLIGHT_S = 10.0


def _readable(fg: str) -> str:
    """``fg`` if it reaches 7:1 on both table backgrounds, else the plain text colour."""
    ok = all(theme.contrast_ratio(fg, bg) >= 7.0 for bg in (theme.BG_PANEL, theme.BG_RAISED))
    return fg if ok else theme.TEXT


#: Text colour of the priority word on a plain row (the icon carries the hue when
#: the hue itself is too dark for 7:1, as the alarm red is on the raised rows).
PRIORITY_TEXT = {p: _readable(c) for p, c in theme.PRIORITY_COLOR.items()}


# --- service levels -----------------------------------------------------------------
# The rule (steps, targets, levels) is commandcenter.core.sla, shared with the alert
# engine; the queue only finds the category's targets and paints the answer.


def sla_targets(config: Config, category: str) -> SlaTargets | None:
    """The configured targets of a category (None: unknown category, no targets)."""
    cat = config.category(category) if config is not None else None
    return cat.sla if cat is not None else None


def sla_level(inc: Incident, config: Config, now_ts: float) -> SlaState:
    """(level, stage, target_s, next change timestamp) of an incident at ``now_ts``."""
    return sla_state(inc, sla_targets(config, inc.category), now_ts)


def short_category_name(strings: Strings, config: Config, code: str) -> str:
    """The category's short name from config (short_id/short_en) for a wall's queue, where a
    category is never cut; its full name where it has none."""
    cat = config.category(code) if config is not None else None
    short = strings.pick(str(getattr(cat, "short_id", "") or ""), str(getattr(cat, "short_en", "") or ""))
    return short or strings.category_name(config, code)


def location_text(inc: Incident) -> str:
    loc = inc.location
    if loc.km_marker:
        parts = [f"{loc.km_marker} {loc.road}".strip(), loc.kecamatan]
    else:
        parts = [loc.desa, loc.kecamatan]
    # Each part isolated: a right-to-left village name must not reorder the comma
    # and the district beside it.
    text = ", ".join(isolate(p) for p in parts if p)
    return text or isolate(loc.address)


# --- icons (shape and colour: never colour alone) ----------------------------------

_ICON_PX = 64
_icons: dict[str, QIcon] = {}


def _shape_icon(shape: str, color: str) -> QIcon:
    key = f"{shape}:{color}"
    icon = _icons.get(key)
    if icon is not None:
        return icon
    pm = QPixmap(_ICON_PX, _ICON_PX)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(color))
    s = float(_ICON_PX)
    m = s * 0.08
    if shape == "triangle":
        p.drawPolygon(QPolygonF([QPointF(s / 2, m), QPointF(s - m, s - m), QPointF(m, s - m)]))
    elif shape == "diamond":
        p.drawPolygon(
            QPolygonF([QPointF(s / 2, m), QPointF(s - m, s / 2), QPointF(s / 2, s - m), QPointF(m, s / 2)])
        )
    elif shape == "square":
        p.drawRect(int(m), int(m), int(s - 2 * m), int(s - 2 * m))
    else:  # circle
        p.drawEllipse(QPointF(s / 2, s / 2), s / 2 - m, s / 2 - m)
    if shape in ("triangle", "square"):
        # An exclamation mark inside: the warning/breach reads without colour.
        p.setBrush(QColor(theme.BG))
        w = s * 0.12
        top = s * (0.34 if shape == "triangle" else 0.2)
        p.drawRect(int(s / 2 - w / 2), int(top), int(w), int(s * 0.3))
        p.drawRect(int(s / 2 - w / 2), int(s - m - s * 0.2), int(w), int(w))
    p.end()
    icon = QIcon(pm)
    _icons[key] = icon
    return icon


#: What the queue's delegate paints in a cell: text, text brush, background, icon, alignment.
CellPaint = tuple[str, QBrush, QBrush | None, QIcon | None, int]

PRIORITY_SHAPE = {"high": "triangle", "medium": "diamond", "low": "circle"}
SLA_SHAPE = {"warn": ("triangle", theme.WARN), "breach": ("square", theme.ALARM_RED)}


def _emit_row_runs(
    model: QAbstractTableModel, rows: list[int], roles: list[int] | None, first_col: int, last_col: int
) -> None:
    """One dataChanged per contiguous run of these sorted rows (queue model and its view alike)."""
    if not rows:
        return
    start = prev = rows[0]
    for r in [*rows[1:], None]:
        if r is not None and r <= prev + 1:
            prev = max(prev, r)
            continue
        tl, br = model.index(start, first_col), model.index(prev, last_col)
        if roles is None:
            model.dataChanged.emit(tl, br)
        else:
            model.dataChanged.emit(tl, br, roles)
        if r is not None:
            start = prev = r


# --- the model ------------------------------------------------------------------------


class IncidentQueueModel(QAbstractTableModel):
    """All incidents of the store, one row each, in arrival order."""

    #: Emitted once a second after the rows whose colour changed with time: the
    #: age column of every row changed (first and last column of the range).
    time_changed = Signal(int, int)
    #: Around the row signals of one change set: a listener (the proxy) may gather
    #: them and act once, instead of once per contiguous run of rows.
    batch_started = Signal()
    batch_finished = Signal()

    def __init__(
        self,
        store: Store,
        config: Config,
        parent: QObject | None = None,
        *,
        new_highlight_s: float = NEW_HIGHLIGHT_S,
        strings: Strings | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._config = config
        self.strings = strings if strings is not None else strings_for(config.display.language)
        #: Short age and status words (a wall in compact mode); tooltips keep the long ones.
        self.short_text = False
        #: Short category names (set by the view from the width it has).
        self.short_category = False
        #: The place column's short heading (a narrow desk view).
        self.short_location_header = False
        #: Announce the once-a-second age refresh as one dataChanged of the age
        #: column. IncidentQueueProxy turns this off and forwards time_changed
        #: instead (see there why).
        self.time_as_data_changed = True
        self._new_highlight_s = new_highlight_s
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        #: id -> default sort key (priority rank, then receipt: oldest first).
        self._base_key: dict[str, float] = {}
        #: id -> time the "new" highlight ends; the deque is in expiry order.
        self._new_until: dict[str, float] = {}
        self._new_queue: deque[tuple[float, str]] = deque()
        #: (time the SLA level changes, id, version); lazily invalidated.
        self._sla_heap: list[tuple[float, str, int]] = []
        self._brushes = {
            c: QBrush(QColor(c)) for c in {*ROW_BACKGROUNDS, theme.TEXT, *PRIORITY_TEXT.values(), theme.WARN}
        }
        self._rebuild()

    # -- wiring -------------------------------------------------------------------------

    def connect_bridge(self, bridge: EngineBridge) -> None:
        bridge.changed.connect(self.apply_changes)
        bridge.tick.connect(self.refresh_time)

    # -- lookup -------------------------------------------------------------------------

    def incident_id(self, row: int) -> str:
        return self._ids[row]

    def row_of(self, incident_id: str) -> int:
        """The source row of an incident, -1 when it is not in the model."""
        return self._row.get(incident_id, -1)

    def incident_at(self, row: int) -> Incident | None:
        if 0 <= row < len(self._ids):
            return self._store.incidents.get(self._ids[row])
        return None

    def base_key(self, row: int) -> float:
        return self._base_key[self._ids[row]]

    def all_ids(self) -> list[str]:
        """Every incident id of the model, in source row order."""
        return self._ids

    def store_incidents(self) -> dict[str, Incident]:
        return self._store.incidents

    def is_new(self, incident_id: str) -> bool:
        return incident_id in self._new_until

    def _now_ts(self) -> float:
        return self._store.clock().timestamp()

    # -- Qt model API ---------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        return _ROW_FLAGS if index.isValid() else _NO_FLAGS

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == _DISPLAY:
                if (self.short_text or self.short_location_header) and section == COL_LOCATION:
                    return self.strings.t("col.location.short")
                return self.strings.t(f"col.{COLUMNS[section]}")
            if role == _ALIGN:
                return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> Any:
        role = int(role)
        if role not in _ROLES or not index.isValid():
            return None
        row = index.row()
        if not (0 <= row < len(self._ids)):
            return None
        return self.cell(self._ids[row], index.column(), role)

    def cell(self, iid: str, col: int, role: int) -> Any:
        """What the cell of incident ``iid`` in column ``col`` holds for ``role`` (the
        proxy asks this directly: no index mapping on a table's hot paint path)."""
        if role not in _ROLES or not (0 <= col < len(COLUMNS)):
            return None
        inc = self._store.incidents.get(iid)
        if inc is None:
            return None
        if role == _DISPLAY:
            return self._display(inc, col)
        if role == _BACKGROUND:
            return self._background(inc)
        if role == _FOREGROUND:
            return self._foreground(inc, col)
        if role == _DECORATION:
            return self._decoration(inc, col)
        if role == _TOOLTIP:
            return plain_tooltip(self._tooltip(inc, col))
        if role == _ALIGN:
            return _ALIGN_RIGHT if col in (COL_UNITS, COL_VICTIMS) else _ALIGN_LEFT
        if role == SortKeyRole:
            return self.sort_key_of(inc, col)
        if role == IncidentIdRole:
            return iid
        if role == SearchTextRole:
            return self.search_text(inc)
        if role == SlaLevelRole:
            return sla_level(inc, self._config, self._now_ts())[0]
        return None

    # -- cell contents ---------------------------------------------------------------------

    def _age_s(self, inc: Incident) -> float:
        return age_s(inc, self._now_ts())

    def _ack(self, inc: Incident) -> str:
        ack = self._store.incident_ack(inc.id)
        if ack is None:
            return self.strings.t("ack.none")
        hhmm = self.strings.clock(ack.at, seconds=False)
        return self.strings.t("ack.short", operator=ack.operator, time=hhmm)

    def set_short_category(self, short: bool) -> None:
        """Show the configured short category names (where the full ones do not fit)."""
        if short != self.short_category:
            self.short_category = short
            last = len(self._ids) - 1
            if last >= 0:
                self.dataChanged.emit(self.index(0, COL_CATEGORY), self.index(last, COL_CATEGORY), [_DISPLAY])

    def set_short_text(self, short: bool) -> None:
        """Short age, status and place texts (a wall's, or a narrow desk queue's)."""
        if short != self.short_text:
            self.short_text = short
            last = len(self._ids) - 1
            if last >= 0:
                self.dataChanged.emit(self.index(0, 0), self.index(last, len(COLUMNS) - 1), [_DISPLAY])
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, COL_LOCATION, COL_LOCATION)

    def set_short_location_header(self, short: bool) -> None:
        if short != self.short_location_header:
            self.short_location_header = short
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, COL_LOCATION, COL_LOCATION)

    def category_text(self, code: str) -> str:
        """Where the full names do not fit, the configured short name: a category is never elided."""
        if self.short_category:
            return short_category_name(self.strings, self._config, code)
        return self.strings.category_name(self._config, code)

    def _display(self, inc: Incident, col: int) -> str:
        if col == COL_PRIORITY:
            return self.strings.t(f"priority.short.{inc.priority}")
        if col == COL_TICKET:
            return inc.ticket
        if col == COL_CATEGORY:
            return self.category_text(inc.category)
        if col == COL_LOCATION:
            # ⚠: the wall cannot place a value of this incident (the tooltip says which). In the
            # place column, free text that may be elided at its end: in the priority column the
            # mark cut the priority itself to "TIN…", which must never be elided.
            mark = "⚠ " if inc.id in self._store.problems else ""
            if self.short_text:  # the district (or toll KM) reads from afar; the village is in the tooltip
                loc = inc.location
                return mark + (loc.km_marker or loc.kecamatan or location_text(inc))
            return mark + location_text(inc)
        if col == COL_AGE:
            age = self._age_s(inc)
            return self.strings.age_column(age) if self.short_text else self.strings.age(age)
        if col == COL_STATUS:
            return self.strings.t(f"status.short.{inc.status}" if self.short_text else f"status.{inc.status}")
        if col == COL_AGENCIES:
            return ", ".join(self.strings.agency_name(self._config, a) for a in inc.agencies)
        if col == COL_UNITS:
            return str(len(inc.units))
        if col == COL_ACK:
            return self._ack(inc)
        return str(inc.victims)

    def _level(self, inc: Incident) -> str:
        return sla_level(inc, self._config, self._now_ts())[0]

    def _background(self, inc: Incident, level: str | None = None) -> QBrush | None:
        level = self._level(inc) if level is None else level
        if level == "breach":
            return self._brushes[SLA_BREACH_BG]
        if level == "warn":
            return self._brushes[SLA_WARN_BG]
        if inc.id in self._new_until:
            return self._brushes[NEW_ROW_BG]
        return None  # the view's alternating panel colours

    def _foreground(self, inc: Incident, col: int, level: str | None = None) -> QBrush:
        if col == COL_PRIORITY and self._background(inc, level) is None:
            return self._brushes[PRIORITY_TEXT[inc.priority]]
        return self._brushes[theme.TEXT]

    def _decoration(self, inc: Incident, col: int, level: str | None = None) -> QIcon | None:
        if col == COL_PRIORITY:
            return _shape_icon(PRIORITY_SHAPE[inc.priority], theme.PRIORITY_COLOR[inc.priority])
        if col == COL_AGE:
            shape = SLA_SHAPE.get(self._level(inc) if level is None else level)
            if shape is not None:
                return _shape_icon(*shape)
        return None

    def paint_spec(self, iid: str, col: int) -> CellPaint | None:
        """Everything a painted cell shows, in one call: (text, text brush, background or
        None, icon or None, alignment). The same values as data()'s roles (a test holds
        them equal); the queue's delegate asks this instead of seven roles per cell."""
        inc = self._store.incidents.get(iid)
        if inc is None:
            return None
        level = self._level(inc)
        align = _ALIGN_RIGHT if col in (COL_UNITS, COL_VICTIMS) else _ALIGN_LEFT
        return (
            self._display(inc, col),
            self._foreground(inc, col, level),
            self._background(inc, level),
            self._decoration(inc, col, level),
            align,
        )

    def _tooltip(self, inc: Incident, col: int) -> str:
        if col == COL_PRIORITY:
            return self.strings.t(f"priority.{inc.priority}")
        if col == COL_AGE:
            level, stage, target, _ = sla_level(inc, self._config, self._now_ts())
            parts = [self.strings.age(self._age_s(inc))]
            if level:
                t, target_text = self.strings.t, self.strings.minutes(target)
                parts.append(t(f"sla.{level}", stage=t(f"sla.stage.{stage}"), target=target_text))
            if inc.id in self._new_until:
                parts.append(self.strings.t("queue.new"))
            return "\n".join(parts)
        if col == COL_UNITS:
            units = self._store.units
            return ", ".join(units[u].callsign if u in units else u for u in inc.units)
        if col == COL_AGENCIES:
            return "\n".join(
                f"{self.strings.agency_name(self._config, task.agency, short=False)}: "
                f"{self.strings.t(f'task.{task.status}')}"
                for task in inc.tasks
            )
        if col == COL_STATUS:
            return self.strings.t(f"status.{inc.status}")
        if col == COL_CATEGORY:
            return self.strings.category_name(self._config, inc.category)
        if col == COL_LOCATION:
            problems = self._store.problems.get(inc.id)
            text = location_text(inc)
            return f"{text}\n{problem_text(problems, self.strings)}" if problems else text
        if col == COL_ACK:
            ack = self._store.incident_ack(inc.id)
            if ack is not None:
                return self.strings.t("ack.by", operator=ack.operator, time=self.strings.clock(ack.at))
        return self._display(inc, col)

    def search_text(self, inc: Incident) -> str:
        loc = inc.location
        return " ".join((inc.ticket, loc.desa, loc.kecamatan, loc.km_marker, loc.road)).casefold()

    def sort_key(self, row: int, col: int) -> int | float | str:
        """A scalar that orders the column (ascending = the natural reading order)."""
        return self.sort_key_of(self._store.incidents[self._ids[row]], col)

    def sort_key_of(self, inc: Incident, col: int) -> int | float | str:
        if col == COL_PRIORITY:
            return self.default_key(inc)
        if col == COL_TICKET:
            return inc.ticket
        if col == COL_CATEGORY:
            return self.strings.category_name(self._config, inc.category).casefold()
        if col == COL_LOCATION:
            return location_text(inc).casefold()
        if col == COL_AGE:
            return inc.times.received.timestamp()  # ascending: oldest first
        if col == COL_STATUS:
            return INCIDENT_STATUSES.index(inc.status)
        if col == COL_AGENCIES:
            return ", ".join(inc.agencies)
        if col == COL_UNITS:
            return len(inc.units)
        if col == COL_ACK:
            ack = self._store.incident_ack(inc.id)
            return ack.at.timestamp() if ack is not None else 0.0
        return inc.victims

    # -- applying change sets ------------------------------------------------------------

    @staticmethod
    def default_key(inc: Incident) -> float:
        # One float, so the proxy's hot comparison is a single '<'.
        return PRIORITY_RANK[inc.priority] * 1e11 + inc.times.received.timestamp()

    def _track(self, inc: Incident, now_ts: float) -> None:
        self._base_key[inc.id] = self.default_key(inc)
        change_at = sla_level(inc, self._config, now_ts)[3]
        if change_at is not None:
            heapq.heappush(self._sla_heap, (change_at, inc.id, inc.version))

    def _compact_sla_heap(self, now_ts: float) -> None:
        # Every update pushes an entry; drop the superseded ones now and then.
        incidents = self._store.incidents
        self._sla_heap = []
        for iid in self._ids:
            inc = incidents.get(iid)
            change_at = sla_level(inc, self._config, now_ts)[3] if inc is not None else None
            if inc is not None and change_at is not None:
                self._sla_heap.append((change_at, iid, inc.version))
        heapq.heapify(self._sla_heap)

    def _rebuild(self) -> None:
        store = self._store
        now_ts = self._now_ts()
        incidents = sorted(store.incidents.values(), key=lambda i: (i.times.received, i.id))
        self._ids = [i.id for i in incidents]
        self._row = {iid: r for r, iid in enumerate(self._ids)}
        self._base_key = {}
        self._sla_heap = []
        self._new_until.clear()
        self._new_queue.clear()
        for inc in incidents:
            self._track(inc, now_ts)

    def apply_changes(self, cs: ChangeSet) -> None:
        """Bring the rows in step with an applied change set (see its contract)."""
        if cs.reset:
            self.beginResetModel()
            self._rebuild()
            self.endResetModel()
            return
        self.batch_started.emit()
        try:
            self._apply(cs)
        finally:
            self.batch_finished.emit()

    def _apply(self, cs: ChangeSet) -> None:
        if cs.incidents_removed:
            self._remove(cs.incidents_removed)
        now_ts = self._now_ts()
        incidents = self._store.incidents
        if cs.incidents_updated:
            changed: list[int] = []
            for iid in cs.incidents_updated:
                row = self._row.get(iid)
                inc = incidents.get(iid)
                if row is None or inc is None:
                    continue
                self._track(inc, now_ts)
                changed.append(row)
            if len(self._sla_heap) > 2 * len(self._ids) + 1024:
                self._compact_sla_heap(now_ts)
            self._emit_rows(changed, None)
        if cs.incidents_added:
            self._insert(
                [incidents[i] for i in cs.incidents_added if i in incidents and i not in self._row], now_ts
            )
        if cs.incident_acks:  # the store says whose acknowledgement changed
            rows = [r for r in (self._row.get(i) for i in cs.incident_acks) if r is not None]
            self._emit_rows(rows, None, COL_ACK, COL_ACK)

    def _insert(self, new: list[Incident], now_ts: float) -> None:
        if not new:
            return
        new.sort(key=lambda i: (i.times.received, i.id))
        first = len(self._ids)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        until = now_ts + self._new_highlight_s
        for inc in new:
            self._row[inc.id] = len(self._ids)
            self._ids.append(inc.id)
            self._track(inc, now_ts)
            self._new_until[inc.id] = until
            self._new_queue.append((until, inc.id))
        self.endInsertRows()

    def _remove(self, ids: Iterable[str]) -> None:
        rows = sorted({r for r in (self._row.get(i) for i in ids) if r is not None})
        if not rows:
            return
        # Contiguous runs, last first, so earlier row numbers stay valid.
        runs: list[tuple[int, int]] = []
        for r in rows:
            if runs and runs[-1][1] == r - 1:
                runs[-1] = (runs[-1][0], r)
            else:
                runs.append((r, r))
        for start, end in reversed(runs):
            self.beginRemoveRows(QModelIndex(), start, end)
            for iid in self._ids[start : end + 1]:
                del self._row[iid]
                self._base_key.pop(iid, None)
                self._new_until.pop(iid, None)
            del self._ids[start : end + 1]
            self.endRemoveRows()
        for r in range(rows[0], len(self._ids)):  # renumber what slid up
            self._row[self._ids[r]] = r

    def _emit_rows(
        self, rows: list[int], roles: list[int] | None, first_col: int = 0, last_col: int = len(COLUMNS) - 1
    ) -> None:
        """One dataChanged per contiguous run of rows."""
        _emit_row_runs(self, sorted(rows), roles, first_col, last_col)

    # -- time -------------------------------------------------------------------------------

    def refresh_time(self) -> None:
        """Once a second: ages of every row, and rows whose colour changed with time."""
        n = len(self._ids)
        if n == 0:
            return
        now_ts = self._now_ts()
        rows: set[int] = set()
        queue = self._new_queue
        while queue and queue[0][0] <= now_ts:
            until, iid = queue.popleft()
            if self._new_until.get(iid) == until:
                del self._new_until[iid]
                row = self._row.get(iid)
                if row is not None:
                    rows.add(row)
        heap = self._sla_heap
        incidents = self._store.incidents
        while heap and heap[0][0] <= now_ts:
            _, iid, version = heapq.heappop(heap)
            inc = incidents.get(iid)
            row = self._row.get(iid)
            if inc is None or row is None or inc.version != version:
                continue  # superseded by a newer version's entry
            rows.add(row)
            change_at = sla_level(inc, self._config, now_ts)[3]
            if change_at is not None:
                heapq.heappush(heap, (change_at, iid, version))
        if rows:
            self._emit_rows(sorted(rows), _TIME_ROLES)
        if self.time_as_data_changed:
            self.dataChanged.emit(self.index(0, COL_AGE), self.index(n - 1, COL_AGE), _TIME_ROLES)
        self.time_changed.emit(COL_AGE, COL_AGE)


# --- the proxy -------------------------------------------------------------------------------


#: At most this many single-row inserts and removals are signalled one by one; more,
#: or any row that changes its place, go as one append, one layout change and one
#: removal at the end (three signals whatever the size of the batch).
FINE_MOVES = 16


class _Descending:
    """A text sort key that orders the other way round (a descending text column)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value

    def __lt__(self, other: _Descending) -> bool:
        return bool(other.value < self.value)

    __hash__ = None  # type: ignore[assignment]


#: The layout signals' overload with the hint (PySide6 picks the one without
#: arguments otherwise): a vertical sort hint lets the column header skip its work.
_LAYOUT_SIGNATURE = "QList<QPersistentModelIndex>,QAbstractItemModel::LayoutChangeHint"
_SORT_HINT = QAbstractItemModel.LayoutChangeHint.VerticalSortHint

#: A row's place: (sort key..., incident id). Ascending order of entries is the order shown.
_Entry = tuple[Any, ...]


class IncidentQueueProxy(QAbstractTableModel):
    """Sorted (priority, then oldest first) and filtered view of the queue.

    Not a QSortFilterProxyModel: that one inserts each new row at its own place
    (one mapping rebuild and one rowsInserted per place), which for a burst of 250
    incidents into 50,000 rows took 50-90 ms. Here the rows are a sorted list of
    entries kept with bisect; a batch of changes from the source is gathered
    (IncidentQueueModel.batch_started/finished) and shown with at most three signals.
    Selection and the current row follow their incident through every move.
    """

    def __init__(self, source: IncidentQueueModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._src = source
        self._active_only = True
        self._agencies: frozenset[str] = frozenset()
        self._categories: frozenset[str] = frozenset()
        self._kecamatan: frozenset[str] = frozenset()
        self._priorities: frozenset[str] = frozenset()
        self._text = ""
        self._sort_col = COL_PRIORITY
        self._sort_order = Qt.SortOrder.AscendingOrder
        #: The shown rows in order; sorted except between an append and its layout change.
        self._rows: list[_Entry] = []
        self._entry: dict[str, _Entry] = {}
        self._sorted = True
        #: Incident ids touched during the source's current batch (None: no batch open).
        self._pending: set[str] | None = None
        self._batch_depth = 0
        #: Ids of source rows about to be removed (known only before they go).
        self._leaving: list[str] = []
        # The age refresh comes as time_changed and is forwarded over this model's own
        # rows: a dataChanged over every source row would be mapped row by row.
        source.time_as_data_changed = False
        source.time_changed.connect(self._on_source_time_changed)
        source.batch_started.connect(self._on_batch_started)
        source.batch_finished.connect(self._on_batch_finished)
        source.rowsInserted.connect(self._on_source_rows_inserted)
        source.rowsAboutToBeRemoved.connect(self._on_source_rows_about_to_be_removed)
        source.rowsRemoved.connect(self._on_source_rows_removed)
        source.dataChanged.connect(self._on_source_data_changed)
        source.modelAboutToBeReset.connect(self.beginResetModel)
        source.modelReset.connect(self._on_source_reset)
        source.headerDataChanged.connect(self.headerDataChanged)
        self._rebuild()

    # -- Qt model API -----------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        return _ROW_FLAGS if index.isValid() else _NO_FLAGS  # the source's, without a call more

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        return self._src.headerData(section, orientation, role)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> Any:
        row = index.row()
        if not index.isValid() or not (0 <= row < len(self._rows)):
            return None
        return self._src.cell(self._rows[row][-1], index.column(), int(role))

    def paint_spec(self, row: int, col: int) -> CellPaint | None:
        if not (0 <= row < len(self._rows)):
            return None
        return self._src.paint_spec(self._rows[row][-1], col)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        column = column if 0 <= column < len(COLUMNS) else COL_PRIORITY
        if (column, order) == (self._sort_col, self._sort_order):
            return
        self._sort_col, self._sort_order = column, order
        incidents = self._src.store_incidents()
        self._relayout(lambda: sorted(self._entry_of(incidents[e[-1]]) for e in self._rows))

    def sort_column(self) -> int:
        return self._sort_col

    def sort_order(self) -> Qt.SortOrder:
        return self._sort_order

    # -- lookup ----------------------------------------------------------------------------------

    def incident_id(self, proxy_row: int) -> str:
        return str(self._rows[proxy_row][-1])

    def proxy_row_of(self, incident_id: str) -> int:
        entry = self._entry.get(incident_id)
        if entry is None:
            return -1
        if not self._sorted:  # between an append and its layout change
            return self._rows.index(entry)
        return bisect.bisect_left(self._rows, entry)

    # -- filters ------------------------------------------------------------------------------

    def accepts(self, inc: Incident) -> bool:
        """Whether the filters let this incident into the view."""
        if self._active_only and not inc.active:
            return False
        if self._priorities and inc.priority not in self._priorities:
            return False
        if self._categories and inc.category not in self._categories:
            return False
        if self._kecamatan and inc.location.kecamatan not in self._kecamatan:
            return False
        if self._agencies and not any(task.agency in self._agencies for task in inc.tasks):
            return False
        return not self._text or self._text in self._src.search_text(inc)

    def _refilter(self, apply: Callable[[], None]) -> None:
        apply()
        self._process(self._src.all_ids())

    @property
    def active_only(self) -> bool:
        return self._active_only

    def set_active_only(self, on: bool) -> None:
        if on != self._active_only:
            self._refilter(lambda: setattr(self, "_active_only", on))

    def set_agencies(self, codes: Iterable[str]) -> None:
        self._refilter(lambda: setattr(self, "_agencies", frozenset(codes)))

    def set_categories(self, codes: Iterable[str]) -> None:
        self._refilter(lambda: setattr(self, "_categories", frozenset(codes)))

    def set_kecamatan(self, names: Iterable[str]) -> None:
        self._refilter(lambda: setattr(self, "_kecamatan", frozenset(names)))

    def set_priorities(self, priorities: Iterable[str]) -> None:
        self._refilter(lambda: setattr(self, "_priorities", frozenset(priorities)))

    def set_search_text(self, text: str) -> None:
        text = text.strip().casefold()
        if text != self._text:
            self._refilter(lambda: setattr(self, "_text", text))

    # -- order ----------------------------------------------------------------------------------

    def _entry_of(self, inc: Incident) -> _Entry:
        src, col = self._src, self._sort_col
        ascending = self._sort_order == Qt.SortOrder.AscendingOrder
        base = src.default_key(inc)
        if col == COL_PRIORITY:
            return (base if ascending else -base, inc.id)
        key: Any = src.sort_key_of(inc, col)
        if not ascending:
            key = -key if isinstance(key, (int, float)) else _Descending(key)
        # Ties in any column: priority, then oldest first, then the id (a total order).
        return (key, base, inc.id)

    def _wanted(self, iid: str, incidents: dict[str, Incident]) -> _Entry | None:
        inc = incidents.get(iid)
        if inc is None or self._src.row_of(iid) < 0 or not self.accepts(inc):
            return None
        return self._entry_of(inc)

    def _rebuild(self) -> None:
        incidents = self._src.store_incidents()
        rows = [e for e in (self._wanted(i, incidents) for i in self._src.all_ids()) if e is not None]
        rows.sort()
        self._rows = rows
        self._entry = {e[-1]: e for e in rows}
        self._sorted = True

    # -- following the source ---------------------------------------------------------------

    def _on_source_reset(self) -> None:
        self._pending = None
        self._batch_depth = 0
        self._rebuild()
        self.endResetModel()

    def _on_batch_started(self) -> None:
        self._batch_depth += 1
        if self._pending is None:
            self._pending = set()

    def _on_batch_finished(self) -> None:
        self._batch_depth = max(0, self._batch_depth - 1)
        if self._batch_depth == 0 and self._pending is not None:
            ids, self._pending = self._pending, None
            self._process(ids)

    def _touch(self, ids: Iterable[str]) -> None:
        if self._pending is not None:
            self._pending.update(ids)
        else:
            self._process(ids)

    def _on_source_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        src = self._src
        self._touch([src.incident_id(r) for r in range(first, last + 1)])

    def _on_source_rows_about_to_be_removed(self, parent: QModelIndex, first: int, last: int) -> None:
        src = self._src
        self._leaving.extend(src.incident_id(r) for r in range(first, last + 1))

    def _on_source_rows_removed(self, parent: QModelIndex, first: int, last: int) -> None:
        leaving, self._leaving = self._leaving, []
        self._touch(leaving)

    def _on_source_data_changed(
        self, top_left: QModelIndex, bottom_right: QModelIndex, roles: list[int]
    ) -> None:
        src = self._src
        first, last = top_left.row(), bottom_right.row()
        if not roles:  # contents changed: the order or the filter may have too
            self._touch([src.incident_id(r) for r in range(first, last + 1)])
            return
        cols = (top_left.column(), bottom_right.column())
        if first == 0 and last == src.rowCount() - 1:  # all of them (a text style, a language)
            if self._rows:
                self.dataChanged.emit(self.index(0, cols[0]), self.index(len(self._rows) - 1, cols[1]), roles)
            return
        self._emit_rows([src.incident_id(r) for r in range(first, last + 1)], roles, *cols)

    def _on_source_time_changed(self, first_col: int, last_col: int) -> None:
        n = len(self._rows)
        if n:
            self.dataChanged.emit(self.index(0, first_col), self.index(n - 1, last_col), _TIME_ROLES)

    def _process(self, ids: Iterable[str]) -> None:
        """Bring the rows of these incidents in step: data, place, in or out."""
        incidents = self._src.store_incidents()
        entry = self._entry
        removed: list[_Entry] = []
        added: list[_Entry] = []
        moved: dict[str, _Entry] = {}
        same: list[str] = []
        for iid in ids:
            old = entry.get(iid)
            new = self._wanted(iid, incidents)
            if old == new:
                if old is not None:
                    same.append(iid)
            elif old is None:
                added.append(new)  # type: ignore[arg-type]
            elif new is None:
                removed.append(old)
            else:
                moved[iid] = new
        if moved or len(removed) + len(added) > FINE_MOVES:
            self._bulk(removed, added, moved)
        else:
            self._one_by_one(removed, added)
        self._emit_rows(same, None)

    def _one_by_one(self, removed: list[_Entry], added: list[_Entry]) -> None:
        rows, root = self._rows, QModelIndex()
        for e in sorted(removed, reverse=True):
            i = bisect.bisect_left(rows, e)
            self.beginRemoveRows(root, i, i)
            del rows[i]
            del self._entry[e[-1]]
            self.endRemoveRows()
        for e in sorted(added):
            i = bisect.bisect_left(rows, e)
            self.beginInsertRows(root, i, i)
            rows.insert(i, e)
            self._entry[e[-1]] = e
            self.endInsertRows()

    def _bulk(self, removed: list[_Entry], added: list[_Entry], moved: dict[str, _Entry]) -> None:
        """New rows appended, then one layout change puts everything in its place with
        the leaving rows at the end, then those are removed: three signals. The work is
        O(changes x log rows) in Python and memory moves in C: a Python pass over 50,000
        rows costs 15-40 ms on a wall PC, more than the whole batch may."""
        root = QModelIndex()
        rows = self._rows
        n_old = len(rows)
        if added and not removed and not moved and self._sorted:
            added.sort()
            if not rows or rows[-1] < added[0]:
                # All of them go after the last row (the newest of the lowest shown priority,
                # or any order's tail): one append and no layout change, which would have the
                # view and its header repaint rows that did not move.
                self.beginInsertRows(root, n_old, n_old + len(added) - 1)
                rows.extend(added)
                for e in added:
                    self._entry[e[-1]] = e
                self.endInsertRows()
                return
        if added:
            self.beginInsertRows(root, n_old, n_old + len(added) - 1)
            self._sorted = False
            rows.extend(added)
            for e in added:
                self._entry[e[-1]] = e
            self.endInsertRows()
        moved_old = [self._entry[iid] for iid in moved]
        keep = n_old - len(removed) + len(added)

        def order() -> list[_Entry]:
            body = rows[:n_old]  # the sorted rows from before the append
            for e in sorted([*removed, *moved_old], reverse=True):
                del body[bisect.bisect_left(body, e)]
            body.extend(added)
            body.extend(moved.values())
            body.sort()  # one long sorted run and a short tail: timsort merges them galloping
            body.extend(removed)
            return body

        self._relayout(order, moved)
        if removed:
            self.beginRemoveRows(root, keep, len(self._rows) - 1)
            del self._rows[keep:]
            for e in removed:
                self._entry.pop(e[-1], None)
            self.endRemoveRows()

    def _relayout(
        self, new_rows: Callable[[], list[_Entry]], changed: dict[str, _Entry] | None = None
    ) -> None:
        """Replace the order of the same rows, moving every persistent index
        (selection, current row) with its incident. ``changed``: the entries that are
        new (None: every row's)."""
        self.layoutAboutToBeChanged[_LAYOUT_SIGNATURE].emit([], _SORT_HINT)  # type: ignore[index]
        old = self._rows
        persistent = self.persistentIndexList()
        held = [old[pi.row()][-1] if 0 <= pi.row() < len(old) else None for pi in persistent]
        rows = new_rows()
        self._rows = rows
        if changed is None:
            self._entry = {e[-1]: e for e in rows}
        else:
            self._entry.update(changed)
        self._sorted = True
        if persistent:
            to: list[QModelIndex] = []
            for pi, iid in zip(persistent, held, strict=True):
                to.append(QModelIndex() if iid is None else self.index(self._row_in(rows, iid), pi.column()))
            self.changePersistentIndexList(persistent, to)
        self.layoutChanged[_LAYOUT_SIGNATURE].emit([], _SORT_HINT)  # type: ignore[index]

    def _row_in(self, rows: list[_Entry], iid: str) -> int:
        e = self._entry[iid]
        i = bisect.bisect_left(rows, e)
        if i < len(rows) and rows[i] is e:
            return i
        return rows.index(e)  # a leaving row: at the unsorted end

    def _emit_rows(
        self, ids: list[str], roles: list[int] | None, first_col: int = 0, last_col: int = len(COLUMNS) - 1
    ) -> None:
        """One dataChanged per contiguous run of these incidents' rows."""
        rows = sorted(r for r in (self.proxy_row_of(i) for i in ids) if r >= 0)
        _emit_row_runs(self, rows, roles, first_col, last_col)


# --- painting ----------------------------------------------------------------------------------

#: The selected row of a desk queue (the stylesheet's selection-background-color).
SELECTED_BG = "#24507a"


class QueueDelegate(QStyledItemDelegate):
    """Paints a queue cell from one paint_spec() call with plain QPainter calls.

    The style path asks the model seven roles per cell and lays out each cell's text
    through the style sheet: a wall's queue in a burst repaints many times a second,
    and that was most of its paint time. Geometry is the style's (the same padding,
    margins and icon size, so sizeHint() and the layout check still describe what is
    drawn); elision only where the column is too narrow for the text.

    A queue shows the same few hundred texts paint after paint, and each row insertion
    has Qt repaint every row shown: so each text is measured, elided and laid out
    (QStaticText) once per font, not on every paint (QFontMetrics and drawText's own
    layout and shaping of the text were half of a paint). The text lands on the pixels
    drawText(rect, AlignVCenter | AlignLeft/Right, text) put it on: one line, as high as
    the font's ascent plus descent, centred in the row, clipped to the cell only where it
    does not fit (tests/ui/test_queue.py compares the two pixel for pixel)."""

    #: Texts kept per font before the memos start over (ages and tickets keep coming).
    MEMO_MAX = 4096

    def __init__(self, proxy: IncidentQueueProxy, table: QAbstractItemView, pad_left: int) -> None:
        super().__init__(table)
        self._proxy = proxy
        self._margin = table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1
        self._pad = pad_left
        self._selected = QBrush(QColor(SELECTED_BG))
        self._selected_text = QColor(theme.TEXT)
        #: The font the memos belong to; its line height; per text its advance (whole
        #: pixels, as elision decides) and its laid-out text with its exact advance; per
        #: (text, width) what is drawn in that width.
        self._font: QFont | None = None
        self._line_height = 0.0
        self._advance: dict[str, int] = {}
        self._static: dict[str, tuple[QStaticText, float]] = {}
        self._fitted: dict[tuple[str, int], str] = {}

    def _use_font(self, font: QFont) -> None:
        if font != self._font:
            self._font = QFont(font)
            fm = QFontMetricsF(font)
            self._line_height = fm.ascent() + fm.descent()
            self._advance.clear()
            self._static.clear()
            self._fitted.clear()

    def fitted_text(self, text: str, width: int, font: QFont, option: QStyleOptionViewItem) -> str:
        """``text``, elided at its end when wider than ``width`` in ``font`` (the option's)."""
        self._use_font(font)
        advance = self._advance.get(text)
        if advance is None:
            if len(self._advance) >= self.MEMO_MAX:
                self._advance.clear()
            advance = self._advance[text] = option.fontMetrics.horizontalAdvance(text)
        if advance <= width:
            return text
        key = (text, width)
        fitted = self._fitted.get(key)
        if fitted is None:
            if len(self._fitted) >= self.MEMO_MAX:
                self._fitted.clear()
            fitted = self._fitted[key] = option.fontMetrics.elidedText(
                text, Qt.TextElideMode.ElideRight, width
            )
        return fitted

    def _laid_out(self, text: str, font: QFont) -> tuple[QStaticText, float]:
        """``text`` laid out once in ``font`` (the memos' font), and its advance."""
        got = self._static.get(text)
        if got is None:
            if len(self._static) >= self.MEMO_MAX:
                self._static.clear()
            static = QStaticText(text)
            static.setTextFormat(Qt.TextFormat.PlainText)
            static.prepare(QTransform(), font)
            got = self._static[text] = (static, QFontMetricsF(font).horizontalAdvance(text))
        return got

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        spec = self._proxy.paint_spec(index.row(), index.column())
        if spec is None:
            super().paint(painter, option, index)
            return
        text, fg, bg, icon, align = spec
        rect = option.rect
        m = self._margin
        if option.state.value & _STATE_SELECTED:
            painter.fillRect(rect, self._selected)
            color = self._selected_text
        else:
            if bg is not None:
                painter.fillRect(rect, bg)
            color = fg.color()
        x = rect.x() + self._pad + m
        if icon is not None:
            size = option.decorationSize
            icon.paint(
                painter, x, rect.y() + (rect.height() - size.height()) // 2, size.width(), size.height()
            )
            x += size.width() + 2 * m
        width = rect.x() + rect.width() - m - x
        if not text or width <= 0:
            return
        self.draw_text(painter, option, text, color, x, width, align)

    def draw_text(self, painter: QPainter, option: QStyleOptionViewItem, text: str, color: QColor,
                  x: int, width: int, align: int) -> None:  # fmt: skip
        """``text`` in the cell's ``width`` px from ``x``, elided where it does not fit."""
        rect = option.rect
        font = option.font
        text = self.fitted_text(text, width, font, option)
        static, advance = self._laid_out(text, font)
        # Where drawText(x, y, width, height, align, text) puts one line (qt_format_text),
        # clipped as it clips: to that rectangle when the line does not fit in it.
        left = x + (width - advance if align == _ALIGN_RIGHT else 0.0)
        top = rect.y() + (rect.height() - self._line_height) / 2
        painter.save()
        if advance > width or self._line_height > rect.height():
            painter.setClipRect(QRect(x, rect.y(), width, rect.height()), Qt.ClipOperation.IntersectClip)
        painter.setFont(font)
        painter.setPen(color)
        painter.drawStaticText(QPointF(left, top), static)
        painter.restore()
