"""Bad and hostile input: every failure is a ParseError with a clear message, fast, with
bounded memory; nothing outside the payload is ever read. (Mutated real documents:
test_parser_fuzz.py.)"""

from __future__ import annotations

import io
import re
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from gridvault.demo import ENTSOE_DIR
from gridvault.entsoe import _rows, parser
from gridvault.entsoe.parser import AcknowledgementError, parse, parse_document, parse_outages
from gridvault.errors import ParseError

NL_PRICES = "A44_day_ahead_prices_NL_2024-09-02_PT60M.xml"


def _fixture(name: str) -> bytes:
    return (ENTSOE_DIR / name).read_bytes()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _ack(code: str | None, text: str | None) -> bytes:
    reason = ""
    if code is not None or text is not None:
        reason = "<Reason>"
        reason += f"<code>{code}</code>" if code is not None else ""
        reason += f"<text>{text}</text>" if text is not None else ""
        reason += "</Reason>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Acknowledgement_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-1:'
        'acknowledgementdocument:7:0"><mRID>x</mRID>'
        f"<createdDateTime>2024-01-01T00:00:00Z</createdDateTime>{reason}"
        "</Acknowledgement_MarketDocument>"
    ).encode()


# --------------------------------------------------------------------------------------
# Malformed input


def test_truncated_xml() -> None:
    data = _fixture(NL_PRICES)
    with pytest.raises(ParseError, match=r"prices\.xml: malformed XML \(truncated\?\)"):
        parse(data[: len(data) // 2], source_name="prices.xml")


def test_malformed_xml() -> None:
    with pytest.raises(ParseError, match="malformed XML"):
        parse(b"<GL_MarketDocument><type>A65</typo></GL_MarketDocument>")


def test_html_error_page() -> None:
    page = b"<!DOCTYPE html><html><head><title>429</title></head><body>Requester banned until '2025-11-20T10:00Z'<br></body></html>"
    with pytest.raises(ParseError, match=r"HTML page.*Requester banned until"):
        parse(page, source_name="response")


def test_well_formed_html_is_still_refused() -> None:
    with pytest.raises(ParseError, match=r"HTML page.*Bad Request"):
        parse(b"<html><head></head><body>Bad Request</body></html>")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty payload"),
        (b"  \n ", "empty payload"),
        (b'{"error": "json"}', "not an XML document"),
        (b"\x1f\x8b\x08\x00gzipped", "gzip-compressed"),
    ],
)
def test_not_xml(payload: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(payload)


def test_unknown_root_element() -> None:
    with pytest.raises(ParseError, match="root element <Invoice>"):
        parse(b"<Invoice><amount>3</amount></Invoice>")
    with pytest.raises(ParseError, match="root <Invoice>"):
        parse(b"<Invoice><TimeSeries><mRID>1</mRID></TimeSeries></Invoice>")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("<resolution>PT60M</resolution>", "unknown resolution 'PT1X'"),
        ("<price.amount>91.24</price.amount>", "price.amount is not a number: 'n/a'"),
        ("<start>2024-09-01T22:00Z</start>", "not a date-time: 'yesterday'"),
    ],
)
def test_bad_values_name_what_is_wrong(bad: str, message: str) -> None:
    replacement = {
        "<resolution>PT60M</resolution>": "<resolution>PT1X</resolution>",
        "<price.amount>91.24</price.amount>": "<price.amount>n/a</price.amount>",
        "<start>2024-09-01T22:00Z</start>": "<start>yesterday</start>",
    }[bad]
    data = _fixture(NL_PRICES).decode().replace(bad, replacement).encode()
    with pytest.raises(ParseError, match=message):
        parse(data)


def test_revision_number_out_of_range() -> None:
    data = _fixture(NL_PRICES).replace(b"<revisionNumber>1<", b"<revisionNumber>99999999999<")
    with pytest.raises(ParseError, match="revisionNumber out of range"):
        parse(data)


def test_position_outside_its_period() -> None:
    data = (
        _fixture(NL_PRICES).decode().replace("<position>24</position>", "<position>25</position>")
    )
    with pytest.raises(ParseError, match="position 25 outside its Period"):
        parse(data.encode())


def test_duplicate_position() -> None:
    data = (
        _fixture(NL_PRICES).decode().replace("<position>24</position>", "<position>23</position>")
    )
    with pytest.raises(ParseError, match="duplicate position"):
        parse(data.encode())


def test_period_ending_before_it_starts() -> None:
    data = (
        _fixture(NL_PRICES)
        .decode()
        .replace(
            "<end>2024-09-02T22:00Z</end>\n            </timeInterval>",
            "<end>2024-09-01T21:00Z</end></timeInterval>",
        )
    )
    with pytest.raises(ParseError, match="before it starts"):
        parse(data.encode())


# --------------------------------------------------------------------------------------
# Acknowledgements


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (
            "999",
            "No matching data found for Data item ENERGY_PRICES [12.1.D] (10Y1001A1001A82H) and interval 202409012200/202409022200.",
        ),
        ("999", "No matching data found"),
        (None, "No matching data found"),
        ("999", None),
    ],
)
def test_no_data_acknowledgement_variants(code: str | None, text: str | None) -> None:
    assert parse(_ack(code, text)).num_rows == 0
    assert parse_document(_ack(code, text)).kind == "no_data"


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("999", "The amount of requested data exceeds allowed limit"),
        ("B11", "Requested data is not available"),
        ("A01", "Invalid parameter value, check you request against dependency tables"),
    ],
)
def test_other_acknowledgement_raises_with_entsoe_text(code: str, text: str) -> None:
    with pytest.raises(AcknowledgementError) as caught:
        parse(_ack(code, text), source_name="ack.xml")
    error = caught.value
    assert isinstance(error, ParseError)
    assert error.reason_code == code
    assert error.reason_text == text
    assert text in str(error)
    assert str(error).startswith("ack.xml: ")


def test_acknowledgement_without_reason_raises() -> None:
    with pytest.raises(AcknowledgementError):
        parse(_ack(None, None))


# --------------------------------------------------------------------------------------
# ZIP


def test_zip_member_errors_name_the_member() -> None:
    good = _fixture(NL_PRICES)
    data = _zip({"001-good.xml": good, "002-bad.xml": good[:200]})
    with pytest.raises(ParseError, match=r"^outages\.zip:002-bad\.xml: malformed XML"):
        parse(data, source_name="outages.zip")


def test_zip_with_a_non_xml_member() -> None:
    data = _zip({"001.xml": _fixture(NL_PRICES), "readme.pdf": b"%PDF-1.4 ..."})
    with pytest.raises(ParseError, match=r"r\.zip:readme\.pdf: ZIP member is not an XML document"):
        parse(data, source_name="r.zip")


def test_zip_inside_a_zip_is_refused() -> None:
    inner = _zip({"a.xml": _fixture(NL_PRICES)})
    with pytest.raises(ParseError, match="nested ZIP"):
        parse(_zip({"inner.zip": inner}))


def test_empty_zip_is_no_data() -> None:
    result = parse_document(_zip({}))
    assert result.kind == "no_data"
    assert result.documents == 0
    assert parse(_zip({})).num_rows == 0
    assert parse_outages(_zip({})).num_rows == 0


def test_zip_of_acknowledgement_is_no_data() -> None:
    assert (
        parse_document(_zip({"ack.xml": _ack("999", "No matching data found")})).kind == "no_data"
    )


def test_corrupt_zip() -> None:
    data = _zip({"a.xml": _fixture(NL_PRICES)})
    with pytest.raises(ParseError, match="ZIP"):
        parse(data[:40])
    flipped = bytearray(data)
    flipped[60] ^= 0xFF  # inside the compressed member data
    with pytest.raises(ParseError):
        parse(bytes(flipped))


@pytest.mark.parametrize(
    "method",
    [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
    ids=["stored", "deflated", "bzip2", "lzma"],
)
def test_zip_members_read_the_same_whatever_their_compression(method: int) -> None:
    doc = _fixture(NL_PRICES)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr("a.xml", doc)
        archive.writestr("b.xml", doc)
    assert parse(buffer.getvalue()).equals(parse(doc).take(list(range(24)) * 2))


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"]
)
def test_zip_member_with_a_wrong_crc_is_refused(method: int) -> None:
    doc = _fixture(NL_PRICES)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr("a.xml", doc)
    info = zipfile.ZipFile(io.BytesIO(buffer.getvalue())).getinfo("a.xml")
    crc = info.CRC.to_bytes(4, "little")
    data = buffer.getvalue().replace(crc, (info.CRC ^ 1).to_bytes(4, "little"))
    with pytest.raises(ParseError, match=r"^z\.zip:a\.xml: unreadable ZIP member"):
        parse(data, source_name="z.zip")


def test_zip_member_data_cut_short_is_refused() -> None:
    data = _zip({"a.xml": _fixture(NL_PRICES)})
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("a.xml")
    # Claim a shorter compressed size in both headers: the member's deflate stream is cut.
    size = info.compress_size.to_bytes(4, "little")
    cut = data.replace(size, (info.compress_size - 40).to_bytes(4, "little"))
    with pytest.raises(ParseError, match="unreadable ZIP member"):
        parse(cut)


def test_zip_bomb_is_refused_before_expanding(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parser.MAX_ZIP_UNCOMPRESSED == 512 * 1024 * 1024
    monkeypatch.setattr(parser, "MAX_ZIP_UNCOMPRESSED", 4 * 1024 * 1024)
    bomb = _zip({"bomb.xml": b"<a>" + b" " * (40 * 1024 * 1024) + b"</a>"})
    assert len(bomb) < 100 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(ParseError, match=r"more than the .* allowed .*ZIP bomb"):
            parse(bomb, source_name="bomb.zip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # never the 40 MiB it expands to


def test_zip_expanding_far_beyond_its_own_size_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the absolute cap, a ZIP may still not expand more than MAX_ZIP_RATIO times (past
    a floor): ENTSO-E's expand 3-25 times, a bomb of spaces 1,000 times."""
    monkeypatch.setattr(parser, "ZIP_RATIO_FLOOR", 1024 * 1024)
    bomb = _zip({"bomb.xml": b"<a>" + b" " * (4 * 1024 * 1024) + b"</a>"})
    with pytest.raises(ParseError, match=r"expand to 4,194,311 bytes \([\d,]+ times its size\)"):
        parse(bomb)
    recorded = _fixture("A85_imbalance_prices_AT_2024-01-01_to_05_PT15M.zip")
    monkeypatch.setattr(parser, "ZIP_RATIO_FLOOR", 0)
    assert parse(recorded).num_rows == 768  # 25 times: a real ZIP is far from the ratio


def test_zip_size_cap_applies_to_the_total(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser, "MAX_ZIP_UNCOMPRESSED", 10_000)
    doc = _fixture(NL_PRICES)
    with pytest.raises(ParseError, match="ZIP bomb"):
        parse(_zip({"1.xml": doc, "2.xml": doc, "3.xml": doc}))


def test_zip_member_count_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser, "MAX_ZIP_MEMBERS", 3)
    ack = _ack("999", "No matching data found")
    with pytest.raises(ParseError, match="4 members"):
        parse(_zip({f"{i}.xml": ack for i in range(4)}))


def test_zip_member_lying_about_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The central directory's size is trusted only as an upper bound."""
    data = bytearray(_zip({"a.xml": _fixture(NL_PRICES)}))
    # Shrink the declared uncompressed size in the central directory and the local header.
    actual = len(_fixture(NL_PRICES)).to_bytes(4, "little")
    index = data.find(actual)
    while index >= 0:
        data[index : index + 4] = (100).to_bytes(4, "little")
        index = data.find(actual, index + 4)
    with pytest.raises(ParseError):
        parse(bytes(data))


# --------------------------------------------------------------------------------------
# XML attacks


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<GL_MarketDocument><type>A65</type><TimeSeries><mRID>&lol9;</mRID></TimeSeries></GL_MarketDocument>"""


def test_billion_laughs_is_refused_without_expanding() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ParseError, match="DTD"):
            parse(BILLION_LAUGHS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024  # the document itself, never its 10**9 laughs


def test_xxe_never_reads_local_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    for target in (secret.as_uri(), "file:///etc/passwd"):
        payload = (
            '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "' + target + '">]>'
            "<Acknowledgement_MarketDocument><Reason><code>B11</code><text>&xxe;</text>"
            "</Reason></Acknowledgement_MarketDocument>"
        ).encode()
        with pytest.raises(ParseError) as caught:
            parse(payload)
        assert not isinstance(caught.value, AcknowledgementError)
        assert "TOP-SECRET" not in str(caught.value)
        assert "root:" not in str(caught.value)


def test_xinclude_is_never_followed(tmp_path: Path) -> None:
    """XInclude needs no DTD; lxml only follows it when asked, and we never ask."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    doc = _fixture(NL_PRICES).replace(
        b"<mRID>1</mRID>",
        b'<mRID><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" parse="text" href="'
        + secret.as_uri().encode()
        + b'"/></mRID>',
    )
    result = parse_document(doc)
    assert result.values.num_rows == 24
    assert "TOP-SECRET" not in str(result.values.to_pylist())


def test_dtd_hidden_after_comments_and_in_utf16_is_refused() -> None:
    hidden = b'<?xml version="1.0"?><!-- a comment --><?pi x?><!DOCTYPE d [<!ENTITY e "x">]><GL_MarketDocument/>'
    with pytest.raises(ParseError, match="DTD"):
        parse(hidden)
    utf16 = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY e "x">]><GL_MarketDocument/>'
    )
    with pytest.raises(ParseError, match="DTD"):
        parse(utf16.encode("utf-16"))


def test_external_entity_without_dtd_is_malformed() -> None:
    with pytest.raises(ParseError, match="malformed XML"):
        parse(b"<GL_MarketDocument><type>&xxe;</type></GL_MarketDocument>")


def test_deep_nesting_is_refused() -> None:
    deep = b"<GL_MarketDocument>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</GL_MarketDocument>"
    with pytest.raises(ParseError, match="malformed XML"):
        parse(deep)


def test_a03_expansion_is_bounded() -> None:
    """A tiny document cannot ask for billions of rows (PT4S over 1000 years)."""
    doc = _fixture(NL_PRICES).decode()
    doc = doc.replace("<end>2024-09-02T22:00Z</end>", "<end>3024-09-02T22:00Z</end>")
    doc = doc.replace("<resolution>PT60M</resolution>", "<resolution>PT4S</resolution>")
    with pytest.raises(ParseError, match="too many PT4S steps"):
        parse(doc.encode())


def test_a03_repetition_is_bounded_by_the_document_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """One Point of a curve-A03 NTC document covers 41 days: 40 repeated rows, within the
    budget; a budget of 39 refuses the document (an 8 kB forgery asked for 20 M rows)."""
    week_ahead = _fixture("A61_ntc_week_ahead_DK2_to_DK1_2026-02-17_to_03-29_P1D_across_DST.xml")
    monkeypatch.setattr(_rows, "FILL_ROWS_PER_BYTE", 0)
    monkeypatch.setattr(_rows, "MIN_FILL_BUDGET", 40)
    assert parse(week_ahead).num_rows == 41
    monkeypatch.setattr(_rows, "MIN_FILL_BUDGET", 39)
    with pytest.raises(ParseError, match="curve A03 repeats its Points into more rows"):
        parse(week_ahead)


def test_row_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_rows, "MAX_ROWS", 10)
    with pytest.raises(ParseError, match="more than 10 values"):
        parse(_fixture(NL_PRICES))


@pytest.mark.parametrize(
    ("fixture", "tag"),
    [
        (NL_PRICES, "businessType"),  # a series dimension
        ("A76_unavailability_consumption_units_DE_LU_2023-11-30_PT15M.xml", "mRID"),  # outage key
        (
            "A81_contracted_reserves_FCR_NL_2025-03-30_DST_spring_forward.xml",
            "imbalance_Price.category",
        ),
    ],
)
def test_codes_and_identifiers_longer_than_the_cap_are_refused(fixture: str, tag: str) -> None:
    """A 6 kB code would not fit a PostgreSQL index entry of the series or outage key: the
    document is refused the same way on both engines, before a store sees it."""

    def with_text(text: str) -> bytes:
        pattern = f"<{re.escape(tag)}>[^<]*</{re.escape(tag)}>"
        document, replaced = re.subn(
            pattern, f"<{tag}>{text}</{tag}>", _fixture(fixture).decode(), count=1
        )
        assert replaced == 1
        return document.encode()

    long_code = "".join(f"{i:04x}" for i in range(1500))
    with pytest.raises(ParseError, match=r"is 6,000 characters long, more than the 128"):
        parse_document(with_text(long_code))
    parse_document(with_text("A" * _rows.MAX_FIELD_LENGTH))  # up to the cap is fine
