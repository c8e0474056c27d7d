"""The parser beyond the bundled shapes: every resolution, curve types, several measures,
namespaces, other document roots. Documents here are small hand-written ENTSO-E-style XML
(real structure, made-up values) so each rule is tested on its own."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gridvault.entsoe.parser import parse, parse_document
from gridvault.errors import ParseError

NS = "urn:iec62325.351:tc57wg16:451-6:balancingdocument:4:4"
NL = "10YNL----------L"
FI = "10YFI-1--------U"


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _points(points: list[tuple[int, str]], tag: str = "quantity") -> str:
    return "".join(
        f"<Point><position>{position}</position><{tag}>{value}</{tag}></Point>"
        for position, value in points
    )


def _period(start: str, end: str, resolution: str, points: str) -> str:
    return (
        f"<Period><timeInterval><start>{start}</start><end>{end}</end></timeInterval>"
        f"<resolution>{resolution}</resolution>{points}</Period>"
    )


def _document(
    series: str,
    *,
    root: str = "GL_MarketDocument",
    namespace: str | None = NS,
    doc_type: str = "A65",
    process: str | None = "A16",
    header: str = "",
) -> bytes:
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    process_xml = f"<process.processType>{process}</process.processType>" if process else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><{root}{xmlns}><mRID>doc-1</mRID>'
        f"<revisionNumber>2</revisionNumber><type>{doc_type}</type>{process_xml}"
        f"<createdDateTime>2024-09-01T10:00:00Z</createdDateTime>{header}{series}</{root}>"
    ).encode()


def _series(
    periods: str,
    *,
    curve: str | None = "A01",
    domain: str = f"<outBiddingZone_Domain.mRID codingScheme='A01'>{NL}</outBiddingZone_Domain.mRID>",
    unit: str = "<quantity_Measure_Unit.name>MAW</quantity_Measure_Unit.name>",
    extra: str = "",
) -> str:
    curve_xml = f"<curveType>{curve}</curveType>" if curve else ""
    return (
        f"<TimeSeries><mRID>1</mRID><businessType>A04</businessType>{extra}{domain}{unit}"
        f"{curve_xml}{periods}</TimeSeries>"
    )


def _rows(data: bytes) -> list[dict[str, Any]]:
    return list(parse(data).to_pylist())


def _starts_values(rows: list[dict[str, Any]]) -> list[tuple[datetime, datetime, float | None]]:
    return [(row["interval_start"], row["interval_end"], row["value"]) for row in rows]


# --------------------------------------------------------------------------------------
# Resolutions


@pytest.mark.parametrize(
    ("resolution", "step"),
    [
        ("PT4S", timedelta(seconds=4)),
        ("PT1M", timedelta(minutes=1)),
        ("PT5M", timedelta(minutes=5)),
        ("PT15M", timedelta(minutes=15)),
        ("PT30M", timedelta(minutes=30)),
        ("PT60M", timedelta(hours=1)),
        ("PT1H", timedelta(hours=1)),
    ],
)
def test_fixed_resolutions_step_in_utc(resolution: str, step: timedelta) -> None:
    start = _utc(2024, 3, 31)  # spans the spring DST change (01:00Z): irrelevant for UTC steps
    end = start + 8 * step
    period = _period(
        f"{start:%Y-%m-%dT%H:%M:%SZ}",
        f"{end:%Y-%m-%dT%H:%M:%SZ}",
        resolution,
        _points([(p, str(p * 10)) for p in range(1, 9)]),
    )
    rows = _rows(_document(_series(period)))
    assert _starts_values(rows) == [
        (start + i * step, start + (i + 1) * step, float((i + 1) * 10)) for i in range(8)
    ]
    assert {row["resolution"] for row in rows} == {resolution}


def test_pt4s_full_day_quickly() -> None:
    points = _points([(p, f"{p}.5") for p in range(1, 21_601)])
    period = _period("2025-01-01T00:00Z", "2025-01-02T00:00Z", "PT4S", points)
    rows = parse(_document(_series(period)))
    assert rows.num_rows == 21_600
    starts = rows.column("interval_start").to_pylist()
    assert starts[-1] == _utc(2025, 1, 1, 23, 59, second=56)
    assert rows.column("value")[21_599].as_py() == 21_600.5


@pytest.mark.parametrize(
    ("resolution", "start", "end", "expected"),
    [
        # P1M over the spring change: months start at local midnight (CET 23:00Z, CEST 22:00Z)
        (
            "P1M",
            "2024-01-31T23:00Z",
            "2024-05-31T22:00Z",
            [
                (_utc(2024, 1, 31, 23), _utc(2024, 2, 29, 23)),
                (_utc(2024, 2, 29, 23), _utc(2024, 3, 31, 22)),
                (_utc(2024, 3, 31, 22), _utc(2024, 4, 30, 22)),
                (_utc(2024, 4, 30, 22), _utc(2024, 5, 31, 22)),
            ],
        ),
        (
            "P3M",
            "2023-12-31T23:00Z",
            "2024-12-31T23:00Z",
            [
                (_utc(2023, 12, 31, 23), _utc(2024, 3, 31, 22)),
                (_utc(2024, 3, 31, 22), _utc(2024, 6, 30, 22)),
                (_utc(2024, 6, 30, 22), _utc(2024, 9, 30, 22)),
                (_utc(2024, 9, 30, 22), _utc(2024, 12, 31, 23)),
            ],
        ),
        (
            "P1Y",
            "2022-12-31T23:00Z",
            "2024-12-31T23:00Z",
            [
                (_utc(2022, 12, 31, 23), _utc(2023, 12, 31, 23)),
                (_utc(2023, 12, 31, 23), _utc(2024, 12, 31, 23)),
            ],
        ),
        # The autumn change: the day of 2024-10-27 has 25 hours.
        (
            "P1D",
            "2024-10-25T22:00Z",
            "2024-10-28T23:00Z",
            [
                (_utc(2024, 10, 25, 22), _utc(2024, 10, 26, 22)),
                (_utc(2024, 10, 26, 22), _utc(2024, 10, 27, 23)),
                (_utc(2024, 10, 27, 23), _utc(2024, 10, 28, 23)),
            ],
        ),
    ],
)
def test_calendar_resolutions_step_in_local_time(
    resolution: str, start: str, end: str, expected: list[tuple[datetime, datetime]]
) -> None:
    points = _points([(p, str(p)) for p in range(1, len(expected) + 1)])
    rows = _rows(_document(_series(_period(start, end, resolution, points))))
    assert [(row["interval_start"], row["interval_end"]) for row in rows] == expected


def test_calendar_resolution_uses_the_area_time_zone() -> None:
    # Finland is UTC+2: its days start at 22:00Z in winter; P1D steps follow Helsinki time.
    domain = f"<outBiddingZone_Domain.mRID>{FI}</outBiddingZone_Domain.mRID>"
    period = _period("2024-03-29T22:00Z", "2024-04-01T21:00Z", "P1D", _points([(1, "5")]))
    rows = _rows(_document(_series(period, curve="A03", domain=domain)))
    assert [(row["interval_start"], row["interval_end"]) for row in rows] == [
        (_utc(2024, 3, 29, 22), _utc(2024, 3, 30, 22)),
        (_utc(2024, 3, 30, 22), _utc(2024, 3, 31, 21)),
        (_utc(2024, 3, 31, 21), _utc(2024, 4, 1, 21)),
    ]


def test_unknown_area_falls_back_to_brussels_time() -> None:
    domain = "<outBiddingZone_Domain.mRID>10YXX-UNKNOWN--X</outBiddingZone_Domain.mRID>"
    period = _period("2024-03-29T23:00Z", "2024-03-31T22:00Z", "P1D", _points([(1, "1"), (2, "2")]))
    rows = _rows(_document(_series(period, domain=domain)))
    assert rows[1]["interval_end"] == _utc(2024, 3, 31, 22)


# --------------------------------------------------------------------------------------
# Curve types


def test_a01_gaps_stay_gaps_and_missing_curve_type_means_a01() -> None:
    period = _period(
        "2024-01-01T00:00Z", "2024-01-01T06:00Z", "PT60M", _points([(1, "1"), (2, "2"), (5, "5")])
    )
    for curve in ("A01", None):
        rows = _rows(_document(_series(period, curve=curve)))
        assert _starts_values(rows) == [
            (_utc(2024, 1, 1, 0), _utc(2024, 1, 1, 1), 1.0),
            (_utc(2024, 1, 1, 1), _utc(2024, 1, 1, 2), 2.0),
            (_utc(2024, 1, 1, 4), _utc(2024, 1, 1, 5), 5.0),
        ]
        assert {row["curve_type"] for row in rows} == {"A01"}


def test_a03_holds_until_next_position_or_period_end_never_across_periods() -> None:
    first = _period(
        "2024-01-01T00:00Z", "2024-01-01T04:00Z", "PT60M", _points([(2, "7"), (4, "9")])
    )
    second = _period("2024-01-01T06:00Z", "2024-01-01T08:00Z", "PT60M", _points([(1, "3")]))
    rows = _rows(_document(_series(first + second, curve="A03")))
    assert _starts_values(rows) == [
        # position 1 of the first Period is not given: no value before the first Point
        (_utc(2024, 1, 1, 1), _utc(2024, 1, 1, 2), 7.0),
        (_utc(2024, 1, 1, 2), _utc(2024, 1, 1, 3), 7.0),
        (_utc(2024, 1, 1, 3), _utc(2024, 1, 1, 4), 9.0),
        # 04:00-06:00 lies between the Periods: a gap, not filled
        (_utc(2024, 1, 1, 6), _utc(2024, 1, 1, 7), 3.0),
        (_utc(2024, 1, 1, 7), _utc(2024, 1, 1, 8), 3.0),
    ]


def test_a03_never_fills_across_timeseries() -> None:
    one = _series(
        _period("2024-01-01T00:00Z", "2024-01-01T02:00Z", "PT60M", _points([(1, "1")])), curve="A03"
    )
    two = _series(
        _period("2024-01-01T03:00Z", "2024-01-01T04:00Z", "PT60M", _points([(1, "2")])), curve="A03"
    )
    rows = _rows(_document(one + two))
    assert [row["interval_start"].hour for row in rows] == [0, 1, 3]


def test_points_out_of_order_are_sorted() -> None:
    period = _period(
        "2024-01-01T00:00Z", "2024-01-01T03:00Z", "PT60M", _points([(3, "3"), (1, "1"), (2, "2")])
    )
    rows = _rows(_document(_series(period, curve="A03")))
    assert [row["value"] for row in rows] == [1.0, 2.0, 3.0]


def test_period_not_a_multiple_of_the_step_ends_at_the_period_end() -> None:
    period = _period("2024-01-01T00:00Z", "2024-01-01T00:50Z", "PT15M", _points([(1, "1")]))
    rows = _rows(_document(_series(period, curve="A03")))
    assert rows[-1]["interval_end"] == _utc(2024, 1, 1, 0, 50)
    assert len(rows) == 4


def test_many_points_fast_path_equals_element_by_element() -> None:
    """Uniform Points use one XPath query; a Point with an extra child forces the slow path."""
    values = [(p, str(p)) for p in range(1, 25)]
    uniform = _period("2024-01-01T00:00Z", "2024-01-02T00:00Z", "PT60M", _points(values))
    odd = uniform.replace(
        "<Point><position>7</position><quantity>7</quantity></Point>",
        "<Point><position>7</position><quantity>7</quantity><extraCode>X</extraCode></Point>",
    )
    assert odd != uniform
    assert _rows(_document(_series(uniform))) == _rows(_document(_series(odd)))


# --------------------------------------------------------------------------------------
# Measures and units


def test_several_measures_per_point_with_units_and_categories() -> None:
    points = "".join(
        f"<Point><position>{p}</position><quantity>{p}</quantity>"
        f"<secondaryQuantity>{p * 2}</secondaryQuantity>"
        f"<procurement_Price.amount>{p}.5</procurement_Price.amount>"
        f"<imbalance_Price.category>{'A04' if p % 2 else 'A05'}</imbalance_Price.category></Point>"
        for p in range(1, 9)
    )
    period = _period("2024-01-01T00:00Z", "2024-01-01T02:00Z", "PT15M", points)
    unit = (
        "<currency_Unit.name>EUR</currency_Unit.name>"
        "<price_Measure_Unit.name>MWH</price_Measure_Unit.name>"
        "<quantity_Measure_Unit.name>MAW</quantity_Measure_Unit.name>"
    )
    rows = _rows(
        _document(_series(period, unit=unit), root="Balancing_MarketDocument", doc_type="A81")
    )
    by_measure: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_measure.setdefault(row["measure"], []).append(row)
    assert set(by_measure) == {"quantity", "secondary_quantity", "procurement_price"}
    assert {row["unit"] for row in by_measure["quantity"]} == {"MW"}
    assert {row["unit"] for row in by_measure["secondary_quantity"]} == {"MW"}
    assert {row["unit"] for row in by_measure["procurement_price"]} == {"EUR/MWh"}
    assert [row["value"] for row in by_measure["secondary_quantity"]] == [
        2.0 * p for p in range(1, 9)
    ]
    assert [row["category"] for row in by_measure["quantity"]] == ["A04", "A05"] * 4


def test_nested_amount_with_its_own_direction() -> None:
    points = "".join(
        f"<Point><position>{p}</position><imbalance_Price.amount>{p}</imbalance_Price.amount>"
        f"<Financial_Price><amount>{p * 3}</amount><direction>A02</direction></Financial_Price>"
        "</Point>"
        for p in range(1, 3)
    )
    period = _period("2024-01-01T00:00Z", "2024-01-01T00:30Z", "PT15M", points)
    unit = "<currency_Unit.name>EUR</currency_Unit.name><price_Measure_Unit.name>MWH</price_Measure_Unit.name>"
    rows = _rows(
        _document(_series(period, unit=unit), root="Balancing_MarketDocument", doc_type="A85")
    )
    financial = [row for row in rows if row["measure"] == "financial_price"]
    assert [(row["value"], row["direction"], row["unit"]) for row in financial] == [
        (3.0, "A02", "EUR/MWh"),
        (6.0, "A02", "EUR/MWh"),
    ]
    assert {row["direction"] for row in rows if row["measure"] == "imbalance_price"} == {None}


def test_empty_quantity_is_a_null_value() -> None:
    points = "<Point><position>1</position><quantity></quantity></Point>" + _points([(2, "4")])
    period = _period("2024-01-01T00:00Z", "2024-01-01T02:00Z", "PT60M", points)
    rows = _rows(_document(_series(period)))
    assert [row["value"] for row in rows] == [None, 4.0]


def test_unknown_unit_code_is_kept() -> None:
    period = _period("2024-01-01T00:00Z", "2024-01-01T01:00Z", "PT60M", _points([(1, "1")]))
    unit = "<quantity_Measure_Unit.name>XYZ</quantity_Measure_Unit.name>"
    assert _rows(_document(_series(period, unit=unit)))[0]["unit"] == "XYZ"


def test_hydro_reservoir_energy_unit() -> None:
    period = _period(
        "2023-12-31T23:00Z", "2024-01-14T23:00Z", "P7D", _points([(1, "100"), (2, "90")])
    )
    unit = "<quantity_Measure_Unit.name>MWH</quantity_Measure_Unit.name>"
    domain = f"<inBiddingZone_Domain.mRID>{NL}</inBiddingZone_Domain.mRID>"
    rows = _rows(
        _document(_series(period, unit=unit, domain=domain), doc_type="A72", process="A16")
    )
    assert [(row["interval_start"], row["unit"]) for row in rows] == [
        (_utc(2023, 12, 31, 23), "MWh"),
        (_utc(2024, 1, 7, 23), "MWh"),
    ]


# --------------------------------------------------------------------------------------
# Namespaces and roots


def test_namespace_agnostic_prefixed_and_absent() -> None:
    period = _period(
        "2024-01-01T00:00Z",
        "2024-01-01T02:00Z",
        "PT60M",
        _points([(p, str(p)) for p in range(1, 3)]),
    )
    plain = _document(_series(period), namespace=None)
    other = _document(_series(period), namespace="urn:example:future:9:9")
    prefixed = re.sub(r"<(/?)([A-Za-z])", r"<\1g:\2", plain.decode()).replace(
        "<g:GL_MarketDocument>", '<g:GL_MarketDocument xmlns:g="urn:example:prefixed">'
    )
    expected = _starts_values(_rows(plain))
    assert len(expected) == 2
    assert _starts_values(_rows(other)) == expected
    assert _starts_values(_rows(prefixed.encode())) == expected


def test_other_market_document_roots_are_read_generically() -> None:
    series = _series(
        _period("2016-01-04T23:00Z", "2016-01-05T00:00Z", "PT60M", _points([(1, "500")])),
        domain=(
            "<in_Domain.mRID>10YCZ-CEPS-----N</in_Domain.mRID>"
            "<out_Domain.mRID>10YDE-VE-------2</out_Domain.mRID>"
        ),
        extra=(
            "<Asset_RegisteredResource><mRID>27T-PST-HRA-DE-X</mRID>"
            "<pSRType.psrType>B24</pSRType.psrType><location.name>CZ</location.name>"
            "</Asset_RegisteredResource>"
        ),
    )
    rows = _rows(
        _document(series, root="TransmissionNetwork_MarketDocument", doc_type="A90", process="A35")
    )
    assert len(rows) == 1
    row = rows[0]
    assert row["dataset"] is None  # not in the catalog: rows without a dataset, no failure
    assert (row["resource"], row["psr_type"], row["value"]) == ("27T-PST-HRA-DE-X", "B24", 500.0)
    assert (row["in_domain"], row["out_domain"], row["area"]) == (
        "10YCZ-CEPS-----N",
        "10YDE-VE-------2",
        "10YDE-VE-------2",
    )


def test_other_root_without_periods_is_refused() -> None:
    config = _document(
        "<TimeSeries><mRID>1</mRID><businessType>B11</businessType></TimeSeries>",
        root="Configuration_MarketDocument",
        doc_type="A95",
    )
    with pytest.raises(ParseError, match=r"Configuration_MarketDocument.*no Period"):
        parse(config)


def test_known_root_without_timeseries_is_empty() -> None:
    result = parse_document(_document(""))
    assert result.kind == "values"
    assert result.values.num_rows == 0


def test_document_level_area_domain() -> None:
    header = f"<area_Domain.mRID codingScheme='A01'>{NL}</area_Domain.mRID>"
    period = _period("2024-01-01T00:00Z", "2024-01-01T01:00Z", "PT60M", _points([(1, "1")]))
    rows = _rows(
        _document(
            _series(period, domain=""),
            root="Balancing_MarketDocument",
            doc_type="A86",
            header=header,
        )
    )
    assert rows[0]["area"] == NL


# --------------------------------------------------------------------------------------
# Outage documents


def _outage(series: str, reason: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Unavailability_MarketDocument '
        'xmlns="urn:iec62325.351:tc57wg16:451-6:outagedocument:3:0"><mRID>o-1</mRID>'
        "<revisionNumber>4</revisionNumber><type>A79</type>"
        "<process.processType>A26</process.processType>"
        "<createdDateTime>2024-01-01T00:00:00Z</createdDateTime>"
        "<docStatus><value>A05</value></docStatus>"
        "<unavailability_Time_Period.timeInterval><start>2024-01-01T00:00Z</start>"
        "<end>2024-01-01T06:00Z</end></unavailability_Time_Period.timeInterval>"
        f"{series}{reason}</Unavailability_MarketDocument>"
    ).encode()


def _outage_series(periods: str, *, curve: str = "A03", reason: str = "") -> str:
    return (
        "<TimeSeries><mRID>7</mRID><businessType>A54</businessType>"
        "<in_Domain.mRID>10YDE-EON------1</in_Domain.mRID>"
        "<out_Domain.mRID>10YDE-EON------1</out_Domain.mRID>"
        "<quantity_Measure_Unit.name>MAW</quantity_Measure_Unit.name>"
        f"<curveType>{curve}</curveType>"
        "<Asset_RegisteredResource><mRID>45W000000000001X</mRID><name>Offshore link</name>"
        "<asset_PSRType.psrType>B22</asset_PSRType.psrType><location.name>North Sea</location.name>"
        f"</Asset_RegisteredResource>{periods}{reason}</TimeSeries>"
    )


def test_offshore_outage_reads_wind_power_feedin_periods() -> None:
    periods = (
        "<WindPowerFeedin_Period><timeInterval><start>2024-01-01T00:00Z</start>"
        "<end>2024-01-01T06:00Z</end></timeInterval><resolution>PT60M</resolution>"
        + _points([(1, "100"), (4, "250")])
        + "</WindPowerFeedin_Period>"
    )
    result = parse_document(_outage(_outage_series(periods), "<Reason><code>B18</code></Reason>"))
    assert result.kind == "outages"
    rows = result.outages.to_pylist()
    assert [(r["interval_start"], r["interval_end"], r["available_capacity"]) for r in rows] == [
        (_utc(2024, 1, 1, 0), _utc(2024, 1, 1, 3), 100.0),
        (_utc(2024, 1, 1, 3), _utc(2024, 1, 1, 6), 250.0),
    ]
    row = rows[0]
    assert (row["resource"], row["resource_name"], row["psr_type"]) == (
        "45W000000000001X",
        "Offshore link",
        "B22",
    )
    assert row["resource_location"] == "North Sea"
    assert (row["doc_status"], row["revision_number"], row["timeseries_mrid"]) == ("A05", 4, "7")
    # No start/end_DateAndOrTime in the series: the document's unavailability interval.
    assert (row["event_start"], row["event_end"]) == (_utc(2024, 1, 1, 0), _utc(2024, 1, 1, 6))
    assert (row["reason_code"], row["reason_text"]) == ("B18", None)  # document-level Reason


def test_available_period_wins_over_feed_in_and_series_reason_over_document() -> None:
    available = (
        "<Available_Period><timeInterval><start>2024-01-01T00:00Z</start>"
        "<end>2024-01-01T02:00Z</end></timeInterval><resolution>PT60M</resolution>"
        + _points([(1, "10"), (2, "20")])
        + "</Available_Period>"
    )
    feed_in = available.replace("Available_Period", "WindPowerFeedin_Period").replace(
        "<quantity>10<", "<quantity>999<"
    )
    reasons = (
        "<Reason><code>B19</code><text>Works</text></Reason>"
        "<Reason><code>B20</code><text> second\n line </text></Reason>"
    )
    series = _outage_series(available + feed_in, curve="A01", reason=reasons)
    rows = parse_document(_outage(series, "<Reason><code>A95</code></Reason>")).outages.to_pylist()
    assert [
        (r["interval_start"].hour, r["interval_end"].hour, r["available_capacity"]) for r in rows
    ] == [
        (0, 1, 10.0),
        (1, 2, 20.0),
    ]
    assert {(r["reason_code"], r["reason_text"]) for r in rows} == {
        ("B19,B20", "Works; second line")
    }
