"""Reader for the CSV exports of the Transparency Platform *website*.

Before an API token, most people get ENTSO-E data by clicking "Export data" on
transparency.entsoe.eu. Those files look like this (quoted or unquoted, both exist)::

    "Time (CET/CEST)","Day-ahead Total Load Forecast [MW] - BZN|FI","Actual Total Load [M…
    "01.01.2019 00:00 - 01.01.2019 01:00","10018","10467"

    "MTU (CET/CEST)","Day-ahead Price [EUR/MWh]","Currency","BZN|FI"
    "01.01.2019 00:00 - 01.01.2019 01:00","28.32","EUR"

:func:`read_csv_export` turns one into :data:`~gridvault.entsoe.schema.VALUE_SCHEMA` rows
filled like the XML parser fills them for the same data (a load export gives two series,
``load_forecast_day_ahead`` and ``load_actual``; a price export ``day_ahead_prices``), so
history imported from files and data fetched from the API land in the same series.

Quirks handled, and the choices made:

* Interval labels are wall-clock times of the zone named in the first header
  (``CET/CEST`` = ``Europe/Brussels``), *whatever the area*: a Finnish file is in CET, not
  in Finnish time. Everything is converted to UTC.
* The spring-forward hour that does not exist locally is still listed, with empty values
  (``"31.03.2019 02:00 - 31.03.2019 03:00","",""``). It is not data: the row is dropped. A
  number in such a row means the file is not in the zone its header says: ParseError.
* The autumn hour is listed twice with the same label: the first occurrence is summer
  time, the second winter time (also for 15-minute files, where the repeats interleave).
* Missing values: ``""`` and ``N/A`` are kept as rows with a null value (the interval
  exists, the value is missing: a gap the store should see). ``-`` means "not yet
  published" (a file exported before the end of its period ends in ``-``) and ``n/e`` "not
  expected": those values are dropped, since keeping them would invent future gaps.
* Price exports have a fourth header (``BZN|FI``) naming the area, with no values under it.
* Anything else malformed raises :class:`~gridvault.errors.ParseError` naming the file and
  the line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from gridvault.entsoe.areas import lookup_area
from gridvault.entsoe.catalog import Dataset, get_dataset
from gridvault.entsoe.schema import UTC_TS, VALUE_SCHEMA
from gridvault.errors import InputError, ParseError
from gridvault.timegrid import parse_resolution, zone

#: Time-zone labels of the website's first header, as IANA zones.
_ZONES = {
    "CET/CEST": "Europe/Brussels",
    "UTC": "UTC",
    "WET/WEST": "Europe/Lisbon",
    "EET/EEST": "Europe/Athens",
}

#: Value column title (before `` [unit]``) -> dataset, measure, businessType of the documents.
_COLUMNS = {
    "Actual Total Load": ("load_actual", "quantity", "A04"),
    "Day-ahead Total Load Forecast": ("load_forecast_day_ahead", "quantity", "A04"),
    "Day-ahead Price": ("day_ahead_prices", "price", "A62"),
}
_IGNORED_COLUMNS = {"Currency"}

_TIME_HEADER = re.compile(r"^(?:Time|MTU) \((?P<zone>[^)]+)\)$")
_VALUE_HEADER = re.compile(r"^(?P<title>.+?) \[(?P<unit>[^\]]+)\](?: - (?P<area>\w+\|.+))?$")
_AREA_HEADER = re.compile(r"^(?:BZN|CTA|MBA|BZA|IBA|IPA|SCA)\|(?P<name>.+)$")
_LABEL = re.compile(
    r"^(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2}) - (\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2})$"
)
_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - naive on purpose: wall-clock arithmetic
_SECOND = timedelta(seconds=1)
_NULL_TOKENS = frozenset({"", "N/A"})
_DROP_TOKENS = frozenset({"-", "n/e"})


@dataclass(frozen=True)
class _Column:
    index: int
    dataset: Dataset
    measure: str
    business_type: str
    unit: str
    area_eic: str

    def constants(self) -> dict[str, str | None]:
        """The VALUE_SCHEMA columns that are the same for every value of this column."""
        return {
            "measure": self.measure,
            "dataset": self.dataset.name,
            "document_type": self.dataset.document_type,
            "process_type": self.dataset.process_type,
            "business_type": self.business_type,
            "unit": self.unit,
            "area": self.area_eic,
        }


@dataclass(frozen=True)
class _Interval:
    line: int
    start: int  # UTC, seconds since the epoch
    fields: list[str]


def read_csv_export(data: bytes, name: str = "<csv>") -> pa.Table:
    """Read one website CSV export into VALUE_SCHEMA rows (one row per value, UTC)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text ({exc.reason})", source_name=name) from None
    if "\x00" in text:
        # Never text: UTF-16 without a byte-order mark, or a binary file (and PostgreSQL
        # refuses NUL in text, so a header holding one could not even be stored).
        raise ParseError("holds NUL bytes: not a text file", source_name=name)
    rows = _split_lines(csv.reader(io.StringIO(text)), name)
    header = next(rows, None)
    if not header or not any(field.strip() for field in header):
        raise ParseError("empty file: no header line", source_name=name)
    tz, columns = _read_header([field.strip() for field in header], name)
    intervals, minutes = _read_intervals(rows, tz, len(header), name)
    resolution = parse_resolution(f"PT{minutes}M") if minutes else None
    return _to_table(intervals, columns, resolution.iso if resolution else None, name)


def _split_lines(reader: Any, name: str) -> Iterator[list[str]]:
    """The reader's rows; a line the csv module refuses (a field over its size limit) is a
    ParseError naming the line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ParseError(f"line {reader.line_num}: {exc}", source_name=name) from None
        yield row


def _read_header(header: list[str], name: str) -> tuple[ZoneInfo, list[_Column]]:
    match = _TIME_HEADER.match(header[0])
    if match is None or match["zone"] not in _ZONES:
        raise ParseError(
            f"line 1: first column {header[0]!r} is not 'Time (CET/CEST)' or 'MTU (...)' "
            f"with a known zone ({', '.join(_ZONES)})",
            source_name=name,
        )
    tz = zone(_ZONES[match["zone"]])
    # Price exports name the area in a column of its own ("BZN|FI") instead of a suffix.
    area_columns = [field for field in header[1:] if _AREA_HEADER.match(field)]
    columns: list[_Column] = []
    for index, field in enumerate(header[1:], start=1):
        if field in _IGNORED_COLUMNS or _AREA_HEADER.match(field):
            continue
        value = _VALUE_HEADER.match(field)
        known = _COLUMNS.get(value["title"]) if value else None
        if value is None or known is None:
            raise ParseError(f"line 1: unsupported column {field!r}", source_name=name)
        area_label = value["area"] or (area_columns[0] if area_columns else None)
        if area_label is None:
            raise ParseError(f"line 1: no area in the header for {field!r}", source_name=name)
        dataset_name, measure, business_type = known
        columns.append(
            _Column(
                index=index,
                dataset=get_dataset(dataset_name),
                measure=measure,
                business_type=business_type,
                unit=value["unit"],
                area_eic=_area_eic(area_label, name),
            )
        )
    if not columns:
        raise ParseError("line 1: no value column in the header", source_name=name)
    return tz, columns


def _area_eic(label: str, name: str) -> str:
    """EIC of a website area label: ``BZN|FI``, ``BZN|DE-LU``, ``BZN|DK1``, ``BZN|NO5``."""
    short = label.split("|", 1)[1]
    # The website writes DK1/NO5/SE3 where entsoe-py writes DK_1/NO_5/SE_3.
    for candidate in (short, re.sub(r"(?<=[A-Za-z])(?=\d+$)", "_", short)):
        try:
            return lookup_area(candidate).eic
        except InputError:
            continue
    raise ParseError(f"line 1: unknown area {label!r} in the header", source_name=name)


def _read_intervals(
    rows: Iterator[list[str]], tz: ZoneInfo, width: int, name: str
) -> tuple[list[_Interval], int | None]:
    """Rows with their UTC interval start; DST gap rows dropped, repeated hours resolved."""
    intervals: list[_Interval] = []
    seen_ambiguous: dict[datetime, int] = {}
    day_offsets: dict[date, timedelta | None] = {}
    minutes: int | None = None
    for line, row in enumerate(rows, start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) > width:
            raise ParseError(
                f"line {line}: {len(row)} fields where the header has {width}", source_name=name
            )
        label = _LABEL.match(row[0].strip())
        if label is None:
            raise ParseError(f"line {line}: cannot read interval {row[0]!r}", source_name=name)
        day, month, year, hour, minute, *end_parts = (int(part) for part in label.groups())
        try:
            local = datetime(year, month, day, hour, minute)  # noqa: DTZ001 - wall clock of tz
            local_end = datetime(*_ymdhm(end_parts))  # noqa: DTZ001 - wall clock of tz
        except ValueError:
            raise ParseError(f"line {line}: no such date in {row[0]!r}", source_name=name) from None
        length = int((local_end - local).total_seconds()) // 60
        if minutes is None:
            minutes = length
        if length <= 0 or length != minutes or length >= 24 * 60:
            raise ParseError(
                f"line {line}: interval {row[0]!r} is not {minutes} minutes long",
                source_name=name,
            )
        local_day = local.date()
        if local_day not in day_offsets:
            day_offsets[local_day] = _fixed_offset(local_day, tz)
        offset = day_offsets[local_day]
        try:
            if offset is not None:
                start: int | None = (local - offset - _EPOCH) // _SECOND
            else:
                start = _local_to_utc(local, tz, seen_ambiguous)
        except OverflowError:  # 01.01.0001 00:00 CET is before the first datetime
            raise ParseError(
                f"line {line}: date out of range in {row[0]!r}", source_name=name
            ) from None
        if start is None:
            # The spring-forward hour: listed by the website, but it does not exist.
            if any(field.strip() not in _NULL_TOKENS for field in row[1:]):
                raise ParseError(
                    f"line {line}: values for {row[0]!r}, a time that does not exist in {tz.key}",
                    source_name=name,
                )
            continue
        intervals.append(_Interval(line, start, row))
    _check_unique(intervals, name)
    return intervals, minutes


def _ymdhm(parts: list[int]) -> tuple[int, int, int, int, int]:
    day, month, year, hour, minute = parts
    return year, month, day, hour, minute


def _fixed_offset(day: date, tz: ZoneInfo) -> timedelta | None:
    """The UTC offset of a whole local day, or None on a day with a clock change.

    Only the two clock-change days of a year need the careful per-row conversion.
    """
    offsets = {
        moment.replace(fold=fold).utcoffset()
        for moment in (datetime.combine(day, time(0), tz), datetime.combine(day, time.max, tz))
        for fold in (0, 1)
    }
    return offsets.pop() if len(offsets) == 1 else None


def _local_to_utc(local: datetime, tz: ZoneInfo, seen_ambiguous: dict[datetime, int]) -> int | None:
    """Epoch seconds of a wall-clock time; None when it does not exist (spring forward).

    An ambiguous time (autumn) is summer time the first time it is seen, winter time after.
    """
    first = local.replace(tzinfo=tz)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
        return None  # in the spring-forward gap (zoneinfo would still give it an offset)
    second = local.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return int(first.timestamp())
    count = seen_ambiguous.get(local, 0) + 1
    seen_ambiguous[local] = count
    return int((first if count == 1 else second).timestamp())


def _check_unique(intervals: list[_Interval], name: str) -> None:
    seen: dict[int, int] = {}
    for interval in intervals:
        if interval.start in seen:
            raise ParseError(
                f"line {interval.line}: interval repeats line {seen[interval.start]}",
                source_name=name,
            )
        seen[interval.start] = interval.line


def _timestamps(seconds: pa.Array) -> pa.Array:
    return pc.multiply(seconds, 1_000_000).cast(UTC_TS)


def _number(token: str, line: int, name: str) -> float:
    try:
        return float(token)
    except ValueError:
        raise ParseError(f"line {line}: not a number: {token!r}", source_name=name) from None


def _to_table(
    intervals: list[_Interval], columns: list[_Column], resolution: str | None, name: str
) -> pa.Table:
    step = parse_resolution(resolution).seconds if resolution else 0
    starts: list[int] = []
    values: list[float | None] = []
    constants: dict[str, list[str | None]] = {}
    for column in columns:
        before = len(starts)
        for interval in intervals:
            fields = interval.fields
            token = fields[column.index].strip() if column.index < len(fields) else ""
            if token in _DROP_TOKENS:
                continue
            values.append(None if token in _NULL_TOKENS else _number(token, interval.line, name))
            starts.append(interval.start)
        for key, value in column.constants().items():
            constants.setdefault(key, []).extend([value] * (len(starts) - before))
    size = len(starts)
    # Epoch integers: much cheaper to build and convert than datetime objects.
    start_seconds = pa.array(starts, pa.int64())
    arrays = {
        "interval_start": _timestamps(start_seconds),
        "interval_end": _timestamps(pc.add(start_seconds, step)),
        "value": pa.array(values, pa.float64()),
        "resolution": pa.array([resolution] * size, pa.string()),
        "document_mrid": pa.array([f"csv:{name}"] * size, pa.string()),
        **{key: pa.array(column, pa.string()) for key, column in constants.items()},
    }
    return pa.table(
        [arrays.get(field.name, pa.nulls(size, field.type)) for field in VALUE_SCHEMA],
        schema=VALUE_SCHEMA,
    )
