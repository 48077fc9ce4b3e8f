"""Text and times from the feed, made safe to show and to match.

Feed text comes from the public and from other systems. The protocol refuses
control and bidi control characters in new frames, but a journal written by an
older server (or a frame from another server) may still carry them, so every
consumer goes through these helpers:

* :func:`isolate` for text shown next to other text: control and bidi control
  characters removed and right-to-left text wrapped in FSI..PDI, so a name
  cannot flip the words around it;
* :func:`match_key` for counting and lookups: NFC, no zero-width or bidi
  characters, single spaces; "Kayu\\u200bagung" and "Kayuagung" count together;
* :func:`safe_time` / :func:`local_time` / :func:`when_text` for times that drive
  countdowns and marks: a time outside the protocol's window is clamped to it
  instead of overflowing (``astimezone`` or ``+ timedelta`` on year 9999).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata

from commandcenter.core.model import TIME_MAX, TIME_MIN
from commandcenter.core.timeutil import WIB

__all__ = [
    "BIDI_CONTROLS",
    "FSI",
    "PDI",
    "ZERO_WIDTH",
    "isolate",
    "local_time",
    "match_key",
    "safe_time",
    "strip_controls",
    "when_text",
]

#: First strong isolate and pop directional isolate (Unicode 6.3 isolates).
FSI = "\u2068"
PDI = "\u2069"
#: Embeddings, overrides, isolates and marks: anything that changes direction.
BIDI_CONTROLS = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
#: Characters that take no room: a name with one looks the same but is another key.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")
_INVISIBLE = re.compile(f"[{BIDI_CONTROLS}{ZERO_WIDTH}]")
_SPACES = re.compile(r"\s+")


def strip_controls(text: str) -> str:
    """``text`` without C0/C1 control characters (tabs and line breaks kept)
    and without bidi controls."""
    return _BIDI.sub("", _CONTROLS.sub("", text))


#: Bidi classes that can reorder the text around them: right-to-left letters
#: and Arabic digits (controls are removed before this is checked).
_RTL_CLASSES = frozenset({"R", "AL", "AN"})


def isolate(text: str) -> str:
    """``text`` ready to sit beside other text: controls removed and, when it
    holds right-to-left characters, wrapped in FSI..PDI so its direction
    cannot reorder the surrounding words. Left-to-right text is returned as is
    (inside the wall's left-to-right lines an isolate would change nothing),
    so ordinary names compare equal to what the feed sent."""
    clean = strip_controls(text) if not text.isascii() or _CONTROLS.search(text) else text
    if clean.isascii() or not any(unicodedata.bidirectional(ch) in _RTL_CLASSES for ch in clean):
        return clean
    return f"{FSI}{clean}{PDI}"


@functools.lru_cache(maxsize=4096)
def match_key(text: str) -> str:
    """The form of a name used to count and look it up: NFC-normalised, without
    zero-width, bidi or control characters, with single spaces. Case is kept
    (the key is also what the wall shows). Cached: district names repeat."""
    clean = _INVISIBLE.sub("", _CONTROLS.sub(" ", text))
    clean = _SPACES.sub(" ", clean).strip()
    return unicodedata.normalize("NFC", clean)


def safe_time(ts: dt.datetime) -> dt.datetime:
    """``ts`` clamped to the protocol's window, so that converting it to another
    zone or adding a timedelta never overflows. Comparisons are always safe;
    this is for arithmetic and display."""
    if ts < TIME_MIN:
        return TIME_MIN
    if ts >= TIME_MAX:
        return TIME_MAX
    return ts


def local_time(ts: dt.datetime, tz: dt.tzinfo = WIB) -> dt.datetime:
    """``ts`` in the wall's zone (WIB), clamped first (never OverflowError)."""
    return safe_time(ts).astimezone(tz)


def when_text(ts: dt.datetime, now: dt.datetime, tz: dt.tzinfo = WIB) -> str:
    """A short WIB time for a mark: ``14:02`` when it is within the next or last
    20 hours (no doubt which day), else with its date, ``31-12-2099 14:02``, so
    a mute until 2099 never reads as "until 14:02 today"."""
    local = local_time(ts, tz)
    if abs((safe_time(ts) - safe_time(now)).total_seconds()) < 20 * 3600:
        return local.strftime("%H:%M")
    return local.strftime("%d-%m-%Y %H:%M")
