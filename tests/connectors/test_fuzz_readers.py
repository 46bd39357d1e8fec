"""Hostile input for the readers: whatever the bytes of a CSV file, the JSON of a saved page or the records of a
CRM answer, a reader either reads them (every row accounted for, every value storable) or refuses them in
one line. Nothing else: no traceback, no row lost, no run stopped by one record.

The budget is bounded for CI (a few seconds each); ROSTERSYNC_FUZZ_EXAMPLES=20000 runs a deeper search."""

import codecs
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.crm import CONNECTORS
from connectors.csv_source import CsvSource, SourceError
from jobs.ledger.run_rows import encode_raw
from jobs.pipeline.inputs import SavedPageInput
from jobs.pipeline.snapshot import take
from registry.items import Rejected, Valid, unstorable, validate
from tests.fakes.crm_server import eaccounting_customer, economic_customer, faktoora_customer, lemonsoft_record

BOUNDED = settings(
    max_examples=int(os.environ.get("ROSTERSYNC_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Pieces a hostile or damaged export is made of: structure, text in several encodings, and binary.
CSV_PIECES = st.one_of(
    st.sampled_from(
        [b'"', b'""', b"\x00", b"\r", b"\n", b"\r\n", b";", b",", b"\t", b"|", b" ", b"=1+2", b"sep=;\n",
         codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b"\xff\xfe\x00\x00", b"\x1a", b"\x85", b"\xc3", b"\xa4"]
    ),
    st.text(max_size=8).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(st.characters(codec="cp1252"), max_size=8).map(lambda t: t.encode("cp1252")),
    st.text(max_size=4).map(lambda t: t.encode("utf-16-le", "surrogatepass")),
    st.binary(max_size=8),
)  # fmt: skip
HEADER = st.sampled_from([b"Namn;Organisationsnummer;Land\n", b"Name,Org nr\r\n", b"", b'"Na""mn";"Ort\n"\n'])


def _one_line(error: SourceError) -> None:
    assert "\n" not in str(error) and "\r" not in str(error) and str(error)


@BOUNDED
@given(
    header=HEADER,
    pieces=st.lists(CSV_PIECES, max_size=40),
    options=st.sampled_from([{}, {"delimiter": ";"}, {"encoding": "utf-8"}, {"encoding": "cp1252"}]),
)
def test_any_bytes_are_read_whole_or_refused_in_one_line(
    tmp_path: Path, header: bytes, pieces: list[bytes], options: dict[str, str]
) -> None:
    path = tmp_path / "hostile.csv"
    path.write_bytes(header + b"".join(pieces))
    try:
        source = CsvSource(path, **options)
        total = source.check()
        rows = list(source.rows())
    except SourceError as exc:
        _one_line(exc)
        return
    assert len(rows) == total > 0  # every row counted is a row read, and the other way round
    lines = [row.line for row in rows]
    assert lines == sorted(set(lines)) and lines[0] > source.header_line
    assert all(row.error is not None or len(row.values) == len(source.headers) for row in rows)


# -- JSON: saved pages and CRM answers --------------------------------------------------------------------

JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(st.characters(exclude_categories=()), max_size=12),  # NULs and lone surrogates included
    st.sampled_from(["", "\x00", "\ud800", "SE556036079301", "556036-0793", "2024-02-30", "DK", "Sverige"]),
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)

SAMPLES = {
    "economic": economic_customer,
    "faktoora": faktoora_customer,
    "visma": lemonsoft_record,
    "visma-eaccounting": eaccounting_customer,
}


@st.composite
def damaged_records(draw: st.DrawFn, connector: str) -> list[dict[str, Any]]:
    """Real-shaped records of a system with some fields replaced, dropped or added."""
    records = []
    for i in range(draw(st.integers(1, 4))):
        record = json.loads(json.dumps(SAMPLES[connector](i), default=str))
        for key in draw(st.lists(st.sampled_from(sorted(record)), max_size=4, unique=True)):
            if draw(st.booleans()):
                record[key] = draw(JSON_VALUE)
            else:
                del record[key]
        record.update(draw(st.dictionaries(st.text(max_size=6), JSON_VALUE, max_size=2)))
        records.append(record)
    return records


def _storable(item_raw: Any) -> None:
    text = encode_raw([item_raw])
    text.encode("utf-8")  # no half surrogate pairs left
    assert "\x00" not in text and "\\u0000" not in text


def _mapped(kind: str, payload: dict[str, Any]) -> None:
    """What the pipeline does with a mapped record: a rejection or a valid item, never an exception."""
    model = unstorable(payload) or validate(kind, payload)  # type: ignore[arg-type]
    assert isinstance(model, Rejected | Valid)


@BOUNDED
@given(data=st.data(), connector=st.sampled_from(sorted(SAMPLES)))
def test_any_crm_record_is_mapped_never_raises(data: st.DataObject, connector: str) -> None:
    """The sync maps each record of an answer: one damaged record must be a failed row, not a stopped sync."""
    cls = CONNECTORS[connector]
    kind = "customers"
    for raw in data.draw(damaged_records(connector)):
        for mapped in cls.parse_saved_page([raw], kind):  # the sync's own mapping of one record
            _mapped(kind, dict(mapped.payload))
            _storable(dict(mapped.raw))


@BOUNDED
@given(data=st.data(), connector=st.sampled_from(sorted(SAMPLES)), envelope=st.booleans())
def test_any_saved_page_is_read_or_refused_in_one_line(
    tmp_path: Path, data: st.DataObject, connector: str, envelope: bool
) -> None:
    records = data.draw(damaged_records(connector))
    page: object = records
    if envelope:
        page = data.draw(JSON_VALUE) if data.draw(st.booleans()) else {"collection": records, "data": records}
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page), encoding="utf-8")
    snapshot = take(str(path))
    try:
        try:
            source = SavedPageInput(snapshot, "customers", connector)
        except SourceError as exc:
            _one_line(exc)
            return
        items = list(source.iter_items())
        assert len(items) == source.total
        for item in items:
            assert item is not None and (item.error is not None) != (item.payload is not None)
            if item.payload is not None:
                _mapped("customers", dict(item.payload))
            _storable(item.raw)
    finally:
        snapshot.close()


@pytest.mark.parametrize("depth", [10, 100_000])
def test_json_nested_deeply_is_a_clean_refusal(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"collection": ' + "[" * depth + "]" * depth + "}", encoding="utf-8")
    snapshot = take(str(path))
    try:
        with pytest.raises(SourceError) as info:
            SavedPageInput(snapshot, "customers", "economic")
        _one_line(info.value)
    finally:
        snapshot.close()
