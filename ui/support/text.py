"""Tooltips that are always plain text.

Qt decides by itself whether a tooltip is rich text (``Qt::mightBeRichText``):
a village name such as ``<b>Deling</b>`` would be drawn bold and large, and an
``<img src=...>`` makes Qt try to load a local file. Every tooltip that may
carry feed text therefore goes through :func:`plain_tooltip`: the text is
escaped and wrapped in ``<qt>`` so Qt takes it as rich text whose only content
is the literal characters (line breaks kept).
"""

from __future__ import annotations

import html

__all__ = ["plain_tooltip"]


def plain_tooltip(text: str) -> str:
    """``text`` as a tooltip Qt shows literally; empty stays empty (no tooltip)."""
    if not text:
        return ""
    body = html.escape(text, quote=False).replace("\n", "<br>")
    return f"<qt>{body}</qt>"
