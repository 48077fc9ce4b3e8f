"""XML from outside, parsed with defusedxml: no DTD (so no entity expansion, no external
entities), a size cap before parsing, and errors as IngestError."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from commandcenter.ingest.items import IngestError, check_size


def parse_xml(data: bytes) -> Element:
    check_size(data)
    try:
        # forbid_dtd: a DOCTYPE is refused outright, so neither "billion laughs" nor an external
        # entity can even be declared; publishers we read never send one.
        root: Element = safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise IngestError(
            "document", f"refused XML ({type(exc).__name__}): DTDs and entities are not allowed"
        ) from None
    except ParseError as exc:
        raise IngestError(
            f"line {exc.position[0]}, column {exc.position[1]}", "not well-formed XML"
        ) from None
    return root


def local(tag: str) -> str:
    """The tag without its {namespace}."""
    return tag.rsplit("}", 1)[-1]


def child_text(element: Element, name: str) -> str | None:
    """Text of the first child whose local name is ``name`` (any namespace), else None."""
    for child in element:
        if local(child.tag) == name:
            return (child.text or "").strip()
    return None


def children(element: Element, name: str) -> list[Element]:
    return [c for c in element if local(c.tag) == name]
