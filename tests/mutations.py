"""Hypothesis strategies that damage REAL recorded files, for the bad-input fuzz tests.

Every strategy starts from a bundled recording (``gridvault.demo`` data: ENTSO-E API XML and
ZIP responses, the Transparency Platform's website CSV exports) and changes it the way files
get damaged or forged: bytes flipped, cut short or inserted; XML elements deleted,
duplicated, moved, renamed or re-namespaced, texts and attributes replaced by hostile values;
ZIP members corrupted, dropped, duplicated, renamed, replaced or added; CSV lines and fields
edited, headers changed, other delimiters and encodings. Shared by the parser fuzz tests
(``tests/entsoe/test_parser_fuzz.py``) and the import fuzz tests
(``tests/pipeline/test_import_fuzz.py``).
"""

from __future__ import annotations

import copy
import hashlib
import io
import re
import warnings
import zipfile
from functools import cache
from typing import Any

from hypothesis import strategies as st
from lxml import etree

from gridvault.demo import ENTSOE_DIR, TIMESERIES_DIR

#: Recorded XML documents of every family (prices, flows, load, generation, NTC, outages,
#: balancing, an acknowledgement), small enough that hundreds of mutations stay fast.
XML_FIXTURES = (
    "A44_day_ahead_prices_NL_2024-09-02_PT60M.xml",
    "A44_day_ahead_prices_FR_2023-05-07_2days_curveA01.xml",
    "A11_physical_flows_DK1_to_GB_2023-12-20_to_22_PT60M_gaps_3TS.xml",
    "A61_ntc_week_ahead_DK2_to_DK1_2026-02-17_to_03-29_P1D_across_DST.xml",
    "A61_ntc_day_ahead_FR_to_ES_2026-03-19_20_PT60M_curveA03.xml",
    "A65_A16_actual_load_DK1_2023-12-28_to_30_PT60M_curveA01.xml",
    "A65_A31_week_ahead_load_forecast_NL_2024-09-02_P1D_min_max.xml",
    "A68_A33_installed_capacity_per_type_NL_2024_P1Y.xml",
    "A76_unavailability_consumption_units_DE_LU_2023-11-30_PT15M.xml",
    "A81_contracted_reserves_FCR_NL_2025-03-30_DST_spring_forward.xml",
    "A84_activated_balancing_energy_prices_NL_2025-05-29_PT15M_curveA03.xml",
    "Acknowledgement_no_matching_data_A44_A07_DE_LU_2024-09-02.xml",
)
ZIP_FIXTURES = (
    "A78_unavailability_transmission_NL_BE_2020-11-18.zip",
    "A85_imbalance_prices_AT_2024-01-01_to_05_PT15M.zip",
    "A80_unavailability_generation_units_BE_2025_59docs.zip",
)
CSV_FIXTURES = (
    "entsoe_fi/dayahead_prices_FI_2019.csv",
    "entsoe_fi/total_load_dayahead_actual_FI_2015.csv",
    "entsoe_sk/total_load_dayahead_actual_SK_2023.csv",
    "entsoe_sk/total_load_dayahead_actual_SK_2024.csv",
)

#: 6,400 characters, long and incompressible: too big for a PostgreSQL index entry.
NOISE = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(100))

#: Values a forged or damaged document may carry where a code, number or time belongs.
HOSTILE_TEXTS = (
    "",
    " ",
    "-1",
    "0",
    "NaN",
    "inf",
    "-Infinity",
    "1e309",
    "9" * 40,
    "1,5",
    "2024-13-45T25:61Z",
    "0001-01-01T00:00Z",
    "9999-12-31T23:59Z",
    "P0D",
    "PT0M",
    "PT1S",
    "P999Y",
    "A01",
    "B16",
    "10YNL----------L",
    "' OR '1'='1",
    "'; DROP TABLE observations; --",
    "\\",
    '"',
    "é€😀",
    "\u202eRTL",
    "x" * 3000,
    NOISE,
)
NAMESPACES = (
    "",
    "urn:iec62325.351:tc57wg16:451-6:generationloaddocument:3:0",
    "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3",
    "urn:iec62325.351:tc57wg16:451-6:balancingdocument:4:4",
    "urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0",
    "http://example.com/other",
)

_text = st.one_of(
    st.sampled_from(HOSTILE_TEXTS),
    st.text(
        st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Co", "Cn"]),
        max_size=12,
    ),
)


@cache
def recorded(name: str) -> bytes:
    """A bundled ENTSO-E recording (API response) by file name."""
    return (ENTSOE_DIR / name).read_bytes()


@cache
def _csv_lines(relative: str) -> tuple[bytes, tuple[bytes, ...]]:
    header, *lines = (TIMESERIES_DIR / relative).read_bytes().splitlines(keepends=True)
    return header, tuple(lines)


@cache
def _csv_windows(relative: str) -> tuple[int, ...]:
    """Line numbers worth starting a window at: the first line and the DST change days."""
    _, lines = _csv_lines(relative)
    change_day = re.compile(rb'^"?(2[5-9]|3[01])\.(03|10)\.\d{4} 0[0-2]:')
    return (0, *(i for i, line in enumerate(lines) if change_day.match(line)))


# -- bytes ------------------------------------------------------------------------------------


@st.composite
def damaged_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` cut short, with bytes overwritten, inserted or deleted."""
    out = bytearray(data)
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
    index = draw(st.integers(min_value=0, max_value=max(len(out) - 1, 0)))
    if kind == "truncate":
        return bytes(out[:index])
    if kind == "flip":
        for offset in draw(st.lists(st.integers(0, max(len(out) - 1, 0)), min_size=1, max_size=8)):
            if out:
                out[offset] = draw(st.integers(0, 255))
        return bytes(out)
    if kind == "insert":
        snippet = draw(
            st.sampled_from(
                [
                    b"<",
                    b">",
                    b"&",
                    b"</Point>",
                    b"<Point>",
                    b"\x00",
                    b"]]>",
                    b"-1",
                    b"9" * 30,
                    b'"',
                    b",",
                    b"\r",
                    b"\n",
                    b"\xff\xfe",
                    b"\xc3(",
                ]
            )
        )
        return bytes(out[:index] + snippet + out[index:])
    length = draw(st.integers(1, 64))
    return bytes(out[:index] + out[index + length :])


# -- XML --------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


@st.composite
def _tree_edit(draw: st.DrawFn, root: Any) -> None:
    """One structural change to the tree under ``root`` (an lxml element, in place)."""
    elements: list[Any] = [e for e in root.iter() if isinstance(e.tag, str)]
    target = draw(st.sampled_from(elements))
    parent = target.getparent()
    kind = draw(
        st.sampled_from(
            ["delete", "duplicate", "text", "attribute", "rename", "move", "namespace", "empty"]
        )
    )
    if kind == "delete" and parent is not None:
        parent.remove(target)
    elif kind == "duplicate" and parent is not None:
        parent.insert(parent.index(target), copy.deepcopy(target))
    elif kind == "text":
        target.text = draw(_text)
    elif kind == "attribute":
        name = draw(st.sampled_from(["codingScheme", "unit", "v", "xml:lang", "{urn:x}a"]))
        if name == "xml:lang":
            name = "{http://www.w3.org/XML/1998/namespace}lang"
        if target.attrib and draw(st.booleans()):
            target.attrib.clear()
        else:
            target.set(name, draw(_text))
    elif kind == "rename":
        names = sorted({_local(e.tag) for e in elements} | {"Invoice", "TimeSeries", "Point"})
        namespace = target.tag[: -len(_local(target.tag))]
        target.tag = namespace + draw(st.sampled_from(names))
    elif kind == "move" and parent is not None:
        destination = draw(st.sampled_from(elements))
        if target not in destination.iterancestors() and destination is not target:
            destination.append(target)
    elif kind == "namespace":
        namespace = draw(st.sampled_from(NAMESPACES))
        for element in elements:
            element.tag = (
                f"{{{namespace}}}{_local(element.tag)}" if namespace else _local(element.tag)
            )
    elif kind == "empty":
        for child in list(target):
            target.remove(child)
        target.text = None


@st.composite
def damaged_xml(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` (a recorded XML document) with one to three structural edits, serialised
    again (sometimes in another encoding or without its declaration)."""
    root = etree.fromstring(data)
    for _ in range(draw(st.integers(1, 3))):
        draw(_tree_edit(root))
    encoding = draw(st.sampled_from(["UTF-8", "UTF-8", "UTF-16", "ISO-8859-1"]))
    return etree.tostring(root, xml_declaration=draw(st.booleans()), encoding=encoding)


def xml_documents() -> st.SearchStrategy[bytes]:
    """A recorded XML document damaged at the byte level or in its structure."""
    return st.sampled_from(XML_FIXTURES).flatmap(
        lambda name: st.one_of(damaged_bytes(recorded(name)), damaged_xml(recorded(name)))
    )


# -- ZIP --------------------------------------------------------------------------------------


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def zip_of(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    # Two members of one name are a forgery worth trying; zipfile only warns about it.
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", method) as archive:
        warnings.simplefilter("ignore", UserWarning)
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


@st.composite
def damaged_zip(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` (a recorded ZIP response) with its members edited, or its bytes damaged."""
    kind = draw(
        st.sampled_from(["bytes", "member", "drop", "duplicate", "rename", "add", "method"])
    )
    if kind == "bytes":
        return draw(damaged_bytes(data))
    members = _members(data)
    index = draw(st.integers(0, len(members) - 1))
    name, content = members[index]
    if kind == "member":
        members[index] = (name, draw(st.one_of(damaged_xml(content), damaged_bytes(content))))
    elif kind == "drop":
        del members[index]
    elif kind == "duplicate":
        members.insert(index, (name, content))
    elif kind == "rename":
        members[index] = (
            draw(st.sampled_from(["../../etc/passwd", "a/b/c.xml", "x.pdf"])),
            content,
        )
    elif kind == "add":
        junk = draw(
            st.sampled_from(
                [b"", b"%PDF-1.4", zip_of([("inner.xml", content)]), b"<Invoice/>", b"\x00" * 64]
            )
        )
        members.insert(index, ("added.xml", junk))
    method = zipfile.ZIP_DEFLATED
    if kind == "method":
        method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]))
    return zip_of(members, method)


def zip_payloads() -> st.SearchStrategy[bytes]:
    """A recorded ZIP response, damaged."""
    return st.sampled_from(ZIP_FIXTURES).flatmap(lambda name: damaged_zip(recorded(name)))


# -- CSV --------------------------------------------------------------------------------------


@st.composite
def csv_window(draw: st.DrawFn, relative: str) -> tuple[bytes, list[bytes]]:
    """The header and 24 to 120 consecutive lines of a recorded export (often across a
    DST change), undamaged."""
    header, lines = _csv_lines(relative)
    first = draw(st.sampled_from(_csv_windows(relative)))
    length = draw(st.integers(24, 120))
    return header, list(lines[first : first + length])


def _fields(line: bytes) -> list[bytes]:
    return line.rstrip(b"\r\n").split(b",")


@st.composite
def damaged_csv(draw: st.DrawFn, relative: str) -> bytes:
    """A window of a recorded website export with one to three edits."""
    header, lines = draw(csv_window(relative))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                ["field", "header", "delete", "duplicate", "swap", "blank", "column", "quote"]
            )
        )
        index = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if kind == "field" and lines:
            fields = _fields(lines[index])
            position = draw(st.integers(0, len(fields) - 1))
            value = draw(st.one_of(_text, st.sampled_from(["-", "n/e", "N/A", "x" * 200_000])))
            fields[position] = b'"' + value.encode() + b'"'
            lines[index] = b",".join(fields) + b"\n"
        elif kind == "header":
            fields = _fields(header)
            position = draw(st.integers(0, len(fields) - 1))
            value = draw(
                st.one_of(
                    _text,
                    st.sampled_from(
                        [
                            "Time (UTC)",
                            "MTU (Mars/Olympus)",
                            "Actual Total Load [MW] - BZN|XX",
                            "Actual Total Load [MW] - BZN|DE-LU",
                            "Day-ahead Price [EUR\x00/MWh]",
                            "BZN|",
                            "Currency",
                        ]
                    ),
                )
            )
            fields[position] = b'"' + value.encode() + b'"'
            header = b",".join(fields) + b"\n"
        elif kind == "delete" and lines:
            del lines[index]
        elif kind == "duplicate" and lines:
            lines.insert(index, lines[index])
        elif kind == "swap" and len(lines) > 1:
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        elif kind == "blank":
            lines.insert(index, draw(st.sampled_from([b"\n", b",,\n", b'""\n', b" \n"])))
        elif kind == "column" and lines:
            fields = _fields(lines[index])
            if draw(st.booleans()) or len(fields) < 2:
                fields.append(b'"1"')
            else:
                fields.pop()
            lines[index] = b",".join(fields) + b"\n"
        elif kind == "quote" and lines:
            lines[index] = lines[index].replace(b'"', b"", draw(st.integers(1, 3)))
    data = header + b"".join(lines)
    style = draw(st.sampled_from(["as is", "as is", "bytes", "semicolon", "utf-16", "latin-1"]))
    if style == "bytes":
        return draw(damaged_bytes(data))
    if style == "semicolon":
        return data.replace(b",", b";")
    if style == "utf-16":
        return data.decode("utf-8").encode("utf-16")
    if style == "latin-1":
        return data.decode("utf-8").encode("latin-1", "replace")
    return data


def csv_exports() -> st.SearchStrategy[bytes]:
    """A window of a recorded website CSV export, damaged."""
    return st.sampled_from(CSV_FIXTURES).flatmap(damaged_csv)


def any_damaged_file() -> st.SearchStrategy[tuple[str, bytes]]:
    """(file name, bytes) of a damaged XML, ZIP or CSV recording, as an import would meet it."""
    return st.one_of(
        xml_documents().map(lambda data: ("damaged.xml", data)),
        zip_payloads().map(lambda data: ("damaged.zip", data)),
        csv_exports().map(lambda data: ("damaged.csv", data)),
    )
