"""Small lxml helpers and value readers shared by the ENTSO-E parser modules.

Elements are matched on their local names (``{ns}Point`` → ``Point``) because the
namespace changes with every XSD version. Times become int64 microseconds since the epoch
(UTC), the unit of the Arrow timestamp columns, so no per-value datetime objects are made.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any


class DocumentError(Exception):
    """A defect of the document; becomes a ParseError naming the source."""


SPACES = re.compile(r"\s+")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=4096)
def local_name(tag: str) -> str:
    """Local name of a Clark-notation tag (``{ns}Point`` → ``Point``)."""
    return tag.rpartition("}")[2]


def namespace_of(tag: str) -> str:
    """Namespace URI of a Clark-notation tag, ``""`` when it has none."""
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def text_of(element: Any) -> str:
    """An element's own text, stripped (``""`` when it has none)."""
    text = element.text
    return text.strip() if text else ""


def integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DocumentError(f"{what} is not an integer: {text!r}") from None


@lru_cache(maxsize=8192)
def instant(text: str) -> int:
    """An ENTSO-E UTC time (``2024-09-01T22:00Z``) as microseconds since the epoch.

    ENTSO-E times are UTC by definition; one without an offset is read as UTC.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DocumentError(f"not a date-time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def to_datetime(micros: int) -> datetime:
    """Microseconds since the epoch → aware UTC datetime."""
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)


def micros_of(moment: datetime) -> int:
    """Aware datetime → microseconds since the epoch."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def iso(micros: int) -> str:
    """``2024-09-01T22:00Z``, for messages."""
    return to_datetime(micros).strftime("%Y-%m-%dT%H:%MZ")


def read_interval(element: Any) -> tuple[int | None, int | None]:
    """``<timeInterval><start>..</start><end>..</end></timeInterval>`` as microseconds."""
    start = end = None
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        text = child.text
        if tag.endswith("}start") or tag == "start":
            start = instant(text.strip() if text else "")
        elif tag.endswith("}end") or tag == "end":
            end = instant(text.strip() if text else "")
    return start, end


def read_status(element: Any) -> str | None:
    # docStatus is <docStatus><value>A05</value></docStatus>; accept bare text as well.
    for child in element:
        if isinstance(child.tag, str) and local_name(child.tag) == "value":
            return text_of(child) or None
    return text_of(element) or None


def read_reasons(elements: Sequence[Any]) -> tuple[str | None, str | None]:
    """Codes and texts of ``Reason`` elements, joined (``B19``, ``ScheduledWorks``)."""
    codes: list[str] = []
    texts: list[str] = []
    for reason in elements:
        found = False
        for child in reason:
            if not isinstance(child.tag, str):
                continue
            name = local_name(child.tag)
            value = " ".join(child.text.split()) if child.text else ""
            if name == "code" and value:
                codes.append(value)
                found = True
            elif name == "text":
                found = True
                if value:
                    texts.append(value)
        if not found:
            # Bare text inside <Reason> (guide-style examples).
            value = SPACES.sub(" ", "".join(reason.itertext()).strip())
            if value:
                texts.append(value)
    return (",".join(codes) or None), ("; ".join(texts) or None)


def reason_children(root: Any) -> list[Any]:
    """The ``Reason`` children of an element (C-level tag filter, any namespace)."""
    return list(root.iterchildren("{*}Reason"))
