"""The Points of an ENTSO-E Period, as one list of values per measure.

A Point holds a ``position`` and one or more quantities (``quantity``, ``price.amount``,
``procurement_Price.amount``, ``secondaryQuantity``, a nested ``Financial_Price/amount``...),
possibly a per-point ``imbalance_Price.category`` or ``flowDirection``. Uniform Points (the
norm) are read with one compiled XPath text query per Period, without a Python object per
element; anything unusual is read element by element.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lxml import etree

from gridvault.entsoe._xml import (
    DocumentError,
    instant,
    local_name,
    namespace_of,
    read_interval,
    text_of,
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@lru_cache(maxsize=1024)
def measure_name(local: str) -> str:
    """``price.amount`` → ``price``, ``imbalance_Price.amount`` → ``imbalance_price``,
    ``secondaryQuantity`` → ``secondary_quantity``."""
    base = local[: -len(".amount")] if local.endswith(".amount") else local
    snake = _CAMEL.sub("_", base).replace(".", "_").lower()
    return re.sub(r"_+", "_", snake).strip("_") or "value"


@lru_cache(maxsize=1024)
def _leaf_role(local: str) -> str:
    """What a leaf child of a Point is: position, category, direction, measure or other.

    ``measure`` names must hold numbers (a bad one is an error); ``other`` leaves become
    measures only when every value is a number (an unknown code-valued leaf is skipped).
    """
    lower = local.lower()
    if lower == "position":
        return "position"
    if lower.endswith("category"):
        return "category"
    if lower.endswith("direction"):
        return "direction"
    if lower == "quantity" or lower.endswith(("quantity", ".amount", "amount")):
        return "measure"
    return "other"


def is_price(measure_local: str) -> bool:
    """Whether a measure is a price (its unit is currency/energy, not the quantity unit)."""
    lower = measure_local.lower()
    return "price" in lower or lower.endswith("amount")


_PERIOD_ROLES: dict[str, str] = {}


def _period_role(tag: str) -> str:
    role = local_name(tag)
    if len(_PERIOD_ROLES) < 4096:
        _PERIOD_ROLES[tag] = role
    return role


def period_header(period: Any) -> tuple[int | None, int | None, str | None, Any, int]:
    """(start, end, resolution, first Point, index of the first Point) of a Period."""
    start = end = None
    resolution = None
    known = _PERIOD_ROLES.get
    index = 0
    for index, child in enumerate(period):
        tag = child.tag
        if not isinstance(tag, str):
            continue
        name = known(tag) or _period_role(tag)
        if name == "Point":
            return start, end, resolution, child, index
        if name == "timeInterval":
            start, end = read_interval(child)
        elif name == "timeInterval.start":  # flattened spelling of some old documents
            start = instant(text_of(child))
        elif name == "timeInterval.end":
            end = instant(text_of(child))
        elif name == "resolution":
            resolution = text_of(child) or None
    return start, end, resolution, None, index + 1


@dataclass
class Measure:
    """The given points of one measure of a Period (positions None: 1..n in order)."""

    local: str
    positions: list[int] | None
    values: list[float]
    categories: list[str | None] | None
    direction: str | None = None


@lru_cache(maxsize=512)
def _xpath(namespace: str, expression: str) -> etree.XPath:
    # Compiled per namespace; "N:" marks the names that live in the document's namespace.
    if namespace:
        return etree.XPath(
            expression.replace("N:", "n:"), namespaces={"n": namespace}, smart_strings=False
        )
    return etree.XPath(expression.replace("N:", ""), smart_strings=False)


@lru_cache(maxsize=64)
def _position_texts(count: int) -> list[str]:
    return [str(position) for position in range(1, count + 1)]


# Below this many Points, reading them one by one is as fast as the XPath query.
_FAST_PATH_MIN_POINTS = 6


def read_points(period: Any, first_point: Any, first_index: int) -> list[Measure]:
    """The measures of a Period's Points, via XPath when the Points are uniform."""
    if len(period) - first_index >= _FAST_PATH_MIN_POINTS:
        measures = _points_fast(period, first_point, first_index)
        if measures is not None:
            return measures
    return read_each_point(period, first_index)


#: Every text node under an element, in document order: one walk of the subtree, cheaper
#: than a location path over the Points (no node sets to merge and sort).
_ALL_TEXTS = etree.XPath("descendant::text()", smart_strings=False)


def _points_fast(period: Any, first_point: Any, first_index: int) -> list[Measure] | None:
    """Uniform Points: one XPath query returns every text of the Period in document order.

    After the texts of the children before the first Point (``timeInterval``'s start and
    end, ``resolution``: counted, and only such plain leaves are accepted), Points with
    ``k`` children give child ``j`` of every Point as ``texts[skip + j::k]``. That holds when
    every Point has the same leaf children in the same order (the XSD fixes the order), and
    it is checked: the counts must add up and the position column must be exactly the
    positions (``1..n``, or what a query for the positions alone returns). Anything else
    returns None and the Points are read one by one (:func:`read_each_point`).
    """
    layout: list[tuple[str, str]] = []
    for child in first_point:
        tag = child.tag
        if not isinstance(tag, str) or len(child):
            return None
        name = local_name(tag)
        layout.append((name, _leaf_role(name)))
    roles = [role for _name, role in layout]
    if roles.count("position") != 1 or "direction" in roles:
        return None  # per-point direction (rare): the slow path keys rows by it
    skip = 0
    for index in range(first_index):
        texts_before = _leaf_texts(period[index])
        if texts_before < 0:
            return None
        skip += texts_before
    width = len(layout)
    count = len(period) - first_index  # Points are the last children of a Period
    texts = _ALL_TEXTS(period)
    if len(texts) != skip + count * width:
        return None
    namespace = namespace_of(period.tag)
    position_texts = texts[skip + roles.index("position") :: width]
    positions: list[int] | None = None
    if position_texts != _position_texts(count):
        if position_texts != _xpath(namespace, "N:Point/N:position/text()")(period):
            return None
        try:
            positions = list(map(int, position_texts))
        except ValueError:
            bad = next(text for text in position_texts if not text.strip().isdigit())
            raise DocumentError(f"position is not an integer: {bad!r}") from None
    categories: list[str | None] | None = None
    if "category" in roles:
        column = texts[skip + roles.index("category") :: width]
        categories = [text.strip() or None for text in column]
    measures: list[Measure] = []
    for index, (name, role) in enumerate(layout):
        if role not in ("measure", "other"):
            continue
        column = texts[skip + index :: width]
        try:
            values = list(map(float, column))
        except ValueError:
            if role == "other":
                continue  # a code-valued leaf, not a number
            bad = next(text for text in column if not _is_number(text))
            raise DocumentError(f"{name} is not a number: {bad!r}") from None
        measures.append(Measure(name, positions, values, categories))
    return measures


def _leaf_texts(element: Any) -> int:
    """Text nodes in ``element`` (tail included) when it is a text leaf or a group of text
    leaves such as ``timeInterval``; -1 for anything else (mixed content, deeper nesting)."""
    if element.tail is not None:
        return -1
    if not len(element):
        return 0 if element.text is None else 1
    if element.text is not None:
        return -1
    texts = 0
    for child in element:
        if len(child) or child.tail is not None:
            return -1
        if child.text is not None:
            texts += 1
    return texts


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_POINT_ROLES: dict[str, tuple[str, str]] = {}


def _point_role(tag: str) -> tuple[str, str]:
    """(local name, role) of a Point child, by tag (cached)."""
    name = local_name(tag)
    role = (name, _leaf_role(name))
    if len(_POINT_ROLES) < 4096:
        _POINT_ROLES[tag] = role
    return role


def read_each_point(period: Any, first_index: int = 0) -> list[Measure]:
    """Read every Point element by element (non-uniform Points, nested amounts, few Points)."""
    columns: dict[tuple[str, str | None], tuple[list[int], list[float], list[str | None]]] = {}
    has_category = False
    known = _POINT_ROLES.get
    for point in period[first_index:]:
        if not isinstance(point.tag, str) or local_name(point.tag) != "Point":
            continue
        position: int | None = None
        category: str | None = None
        point_direction: str | None = None
        found: list[tuple[str, str | None, float]] = []
        for child in point:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            name, role = known(tag) or _point_role(tag)
            if role == "other" and len(child):
                nested = _nested_amount(child)
                if nested is not None:
                    found.append((name, nested[1], nested[0]))
                continue
            text = child.text
            text = text.strip() if text else ""
            if role == "position":
                try:
                    position = int(text)
                except ValueError:
                    raise DocumentError(f"position is not an integer: {text!r}") from None
            elif role == "category":
                category = text or None
                has_category = True
            elif role == "direction":
                point_direction = text or None
            elif not text:
                if role == "measure":
                    found.append((name, None, math.nan))
            else:
                try:
                    found.append((name, None, float(text)))
                except ValueError:
                    if role == "measure":
                        raise DocumentError(f"{name} is not a number: {text!r}") from None
        if position is None:
            raise DocumentError("a Point has no position")
        for name, direction, value in found:
            key = (name, direction or point_direction)
            column = columns.get(key)
            if column is None:
                column = columns[key] = ([], [], [])
            column[0].append(position)
            column[1].append(value)
            column[2].append(category)
    return [
        Measure(name, positions, values, categories if has_category else None, direction)
        for (name, direction), (positions, values, categories) in columns.items()
    ]


def _nested_amount(element: Any) -> tuple[float, str | None] | None:
    """``<Financial_Price><amount>..</amount><direction>..</direction></Financial_Price>``."""
    amount: float | None = None
    direction: str | None = None
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = local_name(child.tag)
        if name == "amount":
            text = text_of(child)
            try:
                amount = float(text) if text else math.nan
            except ValueError:
                raise DocumentError(
                    f"{local_name(element.tag)}/amount is not a number: {text!r}"
                ) from None
        elif name.lower().endswith("direction"):
            direction = text_of(child) or None
    return None if amount is None else (amount, direction)


def order_points(measure: Measure) -> None:
    """Sort the given points by position; refuse duplicate positions."""
    positions = measure.positions
    if positions is None:
        return
    ordered = sorted(positions)
    if ordered != positions:
        order = sorted(range(len(positions)), key=positions.__getitem__)
        measure.positions = ordered
        measure.values = [measure.values[i] for i in order]
        if measure.categories is not None:
            measure.categories = [measure.categories[i] for i in order]
    if len(set(ordered)) != len(ordered):
        raise DocumentError(f"duplicate position in a Period ({measure.local})")
