"""Exports that are not UTF-8: which 8-bit encoding a file is in (Windows, ISO, DOS or Mac), and a file whose text
reads as garbled is refused in one line that names the encoding guessed and `--encoding`."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from connectors.csv_source import CsvSource, SourceError
from tests.fakes.nordic import STYLES, export

LEGACY = ["cp1252", "iso8859-15", "cp850", "cp437", "mac_roman"]


def write(tmp_path: Path, data: bytes, name: str = "customers.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read(path: Path, **kwargs: str) -> tuple[CsvSource, list[tuple[str, ...]]]:
    source = CsvSource(path, **kwargs)
    source.check()
    return source, [row.values for row in source.rows()]


def records(text: str) -> list[tuple[str, ...]]:
    return [tuple(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))][1:]


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    return next(d for d in ";\t," if d in header)


@pytest.mark.parametrize("style", [s for s in STYLES if s != "sparse"])
@pytest.mark.parametrize("encoding", LEGACY)
def test_generated_exports_read_as_written(tmp_path: Path, encoding: str, style: str) -> None:
    """Short files (a header and 3 rows) and long ones (more than the 64 KiB sample). Where two encodings read the
    file alike (cp850 and cp437 write Swedish and German the same), either is right."""
    for seed, rows in [*((seed, 3) for seed in range(12)), (12, 1200), (13, 1200)]:
        _, text = export(seed, rows, encoding, style)
        raw = text.encode(encoding)
        source, got = read(write(tmp_path, raw))
        assert raw.decode(source.encoding) == text, (seed, rows, source.encoding)
        assert got == records(text), (seed, rows)


@pytest.mark.parametrize(
    ("encoding", "text", "name"),
    [
        ("cp850", "Namn;Ort\r\nBjörk AB;Malmö\r\nSøren Jørgensen;Østerbro\r\n", "Björk AB"),  # DOS, not 'Bj”rk'
        ("cp437", "Namn;Ort\r\nBjörk AB;Malmö\r\nNäslund;Hyvinkää\r\nCafé Pérez;Genève\r\n", "Björk AB"),
        ("mac_roman", "Namn;Ort\rStråd AB;Göteborg\rÅsa Öberg;Umeå\r", "Stråd AB"),  # not 'StrŒd'
        ("mac_roman", "Namn;Ort\nStråd AB;Göteborg\nJürgen Müller;Düsseldorf\n", "Stråd AB"),
        ("iso8859-15", "Namn;Ort;Limit\nÅsa Öberg;Umeå;5000 €\n", "Åsa Öberg"),  # not '5000 ¤'
    ],
    ids=["cp850", "cp437", "mac_roman CR", "mac_roman LF", "iso8859-15"],
)
def test_a_dos_mac_or_iso_export_is_read_in_its_encoding(tmp_path: Path, encoding: str, text: str, name: str) -> None:
    source, rows = read(write(tmp_path, text.encode(encoding)))
    assert source.encoding in ({"cp850", "cp437"} if encoding == "cp437" else {encoding})
    assert rows == records(text.replace("\r\n", "\n").replace("\r", "\n")) and rows[0][0] == name


def test_danish_dos_text_is_cp850_not_cp437(tmp_path: Path) -> None:
    """cp437 has no ø: where cp850 has ø and Ø, it has ¢ and ¥."""
    source, rows = read(write(tmp_path, "Navn;By\nSøren Møller;Østerbro\n".encode("cp850")))
    assert (source.encoding, rows) == ("cp850", [("Søren Møller", "Østerbro")])


def test_an_ascii_head_then_dos_text_is_read_in_its_encoding(tmp_path: Path) -> None:
    """The first non-ASCII byte lies beyond the 64 KiB sample: the bytes there are measured."""
    body = "".join(f"Kund {i} AB;{i};Lund\r\n" for i in range(5000))
    raw = ("Namn;Nr;Ort\r\n" + body + "Björk AB;99999;Malmö\r\n").encode("cp850")
    source, rows = read(write(tmp_path, raw))
    assert (source.encoding, rows[-1]) == ("cp850", ("Björk AB", "99999", "Malmö"))


@pytest.mark.parametrize("encoding", ["cp850", "cp437", "mac_roman"])
def test_the_new_encodings_are_read_line_by_line(tmp_path: Path, encoding: str) -> None:
    """LF is the byte 0x0A in each of them: a file without quotes is checked and read by slots of lines."""
    _, text = export(1, 50, encoding, "plain")
    source = CsvSource(write(tmp_path, text.encode(encoding)))
    assert source.check(slot_rows=20) == 50 and source.plain is not None and source.plain.slots == 3
    assert [row.values for slot in range(3) for row in source.rows(slot)] == records(text)


# -- refused: text that looks garbled in the encoding guessed -----------------------------------------------------


def refusal(path: Path) -> SourceError:
    with pytest.raises(SourceError) as caught:
        CsvSource(path)
    assert "\n" not in str(caught.value) and "--encoding" in str(caught.value)
    return caught.value


def test_utf8_rows_in_a_cp1252_file_are_refused(tmp_path: Path) -> None:
    """Rows pasted from a UTF-8 export into a Windows one: read as cp1252, they would be 'MalmÃ¶'."""
    cp1252 = "".join(f"Kund {i} AB;Malmö\r\n" for i in range(40)).encode("cp1252")
    err = refusal(write(tmp_path, b"Namn;Ort\r\n" + cp1252 + "Björk AB;Malmö\r\n".encode()))
    assert err.line == 42
    assert err.message == "the text looks garbled as cp1252 (e.g. 'BjÃ¶rk'); give the file's encoding with --encoding"


def test_utf8_written_twice_is_refused(tmp_path: Path) -> None:
    """UTF-8 read as cp1252 and saved as UTF-8 again: valid UTF-8 that says 'BjÃ¶rk'."""
    text = "Namn;Ort\nBjörk AB;Malmö\nÅsa Öberg;Umeå\n".encode().decode("cp1252")
    err = refusal(write(tmp_path, text.encode("utf-8")))
    assert "looks garbled as utf-8 (e.g. 'BjÃ¶rk')" in err.message and err.line == 2


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("cp1251", "Имя;Город\nИванов Сергей;Москва\nООО Ромашка;Санкт-Петербург\n"),
        ("cp1253", "Όνομα;Πόλη\nΠαπαδόπουλος;Αθήνα\nΓιώργος;Θεσσαλονίκη\n"),
        ("cp1250", "Nazwa;Miasto\nŁukasz Wójcik;Łódź\nZieliński;Kraków\nDąbrowski;Gdańsk\n"),
    ],
    ids=["Russian", "Greek", "Polish"],
)
def test_text_of_another_script_or_region_is_refused(tmp_path: Path, encoding: str, text: str) -> None:
    """None of the encodings that are tried reads it as names: refused, not imported as garbage."""
    err = refusal(write(tmp_path, text.encode(encoding)))
    assert err.message.startswith("the text looks garbled as ") and err.line in (1, 2)


def test_a_given_encoding_is_read_as_given_even_when_it_looks_garbled(tmp_path: Path) -> None:
    raw = "Namn;Ort\nBjörk AB;Malmö\n".encode().decode("cp1252").encode()
    _, rows = read(write(tmp_path, raw), encoding="utf-8")
    assert rows == [("BjÃ¶rk AB", "MalmÃ¶")]
    source, rows = read(write(tmp_path, "Namn;Ort\nBjörk AB;Malmö\n".encode("cp850")), encoding="cp1252")
    assert (source.encoding, rows) == ("cp1252", [("Bj\u201drk AB", "Malm\u201d")])


# -- never refused: ordinary files ----------------------------------------------------------------------------------

ORDINARY = (
    "Kundnummer;Namn;Adress;Postnummer;Ort;Anteckningar\r\n"
    "1001;Åsa Öberg;Storgatan 1;114 18;Stockholm;\r\n"
    "1002;Björk & Söner AB;Första Långgatan 12;413 27;Göteborg;Rabatt 5 %\r\n"
    "1003;Jääskeläinen Oy;Hämeentie 3;00530;Helsinki;“Stamkund” – ring först\r\n"
    "1004;Müller GmbH;Hauptstraße 7;50667;Köln;Limit 5000 €, ½ år\r\n"
    "1005;Ærø Fisk ApS;Østerbrogade 9;2100;København Ø;\r\n"
)
RARE_LETTERS = (
    "Namn;Ort\r\nŠimon Žák;Brno\r\nZoë Lefèvre;Genève\r\nFrançois Garçon;Besançon\r\nÞór Guðmundsson;Reykjavík\r\n"
    "Núñez;A Coruña\r\nÅngström;Ångermanland\r\nSTRAßE;GROßHANDEL\r\n"
)


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8", "utf-8-sig"])
@pytest.mark.parametrize("text", [ORDINARY, RARE_LETTERS], ids=["ordinary", "rare letters"])
def test_ordinary_nordic_files_are_read_not_refused(tmp_path: Path, encoding: str, text: str) -> None:
    source, rows = read(write(tmp_path, text.encode(encoding)))
    assert (source.encoding, rows) == (encoding, records(text.replace("\r\n", "\n")))
