"""Which TimeSeries a synthetic document of each catalog dataset holds, and their fields.

Field names, order and codes are copied from the bundled real documents of each family
(``gridvault.demo.ENTSOE_DIR``): GL (load, generation, capacities), Publication (prices,
flows, exchanges, NTC, net positions) and Balancing documents. Each :class:`Series` is one
TimeSeries "kind" of a dataset (a production type, min/max, a contract type, an auction
sequence, a flow direction); the layout module repeats it per day or per contiguous run.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridvault.emulator.profiles import seed_of
from gridvault.entsoe.areas import Area
from gridvault.entsoe.catalog import Dataset


@dataclass(frozen=True)
class Measure:
    """One value element of a Point (``quantity``, ``price.amount``, …) and how to make it."""

    element: str
    profile: str
    scale: float = 1.0


@dataclass(frozen=True)
class Series:
    """One kind of TimeSeries: its XML fields between ``mRID`` and ``curveType``."""

    key: str
    fields: str
    measures: tuple[Measure, ...]
    category: bool = False  # imbalance_Price.category in every Point
    trailer: str = ""  # fields after curveType (MktPSRType), as real documents order them


@dataclass(frozen=True)
class Family:
    """Root element and header layout of a document family."""

    root: str
    namespace: str
    interval_tag: str
    process_in_header: bool
    area_in_header: bool


GL = Family(
    "GL_MarketDocument",
    "urn:iec62325.351:tc57wg16:451-6:generationloaddocument:3:0",
    "time_Period.timeInterval",
    process_in_header=True,
    area_in_header=False,
)
PUBLICATION = Family(
    "Publication_MarketDocument",
    "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:0",
    "period.timeInterval",
    process_in_header=False,
    area_in_header=False,
)
PRICES = Family(
    "Publication_MarketDocument",
    "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3",
    "period.timeInterval",
    process_in_header=False,
    area_in_header=False,
)
BALANCING = Family(
    "Balancing_MarketDocument",
    "urn:iec62325.351:tc57wg16:451-6:balancingdocument:4:4",
    "period.timeInterval",
    process_in_header=True,
    area_in_header=True,
)

_MAW = "<quantity_Measure_Unit.name>MAW</quantity_Measure_Unit.name>"
_MWH = "<quantity_Measure_Unit.name>MWH</quantity_Measure_Unit.name>"
_EUR_MWH = "<currency_Unit.name>EUR</currency_Unit.name><price_Measure_Unit.name>MWH</price_Measure_Unit.name>"
_QUANTITY = "quantity"


def _dom(name: str, eic: str) -> str:
    return f'<{name}.mRID codingScheme="A01">{eic}</{name}.mRID>'


def _el(name: str, value: str) -> str:
    return f"<{name}>{value}</{name}>"


def _psr(code: str, resource: tuple[str, str] | None = None) -> str:
    if resource is None:
        return f"<MktPSRType><psrType>{code}</psrType></MktPSRType>"
    eic, name = resource
    return (
        f"<MktPSRType><psrType>{code}</psrType><PowerSystemResources>"
        f'<mRID codingScheme="A01">{eic}</mRID><name>{name}</name>'
        "</PowerSystemResources></MktPSRType>"
    )


# (psrType, profile) of the production types synthetic generation documents carry.
_GENERATION_TYPES = (
    ("B01", "flat"),  # biomass
    ("B04", "generation"),  # fossil gas
    ("B14", "flat"),  # nuclear
    ("B16", "solar"),
    ("B19", "wind_onshore"),
)
_CAPACITY_TYPES = ("B01", "B04", "B14", "B16", "B18", "B19")
_WIND_SOLAR = (
    ("B16", "A94", "solar"),
    ("B18", "A93", "wind_offshore"),
    ("B19", "A93", "wind_onshore"),
)


def family(dataset: Dataset) -> Family:
    """The document family (root, namespace, header layout) of a dataset."""
    if dataset.document_type == "A44":
        return PRICES
    if dataset.document_type in ("A09", "A11", "A25", "A61"):
        return PUBLICATION
    if dataset.kind == "balancing":
        return BALANCING
    return GL


def units(area: Area) -> tuple[tuple[str, str, str], ...]:
    """Three made-up generation units of an area: (EIC, name, psrType)."""
    return tuple(
        (
            f"48W{seed_of(area.eic, 'unit', index) % 10**13:013d}",
            f"Synthetic {area.code} {index}",
            psr,
        )
        for index, psr in enumerate(("B14", "B04", "B05"), start=1)
    )


def series_for(dataset: Dataset, area: Area, area_to: Area | None) -> tuple[Series, ...]:
    """The TimeSeries kinds of one synthetic document of ``dataset`` for ``area``."""
    eic = area.eic
    name = dataset.name
    key = f"{name}:{eic}:{area_to.eic if area_to else ''}"
    quantity = (Measure(_QUANTITY, "load"),)
    if name in ("load_actual", "load_forecast_day_ahead"):
        fields = _el("businessType", "A04") + _el("objectAggregation", "A01")
        return (Series(key, fields + _dom("outBiddingZone_Domain", eic) + _MAW, quantity),)
    if name.startswith("load_forecast_"):
        return tuple(
            Series(
                f"{key}:{business}",
                _el("businessType", business)
                + _el("objectAggregation", "A01")
                + _dom("outBiddingZone_Domain", eic)
                + _MAW,
                (Measure(_QUANTITY, "load", scale),),
            )
            for business, scale in (("A60", 0.8), ("A61", 1.2))
        )
    if name == "generation_actual_per_type":
        return tuple(
            Series(
                f"{key}:{psr}",
                _el("businessType", "A01")
                + _el("objectAggregation", "A08")
                + _dom("inBiddingZone_Domain", eic)
                + _MAW,
                (Measure(_QUANTITY, profile, 0.4),),
                trailer=_psr(psr),
            )
            for psr, profile in _GENERATION_TYPES
        )
    if name in ("generation_actual_per_unit", "installed_capacity_per_unit"):
        business = "A01" if name == "generation_actual_per_unit" else "A37"
        return tuple(
            Series(
                f"{key}:{unit_eic}",
                _el("businessType", business)
                + _el("objectAggregation", "A06")
                + _dom("inBiddingZone_Domain", eic)
                + _dom("registeredResource", unit_eic)
                + _MAW,
                (Measure(_QUANTITY, "flat", 0.5),),
                trailer=_psr(psr_code, (unit_eic, unit_name)),
            )
            for unit_eic, unit_name, psr_code in units(area)
        )
    if name == "generation_forecast_day_ahead":
        fields = _el("businessType", "A01") + _el("objectAggregation", "A01")
        return (
            Series(
                key,
                fields + _dom("inBiddingZone_Domain", eic) + _MAW,
                (Measure(_QUANTITY, "generation"),),
            ),
        )
    if name.startswith("wind_solar_forecast_"):
        return tuple(
            Series(
                f"{key}:{psr}",
                _el("businessType", business)
                + _el("objectAggregation", "A08")
                + _dom("inBiddingZone_Domain", eic)
                + _MAW,
                (Measure(_QUANTITY, profile),),
                trailer=_psr(psr),
            )
            for psr, business, profile in _WIND_SOLAR
        )
    if name == "installed_capacity_per_type":
        return tuple(
            Series(
                f"{key}:{psr}",
                _el("businessType", "A37")
                + _el("objectAggregation", "A08")
                + _dom("inBiddingZone_Domain", eic)
                + _MAW,
                (Measure(_QUANTITY, "flat", 2.0),),
                trailer=_psr(psr),
            )
            for psr in _CAPACITY_TYPES
        )
    if name == "hydro_reservoir_filling":
        fields = _el("businessType", "A01") + _el("objectAggregation", "A01")
        return (
            Series(
                key,
                fields + _dom("inBiddingZone_Domain", eic) + _MWH,
                (Measure(_QUANTITY, "hydro"),),
            ),
        )
    if name in ("day_ahead_prices", "intraday_auction_prices"):
        contract = "A01" if name == "day_ahead_prices" else "A07"
        sequences = ("",) if contract == "A01" else ("1", "2", "3")
        return tuple(
            Series(
                f"{key}:{sequence}",
                _el("auction.type", "A01")
                + _el("businessType", "A62")
                + _dom("in_Domain", eic)
                + _dom("out_Domain", eic)
                + _el("contract_MarketAgreement.type", contract)
                + _EUR_MWH
                + (
                    _el("classificationSequence_AttributeInstanceComponent.position", sequence)
                    if sequence
                    else ""
                ),
                (
                    Measure(
                        "price.amount", "price", 1.0 if not sequence else 1.0 + 0.03 * int(sequence)
                    ),
                ),
            )
            for sequence in sequences
        )
    if name == "net_positions":
        fields = _el("businessType", "B09") + _dom("in_Domain", eic) + _dom("out_Domain", eic)
        fields += _el("contract_MarketAgreement.type", "A01") + _MAW
        return (Series(key, fields, (Measure(_QUANTITY, "flow"),)),)
    if dataset.border:
        assert area_to is not None  # noqa: S101 - read_query guarantees it for border datasets
        domains = _dom("in_Domain", area_to.eic) + _dom("out_Domain", eic)
        if name == "physical_flows":
            return (
                Series(
                    key, _el("businessType", "A66") + domains + _MAW, (Measure(_QUANTITY, "flow"),)
                ),
            )
        if name == "scheduled_exchanges":
            return tuple(
                Series(
                    f"{key}:{contract}",
                    _el("businessType", "A06")
                    + domains
                    + _el("contract_MarketAgreement.type", contract)
                    + _MAW,
                    (Measure(_QUANTITY, "flow", scale),),
                )
                for contract, scale in (("A05", 1.0), ("A01", 0.9))
            )
        # NTC (A61): ENTSO-E documents carry no contract type, only the businessType A27.
        return (
            Series(
                key, _el("businessType", "A27") + domains + _MAW, (Measure(_QUANTITY, "flat", 2.0),)
            ),
        )
    if name == "imbalance_prices":
        return (
            Series(
                key,
                _el("businessType", "A19") + _EUR_MWH,
                (Measure("imbalance_Price.amount", "imbalance_price"),),
                category=True,
            ),
        )
    if name == "imbalance_volumes":
        return tuple(
            Series(
                f"{key}:{direction}",
                _el("businessType", "A19") + _el("flowDirection.direction", direction) + _MWH,
                (Measure(_QUANTITY, "flow", 0.1),),
            )
            for direction in ("A01", "A02")
        )
    if name == "current_balancing_state":
        return (Series(key, _el("businessType", "B33") + _MAW, (Measure(_QUANTITY, "signed"),)),)
    if name == "balancing_energy_prices":
        return tuple(
            Series(
                f"{key}:{direction}",
                _el("businessType", "A96")
                + _el("mktPSRType.psrType", "A03")
                + _el("flowDirection.direction", direction)
                + _EUR_MWH,
                (Measure("activation_Price.amount", "imbalance_price", scale),),
                category=True,
            )
            for direction, scale in (("A01", 1.2), ("A02", 0.6))
        )
    if name == "contracted_reserves":
        return (
            Series(
                key,
                _el("businessType", "B95")
                + _el("type_MarketAgreement.type", "A01")
                + _el("mktPSRType.psrType", "A04")
                + _el("flowDirection.direction", "A03")
                + _el("currency_Unit.name", "EUR")
                + _MAW,
                (
                    Measure(_QUANTITY, "flat", 0.1),
                    Measure("procurement_Price.amount", "reserve_price"),
                ),
            ),
        )
    raise ValueError(f"no synthetic series for dataset {name}")  # outages: see outages.py
