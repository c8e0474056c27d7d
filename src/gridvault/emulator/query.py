"""Read and check one API query the way ENTSO-E does, before any data is looked up.

A query names its dataset only through codes: ``documentType`` plus, where the catalog has
them, ``processType``, ``businessType`` and the contract type. :func:`read_query` finds the
catalog row that the client's :func:`gridvault.entsoe.catalog.request_params` would have
produced it from, then checks domains, period and offset. Every refusal is a
:class:`BadRequest` carrying the text of the 400 acknowledgement.

Matching rules (lenient where ENTSO-E is, strict where a client bug would hide):

* a dataset with a ``process_type`` needs that ``processType`` (contracted reserves accept
  any reserve process: A52 FCR, A51 aFRR, A47 mFRR, A46 RR); a dataset without one ignores
  a ``processType`` sent anyway;
* a dataset with a ``business_type`` needs that ``businessType`` (A86 with ``B33`` is the
  current balancing state, without it imbalance volumes);
* a contract type, when sent (either spelling, ``contract_MarketAgreement.type``/``.Type``),
  must be one the dataset's documents carry (A09 accepts A01 and A05); when missing, the first
  dataset of the catalog wins (day-ahead for A44 and A61);
* every domain parameter of the dataset must be present with a known EIC; one-area datasets
  asked through two parameters (A44, A25) need the same EIC in both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from gridvault.emulator.responses import window_text
from gridvault.entsoe.areas import Area, area_by_eic
from gridvault.entsoe.catalog import Dataset, all_datasets
from gridvault.timegrid import parse_resolution, step

_STAMP = re.compile(r"^\d{12}$")
_CONTRACT_PARAMS = ("contract_MarketAgreement.type", "contract_MarketAgreement.Type")
_RESERVE_PROCESSES = ("A52", "A51", "A47", "A46")


class BadRequest(Exception):
    """The query is invalid; the message is the acknowledgement text."""


@dataclass(frozen=True)
class ApiRequest:
    """A valid query: the dataset, its area(s), the UTC window and the page asked for.

    ``area`` is the single area of one-area datasets and the *exporting* area
    (``out_Domain``) of border datasets, ``area_to`` the importing one (``in_Domain``).
    """

    dataset: Dataset
    area: Area
    area_to: Area | None
    start: datetime
    end: datetime
    offset: int | None
    process_type: str | None
    eics: tuple[str, ...]


def read_query(params: dict[str, str]) -> ApiRequest:
    """Validate ``params`` (query without the token); raise :class:`BadRequest` if invalid."""
    dataset = _dataset(params)
    eics = _domain_eics(dataset, params)
    start = _stamp(params, "periodStart")
    end = _stamp(params, "periodEnd")
    if end <= start:
        raise BadRequest(
            f"The value of periodEnd ({params['periodEnd']}) must be greater than the value of "
            f"periodStart ({params['periodStart']})."
        )
    if dataset.border:
        area = _area(params["out_Domain"])
        area_to: Area | None = _area(params["in_Domain"])
    else:
        area, area_to = _area(eics[0]), None
    _check_window(dataset, area, start, end)
    offset = _offset(dataset, params)
    return ApiRequest(
        dataset=dataset,
        area=area,
        area_to=area_to,
        start=start,
        end=end,
        offset=offset,
        process_type=params.get("processType"),
        eics=eics,
    )


def _dataset(params: dict[str, str]) -> Dataset:
    document_type = params.get("documentType")
    if not document_type:
        raise BadRequest("Mandatory parameter documentType is missing.")
    candidates = [d for d in all_datasets() if d.document_type == document_type]
    if not candidates:
        raise BadRequest(f"Input value documentType={document_type} is not valid.")
    contract = next((params[p] for p in _CONTRACT_PARAMS if p in params), None)
    matching = [d for d in candidates if _codes_match(d, params, contract)]
    if not matching:
        given = ", ".join(
            f"{key}={params[key]}"
            for key in ("documentType", "processType", "businessType", *_CONTRACT_PARAMS)
            if key in params
        )
        raise BadRequest(
            f"The combination [{given}] is not valid, check you request against dependency tables."
        )
    with_domains = [d for d in matching if all(p in params for p in d.domain_params)]
    if not with_domains:
        missing = [p for p in matching[0].domain_params if p not in params]
        raise BadRequest(f"Mandatory parameter {' and '.join(missing)} is missing.")
    return with_domains[0]


def _codes_match(dataset: Dataset, params: dict[str, str], contract: str | None) -> bool:
    process = params.get("processType")
    if dataset.process_type is not None:
        allowed = _RESERVE_PROCESSES if dataset.document_type == "A81" else (dataset.process_type,)
        if process not in allowed:
            return False
    if dataset.business_type is not None and params.get("businessType") != dataset.business_type:
        return False
    fixed_contract = [value for key, value in dataset.fixed_params if key in _CONTRACT_PARAMS]
    allowed_contracts = set(dataset.match_contract) | set(fixed_contract)
    return contract is None or not allowed_contracts or contract in allowed_contracts


def _domain_eics(dataset: Dataset, params: dict[str, str]) -> tuple[str, ...]:
    eics = tuple(params[p] for p in dataset.domain_params)
    for param, eic in zip(dataset.domain_params, eics, strict=True):
        if area_by_eic(eic) is None:
            raise BadRequest(f"Input value {param}={eic} is not a valid EIC code of an area.")
    if not dataset.border and len(set(eics)) > 1:
        raise BadRequest(
            f"{' and '.join(dataset.domain_params)} must be the same area for this data item."
        )
    return eics


def _area(eic: str) -> Area:
    area = area_by_eic(eic)
    if area is None:  # checked by _domain_eics already; keeps the type narrow
        raise BadRequest(f"Input value {eic} is not a valid EIC code of an area.")
    return area


def _stamp(params: dict[str, str], name: str) -> datetime:
    text = params.get(name)
    if text is None:
        raise BadRequest(f"Mandatory parameter {name} is missing.")
    if not _STAMP.match(text):
        raise BadRequest(f"Input value {name}={text} is not valid; expected format yyyyMMddHHmm.")
    try:
        return datetime.strptime(text, "%Y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        raise BadRequest(f"Input value {name}={text} is not a valid date and time.") from None


def _check_window(dataset: Dataset, area: Area, start: datetime, end: datetime) -> None:
    limit = parse_resolution(dataset.window_limit)
    # A local calendar year or day may be an hour longer in UTC (DST): allow either reading.
    latest = max(step(start, limit, 1, "UTC"), step(start, limit, 1, area.tz))
    if end > latest:
        raise BadRequest(window_text(dataset, start, end))


def _offset(dataset: Dataset, params: dict[str, str]) -> int | None:
    text = params.get("offset")
    if text is None or dataset.page_size is None:
        # ENTSO-E ignores offset on items that are not paged.
        return None
    if not text.isdigit():
        raise BadRequest(f"Input value offset={text} is not valid; expected a whole number.")
    offset = int(text)
    if offset % dataset.page_size:
        raise BadRequest(
            f"Input value offset={offset} is not valid; it must be a multiple of {dataset.page_size}."
        )
    if dataset.max_offset is not None and offset > dataset.max_offset:
        raise BadRequest(
            f"The requested data to be gathered via the offset parameter exceeds the allowed "
            f"limit: offset={offset} is larger than {dataset.max_offset}."
        )
    return offset
