"""Hostile payloads — XML entity bombs, external entities, ZIP bombs, expansion bombs — and a
probe that measures the peak memory each one costs the readers and the import path.

The probe runs in a fresh process (``python -c "import bombs; bombs.probe(DIR)"`` with this
folder on PYTHONPATH): the peak resident set size of a process only grows, so a fresh one
whose baseline is taken after a warm-up sees exactly what the hostile payloads add. It
prints one JSON object: payload name → {"outcome", "growth" (bytes of peak RSS added)}.
"""

from __future__ import annotations

import io
import json
import re
import resource
import sys
import zipfile
from pathlib import Path

from gridvault.demo import ENTSOE_DIR

MiB = 1024 * 1024

_LOL = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n<GL_MarketDocument><type>A65</type><TimeSeries><mRID>&lol9;</mRID></TimeSeries>"
    "</GL_MarketDocument>"
)


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def _declared_size(data: bytes, actual: int, declared: int) -> bytes:
    """A ZIP whose headers (local and central) claim ``declared`` bytes instead of ``actual``."""
    return data.replace(actual.to_bytes(4, "little"), declared.to_bytes(4, "little"))


def _zeros_zip(size: int, claimed: int | None = None) -> bytes:
    """A ZIP of one XML-looking member that inflates to ``size`` bytes, or claims to inflate to
    ``claimed`` (written in 1 MiB steps, so building it costs no memory)."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("bomb.xml", "w") as member,
    ):
        member.write(b"<GL_MarketDocument>")
        written = len(b"<GL_MarketDocument>")
        chunk = b" " * MiB
        while written + MiB <= size:
            member.write(chunk)
            written += MiB
    data = buffer.getvalue()
    return data if claimed is None else _declared_size(data, written, claimed)


def _a03_fill_bomb(series_count: int) -> bytes:
    """A 1.5 kB-per-series NTC document whose single Point per series is repeated (curve A03)
    over 1.99 M one-minute steps: 20 M rows from 8 kB when nothing stops it."""
    doc = ENTSOE_DIR / "A61_ntc_week_ahead_DK2_to_DK1_2026-02-17_to_03-29_P1D_across_DST.xml"
    text = doc.read_text()
    series = re.search(r"<TimeSeries>.*</TimeSeries>", text, re.S)
    assert series is not None
    one = (
        series.group(0)
        .replace("<resolution>P1D</resolution>", "<resolution>PT1M</resolution>")
        .replace("<end>2026-03-29T22:00Z</end>\n", "<end>2029-12-05T22:00Z</end>\n")
    )
    many = "".join(
        one.replace("<businessType>A27</businessType>", f"<businessType>A{i:02d}</businessType>")
        for i in range(series_count)
    )
    return text.replace(series.group(0), many).encode()


def payloads() -> dict[str, bytes]:
    """File name → hostile payload; every one must be refused with a ParseError."""
    prices = (ENTSOE_DIR / "A44_day_ahead_prices_NL_2024-09-02_PT60M.xml").read_bytes()
    ack = (
        ENTSOE_DIR / "Acknowledgement_no_matching_data_A44_A07_DE_LU_2024-09-02.xml"
    ).read_bytes()
    big_entity = "x" * 100_000
    four_gib = _declared_size(_zip([("a.xml", prices)]), len(prices), 0xFFFFFFF0)
    return {
        "billion-laughs.xml": _LOL.encode(),
        "quadratic-blowup.xml": (
            f'<!DOCTYPE d [<!ENTITY a "{big_entity}">]><GL_MarketDocument>'
            + "&a;" * 50_000
            + "</GL_MarketDocument>"
        ).encode(),
        "xxe-dev-zero.xml": (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///dev/zero">]>'
            b"<GL_MarketDocument><type>&x;</type></GL_MarketDocument>"
        ),
        "xxe-parameter-entity.xml": (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % p SYSTEM "file:///dev/urandom">%p;]>'
            b"<GL_MarketDocument/>"
        ),
        "utf16-dtd.xml": (
            '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY a "aaaa">]>'
            "<GL_MarketDocument>&a;</GL_MarketDocument>"
        ).encode("utf-16"),
        "deep-nesting.xml": b"<GL_MarketDocument>"
        + b"<a>" * 200_000
        + b"</a>" * 200_000
        + b"</GL_MarketDocument>",
        "zip-declares-4gib.zip": four_gib,
        "zip-lies-small-inflates-96mib.zip": _zeros_zip(96 * MiB, claimed=100),
        # Over the 64 MiB floor of the ratio check, far under the 512 MiB absolute cap.
        "zip-inflates-96mib-1000-times.zip": _zeros_zip(96 * MiB),
        "zip-in-zip.zip": _zip([("inner.zip", _zip([("a.xml", prices)] * 3))]),
        "zip-10001-members.zip": _zip([(f"{i}.xml", ack) for i in range(10_001)]),
        "a03-fill-bomb.xml": _a03_fill_bomb(10),
        "a03-step-bomb.xml": prices.replace(
            b"<end>2024-09-02T22:00Z</end>", b"<end>3024-09-02T22:00Z</end>"
        ).replace(b"<resolution>PT60M</resolution>", b"<resolution>PT1S</resolution>"),
        "csv-huge-field.csv": b'"MTU (CET/CEST)","Day-ahead Price [EUR/MWh]","Currency","BZN|FI"\n'
        + b'"01.01.2019 00:00 - 01.01.2019 01:00","'
        + b"9" * MiB
        + b'","EUR"\n',
    }


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB


def probe(directory: str) -> None:
    """Write the payloads to ``directory``, then read each one with the parser and through
    the import path into a DuckDB store there, then import them all with ``gridvault
    import``; print each step's outcome and peak RSS growth as JSON on stdout."""
    from gridvault.cli.main import main  # imported before the baseline
    from gridvault.errors import ParseError
    from gridvault.pipeline.ingest import ingest_payload, parse_entsoe
    from gridvault.store.duckdb_store import DuckDBStore

    folder = Path(directory)
    hostile = folder / "hostile"
    hostile.mkdir()
    for name, data in payloads().items():
        (hostile / name).write_bytes(data)
    store = DuckDBStore(folder / "probe.duckdb")
    # Warm up: imports, caches, the store's first write; then the baseline.
    for warm in (
        "A44_day_ahead_prices_NL_2024-09-02_PT60M.xml",
        "A80_unavailability_generation_units_BE_2025_59docs.zip",
    ):
        ingest_payload(store, (ENTSOE_DIR / warm).read_bytes(), name=warm)
    report: dict[str, dict[str, object]] = {}
    for path in sorted(hostile.iterdir()):
        data = path.read_bytes()
        before = _peak()
        try:
            parse_entsoe(data, path.name)
            outcome = "parsed"
        except ParseError as exc:
            outcome = f"ParseError: {str(exc)[:160]}"
        imported = ingest_payload(store, data, name=path.name)
        report[path.name] = {
            "outcome": outcome,
            "imported": "quarantined" if imported.error else "stored",
            "growth": _peak() - before,
        }
        del data
    store.close()
    before = _peak()
    sys.argv = ["gridvault"]
    try:
        main(["import", "entsoe", str(hostile)])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    report["gridvault import"] = {"outcome": f"exit {code}", "growth": _peak() - before}
    print(json.dumps(report))  # the last line of stdout
