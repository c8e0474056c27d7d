"""The Arrow schemas every ENTSO-E reader produces.

The XML parser, the CSV-export reader and the import pipeline all speak these two shapes:
one row per value (:data:`VALUE_SCHEMA`) and one row per outage availability interval
(:data:`OUTAGE_SCHEMA`). Columns that a document does not have are null.
"""

from __future__ import annotations

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")

#: Series dimensions (besides dataset/area) that tell series of one dataset apart.
DIMENSION_COLUMNS: tuple[str, ...] = (
    "document_type",
    "process_type",
    "business_type",
    "in_domain",
    "out_domain",
    "psr_type",
    "sequence",
    "contract_type",
    "auction_type",
    "direction",
    "category",
    "resource",
    "measure",
)

VALUE_SCHEMA = pa.schema(
    [
        pa.field("interval_start", UTC_TS, nullable=False),
        pa.field("interval_end", UTC_TS, nullable=False),
        pa.field("value", pa.float64()),
        # Which quantity of the Point: quantity, price, imbalance_price, activation_price,
        # procurement_price, secondary_quantity, ...
        pa.field("measure", pa.string(), nullable=False),
        pa.field("dataset", pa.string()),
        pa.field("document_type", pa.string()),
        pa.field("process_type", pa.string()),
        pa.field("business_type", pa.string()),
        pa.field("resolution", pa.string()),
        # Readable unit: MW, MWh, EUR/MWh, ...
        pa.field("unit", pa.string()),
        pa.field("curve_type", pa.string()),
        # EIC of the single domain of the series (bidding zone, control area, ...).
        pa.field("area", pa.string()),
        pa.field("in_domain", pa.string()),
        pa.field("out_domain", pa.string()),
        pa.field("psr_type", pa.string()),
        pa.field("sequence", pa.string()),
        pa.field("contract_type", pa.string()),
        pa.field("auction_type", pa.string()),
        pa.field("direction", pa.string()),
        pa.field("category", pa.string()),
        pa.field("resource", pa.string()),
        pa.field("resource_name", pa.string()),
        pa.field("document_mrid", pa.string()),
        pa.field("revision_number", pa.int32()),
        pa.field("created_at", UTC_TS),
        # createdDateTime for forecasts and auctions; null for actuals.
        pa.field("publish_time", UTC_TS),
    ]
)

OUTAGE_SCHEMA = pa.schema(
    [
        pa.field("dataset", pa.string()),
        pa.field("document_type", pa.string()),
        pa.field("process_type", pa.string()),
        pa.field("business_type", pa.string()),  # A53 planned, A54 forced
        pa.field("doc_status", pa.string()),  # A05 active, A09 cancelled, A13 withdrawn
        pa.field("document_mrid", pa.string(), nullable=False),
        pa.field("revision_number", pa.int32(), nullable=False),
        pa.field("created_at", UTC_TS),
        pa.field("timeseries_mrid", pa.string(), nullable=False),
        pa.field("area", pa.string()),
        pa.field("in_domain", pa.string()),
        pa.field("out_domain", pa.string()),
        pa.field("resource", pa.string()),
        pa.field("resource_name", pa.string()),
        pa.field("resource_location", pa.string()),
        pa.field("psr_type", pa.string()),
        pa.field("nominal_power", pa.float64()),
        pa.field("unit", pa.string()),
        pa.field("event_start", UTC_TS),
        pa.field("event_end", UTC_TS),
        pa.field("interval_start", UTC_TS, nullable=False),
        pa.field("interval_end", UTC_TS, nullable=False),
        pa.field("available_capacity", pa.float64()),
        pa.field("reason_code", pa.string()),
        pa.field("reason_text", pa.string()),
    ]
)
