"""The non-data bodies ENTSO-E sends: acknowledgements, the 401 page and the 429 ban page.

Shapes copied from real responses: the "No matching data" acknowledgement (bundled
``Acknowledgement_no_matching_data_*.xml``: tab-indented, ``acknowledgementdocument:7:0``,
Reason code 999, 16-character mRID), the ban page quoted in entsoe-apy #99
(``<html><body><p>Requester banned until '2025-11-25T10:01:55.545Z'.</p></body></html>``),
and ENTSO-E's own texts for refusals ("Provided time interval (...) is larger than maximum
allowed period 'P1Y' for 'ENERGY_PRICES:XML' export.", entsoe-py #350; "The number of
instances (365) exceeds the allowed maximum (100) for data item ENERGY_PRICES.", entsoe-py
#481). The 401 body was never captured; ours is a plain HTML page that never echoes the
token.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from gridvault.entsoe.catalog import Dataset

XML_TYPE = "text/xml"
ZIP_TYPE = "application/zip"
HTML_TYPE = "text/html;charset=UTF-8"

# Data item names and articles as ENTSO-E spells them in acknowledgements.
_ITEMS: dict[str, tuple[str, str]] = {
    "load_actual": ("ACTUAL_TOTAL_LOAD_R3", "6.1.A"),
    "load_forecast_day_ahead": ("DAY_AHEAD_TOTAL_LOAD_FORECAST_R3", "6.1.B"),
    "load_forecast_week_ahead": ("WEEK_AHEAD_TOTAL_LOAD_FORECAST_R3", "6.1.C"),
    "load_forecast_month_ahead": ("MONTH_AHEAD_TOTAL_LOAD_FORECAST_R3", "6.1.D"),
    "load_forecast_year_ahead": ("YEAR_AHEAD_TOTAL_LOAD_FORECAST_R3", "6.1.E"),
    "generation_actual_per_type": ("AGGREGATED_GENERATION_PER_TYPE_R3", "16.1.B&C"),
    "generation_actual_per_unit": ("ACTUAL_GENERATION_OUTPUT_PER_GENERATION_UNIT_R3", "16.1.A"),
    "generation_forecast_day_ahead": ("DAY_AHEAD_AGGREGATED_GENERATION_R3", "14.1.C"),
    "wind_solar_forecast_day_ahead": ("DAY_AHEAD_GENERATION_FORECAST_WIND_SOLAR_R3", "14.1.D"),
    "wind_solar_forecast_intraday": ("INTRADAY_GENERATION_FORECAST_WIND_SOLAR_R3", "14.1.D"),
    "wind_solar_forecast_current": ("CURRENT_GENERATION_FORECAST_WIND_SOLAR_R3", "14.1.D"),
    "installed_capacity_per_type": ("INSTALLED_GENERATION_CAPACITY_AGGREGATED_R3", "14.1.A"),
    "installed_capacity_per_unit": ("INSTALLED_GENERATION_CAPACITY_PER_UNIT_R3", "14.1.B"),
    "hydro_reservoir_filling": ("AGGREGATED_FILLING_RATE_OF_WATER_RESERVOIRS_R3", "16.1.D"),
    "day_ahead_prices": ("ENERGY_PRICES", "12.1.D"),
    "intraday_auction_prices": ("ENERGY_PRICES", "12.1.D"),
    "net_positions": ("IMPLICIT_ALLOCATIONS_NET_POSITIONS_R3", "12.1.E"),
    "physical_flows": ("PHYSICAL_FLOWS_R3", "12.1.G"),
    "scheduled_exchanges": ("SCHEDULED_COMMERCIAL_EXCHANGES_R3", "12.1.F"),
    "ntc_day_ahead": ("FORECASTED_TRANSFER_CAPACITIES_R3", "11.1.A"),
    "ntc_week_ahead": ("FORECASTED_TRANSFER_CAPACITIES_R3", "11.1.A"),
    "ntc_month_ahead": ("FORECASTED_TRANSFER_CAPACITIES_R3", "11.1.A"),
    "ntc_year_ahead": ("FORECASTED_TRANSFER_CAPACITIES_R3", "11.1.A"),
    "imbalance_prices": ("IMBALANCE_PRICES_R3", "17.1.G"),
    "imbalance_volumes": ("TOTAL_IMBALANCE_VOLUMES_R3", "17.1.H"),
    "current_balancing_state": ("CURRENT_BALANCING_STATE_R3", "12.3.A"),
    "balancing_energy_prices": ("PRICES_OF_ACTIVATED_BALANCING_ENERGY_R3", "17.1.F"),
    "contracted_reserves": ("AMOUNT_AND_PRICES_PAID_OF_BALANCING_RESERVES_R3", "17.1.B&C"),
    "outages_generation_units": ("UNAVAILABILITY_OF_GENERATION_UNITS", "15.1.A&B"),
    "outages_production_units": ("UNAVAILABILITY_OF_PRODUCTION_UNITS", "15.1.C&D"),
    "outages_transmission": ("UNAVAILABILITY_IN_TRANSMISSION_GRID", "10.1.A&B"),
    "outages_offshore_grid": ("UNAVAILABILITY_OF_OFFSHORE_GRID", "10.1.C"),
    "outages_consumption_units": ("AGGREGATED_UNAVAILABILITY_OF_CONSUMPTION_UNITS", "7.1.A&B"),
}

_ACK = """<?xml version="1.0" encoding="UTF-8"?>
<Acknowledgement_MarketDocument
\txmlns="urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0">
\t<mRID>{mrid}</mRID>
\t<createdDateTime>{created}</createdDateTime>
\t<sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</sender_MarketParticipant.mRID>
\t<sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>
\t<receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</receiver_MarketParticipant.mRID>
\t<receiver_MarketParticipant.marketRole.type>A39</receiver_MarketParticipant.marketRole.type>
\t<received_MarketDocument.createdDateTime>{created}</received_MarketDocument.createdDateTime>
\t<Reason>
\t\t<code>{code}</code>
\t\t<text>{text}</text>
\t</Reason>
</Acknowledgement_MarketDocument>"""


#: The refusal an ``ack`` fault sends (ENTSO-E answers server trouble with code 999 too; this
#: text is ours, the real ones are not recorded).
FAULT_ACK_TEXT = "Unexpected error occurred while processing the request. Please try again later."


def item_name(dataset: Dataset) -> str:
    """ENTSO-E's data item name (``ENERGY_PRICES``) for acknowledgement texts."""
    return _ITEMS.get(dataset.name, (dataset.name.upper(), ""))[0]


def item_label(dataset: Dataset) -> str:
    """``ENERGY_PRICES [12.1.D]``, as in "No matching data found for Data item …"."""
    name, article = _ITEMS.get(dataset.name, (dataset.name.upper(), ""))
    return f"{name} [{article}]" if article else name


def acknowledgement(text: str, *, code: str = "999", now: datetime | None = None) -> bytes:
    """An ``Acknowledgement_MarketDocument`` with one Reason."""
    created = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _ACK.format(
        mrid=str(uuid.uuid4())[:16], created=created, code=escape(code), text=escape(text)
    ).encode()


def no_data_text(dataset: Dataset, eics: list[str], start: datetime, end: datetime) -> str:
    """The real "No matching data" text: item, domain EICs, the interval asked for."""
    interval = f"{_iso_seconds(start)}/{_iso_seconds(end)}"
    return f"No matching data found for Data item {item_label(dataset)} ({', '.join(eics)}) and interval {interval}."


def window_text(dataset: Dataset, start: datetime, end: datetime) -> str:
    """ENTSO-E's text for a window longer than the item allows."""
    return (
        f"Provided time interval ({_iso_minutes(start)}[UTC] - {_iso_minutes(end)}[UTC]) is larger "
        f"than maximum allowed period '{dataset.window_limit}' for '{item_name(dataset)}:XML' export."
    )


def instances_text(dataset: Dataset, count: int, allowed: int) -> str:
    """ENTSO-E's text when a result holds more TimeSeries (ZIP: documents) than one page."""
    return (
        f"The number of instances ({count}) exceeds the allowed maximum ({allowed}) for data "
        f"item {item_name(dataset)}. Use the offset parameter or a shorter period."
    )


def unauthorized_body() -> bytes:
    """The 401 page (the token is never echoed)."""
    return (
        b"<html><head><title>401 Unauthorized</title></head><body><h1>Unauthorized</h1>"
        b"<p>Authentication failed: the securityToken is missing or not valid.</p></body></html>"
    )


def ban_body(until: datetime) -> bytes:
    """The 429 page since Nov 2025: UTC ISO time with milliseconds and ``Z``."""
    stamp = (
        until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{until.microsecond // 1000:03d}Z"
    )
    return f"<html><body><p>Requester banned until '{stamp}'.</p></body></html>".encode()


def _iso_seconds(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_minutes(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
