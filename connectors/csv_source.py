"""Streaming CSV reading for accountants' customer/supplier exports.

The stdlib `csv` module is used (not pandas) because reports must name the line a person sees in an editor,
also for records with embedded newlines, and a record with too many values must become a failed row rather
than be dropped.

* `CsvSource(path)` detects the encoding (BOM, UTF-16 NUL pattern, strict UTF-8, else the 8-bit encoding of
  Windows, ISO, DOS or Mac that reads the text most like names) and the delimiter (`,` `;` tab `|`), and reads the
  header.  Problems found there raise `SourceError` at once, also text that looks garbled in the encoding detected.
* `check()` is a full streaming pre-pass: it raises `SourceError` for anything structural (binary content,
  undecodable bytes, an unterminated quoted field, a value longer than 1 MiB, a line longer than 2 MiB, no
  data rows) and returns the number of data rows.
* `rows()` streams `SourceRow`s in constant memory; it raises the same `SourceError`s if it meets them.
  Memory stays bounded on any input: a line is never held whole beyond `MAX_LINE_BYTES`.
  Row-level problems (too many values, malformed quoting) are `SourceRow.error`s and reading continues.

Every value is the exact cell text: nothing is converted or stripped.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import IO, TYPE_CHECKING, Final, NamedTuple

if TYPE_CHECKING:
    import _csv

__all__ = [
    "DELIMITERS",
    "EIGHT_BIT_ENCODINGS",
    "MAX_COLUMNS",
    "MAX_LINE_BYTES",
    "MAX_VALUE_CHARS",
    "CsvSource",
    "SourceError",
    "SourceRow",
    "escape_cell",
    "header_names",
    "unescape_cell",
]

MAX_VALUE_CHARS: Final = 1 << 20  # "1 MiB": csv counts characters
MAX_COLUMNS: Final = 500
# A physical line of more bytes (code units in UTF-16 and UTF-32) is refused as it is read, before the text
# layer holds it whole: a line without a break would otherwise be read into memory entire.  Room for a value at
# the cap (in text of mostly 1-byte characters) and the rest of its row; not more, as it also bounds a row of
# very many short values, each of them a string while the row is parsed (some 50 MB at this size).
MAX_LINE_BYTES: Final = 2 << 20
DELIMITERS: Final = (";", ",", "\t", "|")  # order = preference when two candidates score the same

_SAMPLE_BYTES: Final = 64 * 1024
_ASCII_SCAN_BYTES: Final = 16 * 1024 * 1024  # how far to look for the first non-ASCII byte of an ASCII head
_SNIFF_RECORDS: Final = 50
_READ_BUFFER: Final = 1 << 20
# A NUL or two in a MiB of text is a damaged value, whose row fails; more is binary data, and the file is refused.
_STRAY_NULS: Final = 4
_FALLBACK_ERRORS: Final = "rostersync-cp1252-latin1"
# C0 controls that do not occur in text files (tab, LF, CR, FF and the DOS EOF mark 0x1A are allowed).
_CONTROL_CHARS: Final = tuple(chr(c) for c in (*range(1, 9), 0x0B, *range(0x0E, 0x1A), *range(0x1B, 0x20)))
_BINARY_CHARS: Final = ("\x00", *_CONTROL_CHARS)
# Cells a spreadsheet runs as a formula (OWASP "CSV Injection"): one starting with = or @ (Excel's implicit
# intersection), or with tab or CR, which OWASP lists as well: a spreadsheet may drop them and read on.
_FORMULA_STARTS: Final = frozenset("=@\t\r")
# A leading + or - starts a formula too, but one of only digits and number punctuation computes a number (or an
# error) at most: it can call no function, link or DDE (which take letters, | or !).  Phone numbers and amounts
# of this shape ("+46 8 123 45 67", "-12,50", a "-" placeholder) are left alone; "- text" is not of it, as
# "- HYPERLINK(...)" is a formula.
_SIGNED_NUMBER: Final = re.compile(r"[+-][0-9 \u00a0\u202f().,/-]*")
# What `unescape_cell` takes a `'` off: every start the escape ever covered.  Reports written before the shape
# above was left alone escaped every + and -, and still reimport as their values.
_ESCAPED_STARTS: Final = frozenset("=+-@\t\r")
_ASCII_BYTES: Final = bytes(range(128))
# Encodings in which a line break is the byte 0x0A and that byte is nothing else (names as codecs.lookup gives them).
_LINE_BYTE_ENCODINGS: Final = frozenset(
    {
        *("utf-8", "utf-8-sig", "ascii", "cp850", "cp437", "mac-roman"),
        *(f"cp125{i}" for i in range(9)),
        *(f"iso8859-{i}" for i in range(1, 17)),
    }
)
# Codecs that say they turn bytes into text but are not how a text file is stored (see the codecs docs).
_NOT_FILE_ENCODINGS: Final = frozenset({"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined"})
_MALFORMED_QUOTES: Final = 'malformed quoting: text after a closing quote (write "" for a quote inside a quoted value)'


def header_names(record: Sequence[str]) -> tuple[str, ...]:
    """The column names of a header record, trailing empty cells left out; ValueError names what is wrong."""
    width = len(record)
    while width and not record[width - 1].strip():
        width -= 1
    if width > MAX_COLUMNS:
        raise ValueError(f"the header has {width} columns, at most {MAX_COLUMNS} are supported")
    names = [cell.strip().lstrip("\ufeff").strip() for cell in record[:width]]
    seen: dict[str, int] = {}
    for i, name in enumerate(names, 1):
        if not name:
            raise ValueError(f"column {i} of the header has no name")
        if "\x00" in name:
            raise ValueError(f"column {i} of the header holds a NUL character")
        if name in seen:
            raise ValueError(f"duplicate column name {name!r} (columns {seen[name]} and {i})")
        seen[name] = i
    return tuple(names)


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Decode the 5 bytes cp1252 leaves undefined (0x81 0x8D 0x8F 0x90 0x9D) as latin-1 does."""
    if isinstance(exc, UnicodeDecodeError):
        return exc.object[exc.start : exc.end].decode("latin-1"), exc.end
    raise exc


codecs.register_error(_FALLBACK_ERRORS, _latin1_fallback)

# A file that is not UTF-8 is read in the one of these that reads its sample most like names and addresses
# (`_likeliest_8bit`): Windows, ISO with the euro sign, DOS (Western Europe, US) and Mac.  In this order where two
# read it equally well: they then mostly read it alike (cp1252 and iso8859-15 differ in €, Š, Ž, Œ, Ÿ and some
# signs, cp850 and cp437 in ø, Ø and some signs), and the commoner is taken.
EIGHT_BIT_ENCODINGS: Final = ("cp1252", "iso8859-15", "cp850", "cp437", "mac_roman")
# How a reading is measured.  For it: each letter that Nordic and German names, streets and towns are written with.
# Against it: a character no name or address holds (box drawing, Greek, maths, controls, ¤ ¦ ƒ...), a sign inside a
# word ('Bj”rk'), a capital inside a word ('StrŒd', 'BjÜrk') or a small letter before one ('üRHUS'; not ß, which old
# systems wrote in STRAßE), and each letter of a run of three or more non-ASCII ones (another script read as
# Latin).  Other Latin letters (Š, ë, ñ...) and signs of ordinary text (€, ½, “, –...) count neither way.  Each
# wrong reading of such text turns its ä, ö and å into characters against it: that is what tells them apart.
_NAME_LETTERS: Final = "åäöÅÄÖæøÆØüÜßéÉ"
_LATIN: Final = "À-ÖØ-öø-ſ"  # the letters of Latin-1 and Latin Extended-A
_SIGNS: Final = "€£§°½¼¾²³«»–—‘“”„…•´·©®™µ±×‰ªº¿¡"
_SPACING: Final = "\xa0\xad’"  # no-break space, soft hyphen, the apostrophe of O’Brien: at home inside a word too
_CAPITALS: Final = "À-ÖØ-ÞŠŒŽŸ"
_SMALL: Final = "a-zß-öø-ÿšœž"
_LETTER: Final = r"[^\W\d_]"
_FOR: Final = re.compile(f"[{_NAME_LETTERS}]")
_AGAINST: Final = re.compile(
    f"[^\\x00-\\x7f{_LATIN}{_SIGNS}{_SPACING}]"
    f"|(?<={_LETTER})[{_SIGNS}](?={_LETTER})"
    f"|(?<=[{_SMALL}])[{_CAPITALS}]|(?<={_LETTER})[{_CAPITALS}](?=[{_SMALL}])"
    f"|[à-öø-ÿšœž](?=[A-Z{_CAPITALS}])"
)
_RUN: Final = re.compile(f"[{_LATIN}]{{3,}}")
# Non-ASCII bytes with the byte on each side, the context the measure looks at.
_NON_ASCII: Final = re.compile(rb".?[\x80-\xff]+.?", re.DOTALL)
# The UTF-8 of a Latin-1 letter ('Ã¶' for ö in cp1252): never in names, but in UTF-8 rows pasted into an 8-bit
# file, and in UTF-8 that was read as cp1252 and saved as UTF-8 again.
_UTF8_OF_LATIN1: Final = re.compile(rb"[\xc2\xc3][\x80-\xbf]")
_WORD_END: Final = re.compile(r'[\s,;|"]')


class SourceError(Exception):
    """A fatal problem with the file: nothing from it may be written."""

    def __init__(self, path: str, message: str, line: int | None = None, *, sheet: str | None = None) -> None:
        """`sheet`: the workbook sheet read, whose `line`s are its row numbers."""
        self.path = str(path)
        self.message = " ".join(str(message).split())  # always one line
        self.line = line
        self.sheet = sheet
        super().__init__(self.path, self.message, line)

    def __reduce__(self) -> tuple[type[SourceError], tuple[str, str, int | None], dict[str, str | None]]:
        # A reading process sends it back pickled: the sheet travels as state, as it is no positional argument.
        return type(self), (self.path, self.message, self.line), {"sheet": self.sheet}

    def __str__(self) -> str:
        where = os.path.basename(self.path) or self.path
        if self.sheet is not None:
            where += f", sheet {self.sheet!r}"
        if self.line is not None:
            where += f", {'row' if self.sheet is not None else 'line'} {self.line}"
        return f"{where}: {self.message}"


class SourceRow(NamedTuple):
    """One record (a named tuple: one is made for every row of a file, and it is cheaper to make than a frozen
    dataclass)."""

    line: int  # 1-based line where the record starts, as a person sees it in an editor
    values: tuple[str, ...]  # raw cell texts in header order, exactly len(headers) of them unless `error`
    error: str | None = None  # row-level problem; the values are then every value the line had
    column: int | None = None  # the column (index in the header) the error is about, when it is one cell's


def escape_cell(value: str) -> str:
    """Make a cell safe to open in a spreadsheet: prefix `'` when a spreadsheet would run it as a formula.

    A value that already is `'`s followed by a character `unescape_cell` looks for gets one more `'`, so that
    `unescape_cell(escape_cell(v)) == v` for every string.
    """
    if _runs_as_formula(value) or _unescapes(value):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """Undo `escape_cell`: drop one leading `'` when the quotes are followed by = + - @ tab or CR."""
    return value[1:] if _unescapes(value) else value


def _runs_as_formula(value: str) -> bool:
    first = value[:1]
    return first in _FORMULA_STARTS or (first in ("+", "-") and _SIGNED_NUMBER.fullmatch(value) is None)


def _unescapes(value: str) -> bool:
    return value[:1] == "'" and value.lstrip("'")[:1] in _ESCAPED_STARTS


class _NulFound(Exception):
    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


class _LongLine(Exception):
    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset  # where the line starts


class _GuardedRaw(io.RawIOBase):
    """Raw reader that stops at binary data inside a text file (NUL characters), and at a line of more than
    `max_line` bytes (`_LongLine`: the text layer's readline would otherwise hold the whole line).

    Called once per buffer fill (1 MiB), so it costs nothing per row.  `unit` is 1 for 8-bit encodings
    and UTF-8 (any NUL byte), 2 for UTF-16 and 4 for UTF-32 (a NUL code unit: that many zero bytes at an
    offset that is a multiple of it).  `breaks` are LF and CR as the file stores them.  A line's length is
    its bytes before its line break; `max_line` must be more than a buffer, so that only the first and the
    last line in one can be longer.
    """

    def __init__(self, raw: IO[bytes], unit: int, breaks: tuple[bytes, ...], max_line: int) -> None:
        super().__init__()
        self._raw = raw
        self._unit = unit
        self._nul = b"\x00" * unit
        self._breaks = breaks
        self._max_line = max_line
        self._pos = 0
        self._line_start = 0  # offset of the byte after the last line break read
        self.nuls = 0  # stray NULs read so far: the rows holding them fail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        n = len(data)
        found: list[int] = []
        i = data.find(self._nul)
        while i >= 0 and len(found) <= _STRAY_NULS:
            if (self._pos + i) % self._unit == 0:
                found.append(i)
            i = data.find(self._nul, i + 1)
        if len(found) > _STRAY_NULS:
            raise _NulFound(self._pos + found[0])
        self.nuls += len(found)
        self._check_lines(data)
        buffer[:n] = data
        self._pos += n
        return n

    def _check_lines(self, data: bytes) -> None:
        """Raise `_LongLine` if the line that ends in `data`, or the one it leaves open, is too long."""
        first = len(data)  # where the first line break in data starts
        last, size = -1, 0  # where the last one starts, and its length
        for unit in self._breaks:  # LF, then CR: searched only before the first LF and after the last
            i = _first_unit(data, unit, self._pos, first)
            if i >= 0:
                first = i
            i = _last_unit(data, unit, self._pos, last + 1)
            if i > last:
                last, size = i, len(unit)
        if last >= 0:
            if self._pos + first - self._line_start > self._max_line:
                raise _LongLine(self._line_start)
            self._line_start = self._pos + last + size
        if self._pos + len(data) - self._line_start > self._max_line:
            raise _LongLine(self._line_start)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _first_unit(data: bytes, unit: bytes, pos: int, end: int) -> int:
    """Index of the first `unit` in `data[:end]` at a file offset (`pos` + index) that is a multiple of its
    length, as a character of UTF-16 or UTF-32 is; -1 if none."""
    size = len(unit)
    i = data.find(unit, 0, end)
    while i >= 0 and (pos + i) % size:
        i = data.find(unit, i + 1, end)
    return i


def _last_unit(data: bytes, unit: bytes, pos: int, start: int) -> int:
    """Index of the last `unit` in `data[start:]` at an offset as in `_first_unit`; -1 if none."""
    size = len(unit)
    i = data.rfind(unit, start)
    while i >= 0 and (pos + i) % size:
        i = data.rfind(unit, start, i + size - 1)
    return i


def _line_break_units(encoding: str) -> tuple[bytes, ...]:
    """LF and CR in a BOM-free encoding (the ones it can encode)."""
    units = []
    for char in "\n\r":
        try:
            units.append(char.encode(encoding))
        except UnicodeError:
            continue
    return tuple(units)


def _without_bom(encoding: str, head: bytes) -> str:
    """How the file's text after its start is decoded: a BOM comes once, at the start, and says the byte order
    of UTF-16 and UTF-32."""
    if encoding == "utf-8-sig":
        return "utf-8"
    if encoding in ("utf-16", "utf-32"):
        bom = codecs.BOM_UTF16_BE if encoding == "utf-16" else codecs.BOM_UTF32_BE
        return f"{encoding}-be" if head.startswith(bom) else f"{encoding}-le"
    return encoding


def _count_line_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _first_complete_lines(text: str) -> str:
    """The text up to its last line break (drops a line cut off by the sample size)."""
    cut = max(text.rfind("\n"), text.rfind("\r"))
    return text[: cut + 1] if cut >= 0 else ""


def _normalise_delimiter(delimiter: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    d = named.get(delimiter.lower(), delimiter)
    if len(d) != 1 or d in '"\r\n' or d.isalnum():
        raise ValueError(f"invalid delimiter {delimiter!r}: give one character such as , ; | or 'tab'")
    return d


def _sep_line(record: list[str], delimiter: str) -> str | None:
    """Excel's optional first line `sep=;` (parsed as a record, so the delimiter may have split it)."""
    text = delimiter.join(record)
    if len(text) == 5 and text[:4].lower() == "sep=":
        return text[4]
    return None


class CsvSource:
    """A CSV export, read as text, streamed row by row."""

    path: str
    name: str
    encoding: str
    delimiter: str
    headers: tuple[str, ...]
    header_line: int
    _header_end: int  # csv line_num after the header record
    _record_encoding: str  # how text after the file's start is decoded (`_without_bom`)
    plain: _PlainLayout | None = None  # set by check() for a file without quote characters
    has_nuls = False  # set by rows() once it has read a NUL: a value that holds one fails its row
    sheet: str | None = None  # a workbook's (`WorkbookSource`); a text file has none

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        name: str | None = None,
    ) -> None:
        """`name`: the file as its errors name it, when `path` is a copy of it."""
        self.path = os.fspath(path)
        self.name = name or self.path
        self._errors = "strict"
        self._encoding_given = encoding is not None
        if delimiter is not None:
            delimiter = _normalise_delimiter(delimiter)
        try:
            with open(self.path, "rb") as f:
                head = f.read(_SAMPLE_BYTES)
                at_eof = len(head) < _SAMPLE_BYTES or not f.peek(1)
                if encoding is not None:
                    self.encoding = self._given_encoding(encoding, head)
                else:
                    self.encoding = self._detect_encoding(head, at_eof, f)
        except OSError as exc:
            raise SourceError(self.name, f"cannot read the file: {exc.strerror or exc}") from None
        self._record_encoding = _without_bom(self.encoding, head)
        text = self._decode_head(head, at_eof)
        if not text.strip():
            raise SourceError(self.name, "the file is empty")
        if _binary(text):
            raise SourceError(self.name, f"not a text file (control characters in {self.encoding} text)")
        sample = text if at_eof else _first_complete_lines(text)
        self._has_sep_line = False
        if delimiter is None:
            delimiter = self._detect_delimiter(sample, at_eof)
        else:
            self._detect_sep_line(sample, delimiter)
        self.delimiter = delimiter
        self._read_header()

    # -- detection ---------------------------------------------------------------------------------

    def _given_encoding(self, encoding: str, head: bytes) -> str:
        try:
            info = codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}") from None
        name = info.name
        if not getattr(info, "_is_text_encoding", True) or name in _NOT_FILE_ENCODINGS:
            # rot13, hex, base64, zlib...: bytes to bytes or str to str; idna, unicode_escape...: not a file's.
            raise SourceError(
                self.name, f"{encoding!r} is not a character encoding of text files (such as utf-8, cp1252, utf-16)"
            )
        if name in ("utf-16", "utf-32") and head:
            boms = (
                (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
                if name == "utf-16"
                else (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
            )
            if not head.startswith(boms):
                raise SourceError(
                    self.name,
                    f"the file does not start with a {name} byte order mark; is the encoding right?"
                    f" ({name}-le or {name}-be is {name} without one)",
                    1,
                )
        # A BOM the caller did not mention must not end up in the first header.
        if name == "utf-8" and head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if name in ("utf-16-le", "utf-16-be") and head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return "utf-16"
        return name

    def _detect_encoding(self, head: bytes, at_eof: bool, f: io.BufferedReader) -> str:
        if not head:
            raise SourceError(self.name, "the file is empty")
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        nuls = head.count(0)
        if nuls > _STRAY_NULS:
            utf16 = self._utf16_without_bom(head, at_eof)
            if utf16 is None:
                raise SourceError(self.name, "not a text file (it contains NUL bytes)")
            return utf16
        bad = _utf8_error_at(head, at_eof)
        sample, offset = head, 0  # what the encoding is judged by, and where in the file it starts
        if bad is None:
            if not head.isascii() or at_eof:
                return self._unless_garbled("utf-8", head, 0)
            offset, sample, at_end = _later_non_ascii(f, len(head))
            if _utf8_error_at(sample, at_end) is None:
                return self._unless_garbled("utf-8", sample, offset)
        elif not head[:bad].isascii():
            # Valid multibyte UTF-8 before the bad byte: a damaged or mixed UTF-8 file, not an 8-bit one.
            # Reading it as UTF-8 reports the bad line instead of silently garbling every ä and ö.
            return "utf-8"
        encoding, plausible = _likeliest_8bit(sample)
        if encoding == "cp1252":
            self._errors = _FALLBACK_ERRORS
        return self._unless_garbled(encoding, sample, offset, plausible=plausible)

    def _unless_garbled(self, encoding: str, sample: bytes, offset: int, *, plausible: bool = True) -> str:
        """`encoding`, unless the sample (at byte `offset` of the file) read in it looks garbled: the UTF-8 of a
        Latin-1 letter in it (in UTF-8 text as cp1252 would read those bytes), or not `plausible` by the measure of
        `_likeliest_8bit`.  Then a SourceError: importing such text would garble every name it holds."""
        text = codecs.getincrementaldecoder(encoding)(self._errors).decode(sample)
        # In an 8-bit encoding a character is a byte; other text is encoded so (replacing what cp1252 lacks).
        found = _UTF8_OF_LATIN1.search(text.encode("cp1252", "replace") if encoding == "utf-8" else sample)
        if found is not None:
            at = found.start()
        elif not plausible:
            at = min(m.start() for m in (_AGAINST.search(text), _RUN.search(text)) if m is not None)
        else:
            return encoding
        if _binary(text):  # not text in any encoding: say that instead
            raise SourceError(self.name, f"not a text file (control characters in {encoding} text)")
        self.encoding = encoding  # the line is counted in it
        line = (self._line_at_offset(offset) if offset else 1) + _count_line_breaks(text[:at])
        word = _WORD_END.split(text[max(0, at - 20) : at])[-1] + _WORD_END.split(text[at : at + 20], maxsplit=1)[0]
        raise SourceError(
            self.name,
            f"the text looks garbled as {encoding} (e.g. {word!r}); give the file's encoding with --encoding",
            line,
        )

    @staticmethod
    def _utf16_without_bom(head: bytes, at_eof: bool) -> str | None:
        even = head[0::2].count(0)
        odd = head[1::2].count(0)
        order = ("utf-16-le", "utf-16-be") if odd >= even else ("utf-16-be", "utf-16-le")
        for name in order:
            try:
                text = codecs.getincrementaldecoder(name)("strict").decode(head, final=at_eof)
            except UnicodeDecodeError:
                continue
            if "\x00" not in text and not _binary(text):
                return name
        return None

    def _decode_head(self, head: bytes, at_eof: bool) -> str:
        decoder = codecs.getincrementaldecoder(self.encoding)(self._errors)
        try:
            return decoder.decode(head, final=at_eof)
        except UnicodeDecodeError as exc:
            line = 1 + _count_line_breaks(exc.object[: exc.start].decode(self.encoding, "replace"))
            raise SourceError(self.name, self._decode_message(exc), line) from None
        except UnicodeError as exc:  # a decoder's own complaint, e.g. a UTF-16 stream without a BOM
            raise SourceError(self.name, self._decode_message(exc), 1) from None

    def _decode_message(self, exc: UnicodeError) -> str:
        if not isinstance(exc, UnicodeDecodeError):
            return f"not {self.encoding} text ({exc}); is the encoding right?"
        bad = exc.object[exc.start : exc.start + 4].hex(" ")
        if self._encoding_given:
            hint = "is the encoding right?"
        else:
            hint = f"the start of the file looked like {self.encoding}; if it is not, pass the encoding"
        return f"bytes that are not valid {self.encoding} text ({bad}); {hint}"

    def _sniff_records(self, sample: str, delimiter: str) -> list[list[str]]:
        records: list[list[str]] = []
        try:
            for rec in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter):
                if any(rec):
                    records.append(rec)
                    if len(records) >= _SNIFF_RECORDS:
                        break
        except csv.Error:
            pass
        return records

    def _detect_sep_line(self, sample: str, delimiter: str) -> str | None:
        records = self._sniff_records(sample, delimiter)
        if records:
            sep = _sep_line(records[0], delimiter)
            if sep is not None:
                self._has_sep_line = True
                return sep
        return None

    def _detect_delimiter(self, sample: str, at_eof: bool) -> str:
        sep = self._detect_sep_line(sample, ",")
        if sep is not None:
            return sep
        if not at_eof and not self._sniff_records(sample, ","):
            # The header does not end within the sample: it is read as one value (its text ends up in messages)
            # unless refused here. With a delimiter given it is read, and the column cap applies.
            lead = sample[: len(sample) - len(sample.lstrip(" \t\r\n"))]  # blank lines before it
            line = 1 + _count_line_breaks(lead)
            raise SourceError(
                self.name, f"the header is longer than {_SAMPLE_BYTES >> 10} KiB: is this a CSV file?", line
            )
        best: tuple[tuple[bool, int, int], str] | None = None
        for d in DELIMITERS:
            records = self._sniff_records(sample, d)[1 if self._has_sep_line else 0 :]
            if not records:
                continue
            header = records[0]
            width = len(header)
            named = width
            while named and not header[named - 1].strip():
                named -= 1
            if named < 2:
                continue
            data = records[1:]
            fits = all(len(r) <= width or not any(r[width:]) for r in data)
            exact = sum(1 for r in data if len(r) in (width, named))
            score = (fits, exact, named)
            if best is None or score > best[0]:
                best = (score, d)
        return best[1] if best is not None else ","

    # -- reading -----------------------------------------------------------------------------------

    def _open(self) -> io.TextIOWrapper:
        raw = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed with the wrapper
        guarded = _GuardedRaw(raw, self._unit, _line_break_units(self._record_encoding), self._max_line)
        return io.TextIOWrapper(
            io.BufferedReader(guarded, _READ_BUFFER), encoding=self.encoding, errors=self._errors, newline=""
        )

    @property
    def _unit(self) -> int:
        """Bytes of a code unit: 2 in UTF-16, 4 in UTF-32, else 1."""
        return 2 if self.encoding.startswith("utf-16") else 4 if self.encoding.startswith("utf-32") else 1

    @property
    def _max_line(self) -> int:
        """The longest line in bytes (`MAX_LINE_BYTES` code units)."""
        return MAX_LINE_BYTES * self._unit

    def _fatal(self, exc: BaseException, start: int, reader_line: int) -> SourceError:
        """Turn an exception met while reading into the SourceError to raise."""
        if isinstance(exc, _NulFound):
            return SourceError(self.name, "not a text file (NUL byte in the data)", self._line_at_offset(exc.offset))
        if isinstance(exc, _LongLine):
            return self._long_line_error(exc.offset, start)
        if isinstance(exc, UnicodeError):
            bad_line, err = self._first_decode_error()
            return SourceError(self.name, self._decode_message(err or exc), bad_line)
        if isinstance(exc, OSError):
            return SourceError(self.name, f"cannot read the file: {exc.strerror or exc}")
        text = str(exc)
        if "field larger than field limit" in text:
            if reader_line > start:
                msg = "a quoted value runs on for more than 1 MiB (unterminated quote?)"
            else:
                msg = f"a value is longer than 1 MiB ({MAX_VALUE_CHARS:,} characters)"
            return SourceError(self.name, msg, start)
        if "unexpected end of data" in text:
            return SourceError(self.name, "unterminated quoted field (file truncated?)", start)
        return SourceError(self.name, f"unreadable CSV ({text})", start)

    def _read_header(self) -> None:
        start = 1  # line where the record being read starts
        reader_line = 0
        skip_sep = self._has_sep_line
        record: list[str] | None = None
        csv.field_size_limit(MAX_VALUE_CHARS)
        try:
            with self._open() as f:
                reader = csv.reader(f, delimiter=self.delimiter, strict=True)
                for rec in reader:
                    reader_line = reader.line_num
                    if not _is_blank(rec):
                        if not skip_sep:
                            record = rec
                            break
                        skip_sep = False
                    start = reader_line + 1
        except (csv.Error, _NulFound, _LongLine, UnicodeError, OSError) as exc:
            raise self._fatal(exc, start, reader_line) from None
        if record is None:
            raise SourceError(self.name, "the file is empty (no header line)")
        self._header_end = reader_line
        self.header_line = start
        try:
            self.headers = header_names(record)
        except ValueError as exc:
            raise SourceError(self.name, str(exc), start) from None

    def check(self, slot_rows: int = 400) -> int:
        """Read the whole file once (streaming); raise SourceError on anything structural.

        Returns the number of data rows (including rows that carry a row-level error). A file without quote
        characters is plain: every line is one record, so it is checked and later read line by line, faster
        than by the csv reader and with the same records; where every `slot_rows`-th record starts is noted
        then, so that a slot of records can be read without the lines before it (`rows(slot=...)`).
        """
        starts = self._plain_starts(slot_rows)
        if starts is not None:
            self.plain = _PlainLayout(slot_rows, starts)
            return starts[-1][2]
        return sum(1 for _ in self.rows())

    def _plain_starts(self, slot_rows: int) -> list[tuple[int, int, int]] | None:
        """For a plain file: (byte offset, line, records before it) of every `slot_rows`-th record's line, and
        last the end of the file. None when only the csv reader can tell: quotes, a lone CR, a NUL, a very
        long line, an encoding in which a line break is not the byte 0x0A, bytes that do not decode, no data
        rows (the reader also names the problem)."""
        if codecs.lookup(self.encoding).name not in _LINE_BYTE_ENCODINGS:
            return None
        decoder = codecs.getincrementaldecoder(self.encoding)(self._errors)
        encoding, errors, delimiter = self._record_encoding, self._errors, self.delimiter
        d = delimiter.encode("ascii")
        # Lines that may not be records: without the delimiter (blank, or one cell of whitespace), or only
        # delimiters. A chunk without any (the header's lines too) is counted by C loops; one with some goes
        # line by line.
        maybe_blank = re.compile(rb"\n(?:[^" + re.escape(d) + rb"\n]*|(?:" + re.escape(d) + rb")+\r?)\n")
        starts: list[tuple[int, int, int]] = []
        count, line, offset, tail = 0, 0, 0, b""
        with open(self.path, "rb") as f:
            while True:
                chunk = f.read(_READ_BUFFER)
                try:
                    decoder.decode(chunk, final=not chunk)
                except UnicodeError:
                    return None
                data = tail + chunk
                if b'"' in data or b"\x00" in data:
                    return None
                lines = data.split(b"\n")
                tail = lines.pop() if chunk else b""
                body = data[: len(data) - len(tail)]
                skip = max(0, min(len(lines), self._header_end - line))  # the header's lines
                mine = lines[skip:]
                if (
                    len(tail) > MAX_VALUE_CHARS
                    or (b"\r" in body and body.count(b"\r") != body.count(b"\r\n"))  # a CR that ends no line
                    or max(map(len, mine), default=0) > MAX_VALUE_CHARS
                ):
                    return None
                ends = list(accumulate(map(len, lines), initial=0))  # line i starts at offset + ends[i] + i
                # The chunk's lines that are records, by index in `lines`.
                records: Sequence[int]
                if maybe_blank.search(b"\n" + body + (b"" if chunk else b"\n")) is None:
                    records = range(skip, len(lines))
                else:  # the very test `_shaped` makes when the records are read (on the same text)
                    records = [
                        i
                        for i, raw in enumerate(mine, skip)
                        if not _is_blank(raw.removesuffix(b"\r").decode(encoding, errors).split(delimiter))
                    ]
                for k in range((-count) % slot_rows, len(records), slot_rows):  # the records that start a slot
                    i = records[k]
                    starts.append((offset + ends[i] + i, line + i + 1, count + k))
                count += len(records)
                line += len(lines)
                offset += len(body)
                if not chunk:
                    break
        if count == 0:
            return None
        starts.append((min(offset, os.path.getsize(self.path)), line, count))  # the last line may have no break
        return starts

    def rows(self, slot: int | None = None) -> Iterator[SourceRow]:
        """Stream the data rows.  Blank lines (and lines of only delimiters) are skipped.

        `slot`: only the records of that slot (see `check`), of a plain file."""
        if self.plain is not None:
            yield from self._plain_rows(slot)
            return
        if slot is not None:
            raise ValueError("only a plain file is read by slots")
        n = len(self.headers)
        pad = ("",) * n
        count = 0
        last = self._header_end  # line_num after the previous record: the next record starts on last + 1
        shadow = _LineShadow(self)  # the text of malformed records' lines, read only if there are any
        csv.field_size_limit(MAX_VALUE_CHARS)  # process-wide; the default (128 Ki chars) is too small
        with self._open_data() as f:
            guarded: _GuardedRaw = f.buffer.raw  # type: ignore[attr-defined]
            reader = csv.reader(f, delimiter=self.delimiter, strict=True)
            try:
                _skip_header(reader, self._header_end)
                last = reader.line_num
                while True:
                    try:
                        for rec in reader:
                            row = _shaped(rec, n, pad, last + 1)
                            if row is not None:
                                count += 1
                                # Read before its rows are: set before the row that holds the NUL is yielded.
                                self.has_nuls = guarded.nuls > 0
                                yield row
                            last = reader.line_num
                        break
                    except csv.Error as exc:
                        text = str(exc)
                        if "field larger" in text or "unexpected end of data" in text:
                            raise
                        # Malformed quoting ("abc"def): a row error; the reader resumes on the next line.
                        end = reader.line_num
                        count += 1
                        yield SourceRow(last + 1, shadow.values(last + 1, end, n), _MALFORMED_QUOTES)
                        last = end
            except (csv.Error, _NulFound, _LongLine, UnicodeError, OSError) as exc:
                raise self._fatal(exc, last + 1, reader.line_num) from None
            finally:
                shadow.close()
        if count == 0:
            raise SourceError(self.name, "there are no data rows after the header", self.header_line)

    def _open_data(self) -> io.TextIOWrapper:
        """`_open`, its failure a SourceError."""
        try:
            return self._open()
        except OSError as exc:
            raise SourceError(self.name, f"cannot read the file: {exc.strerror or exc}") from None

    def _plain_rows(self, slot: int | None) -> Iterator[SourceRow]:
        """The records of a plain file, from its lines; a slot's only when given."""
        assert self.plain is not None
        starts = self.plain.starts
        offset, line, _ = starts[0 if slot is None else slot]
        stop = starts[-1 if slot is None else slot + 1][0]
        n, d = len(self.headers), self.delimiter
        pad = ("",) * n
        encoding = self._record_encoding
        tail = b""
        with open(self.path, "rb") as f:
            f.seek(offset)
            while offset < stop:
                data = f.read(min(_READ_BUFFER, stop - offset))
                if not data:
                    raise SourceError(self.name, "the file was cut short while it was read; start a new import")
                offset += len(data)
                data = tail + data
                if offset < stop:  # whole lines only: the rest waits for the next read
                    cut = data.rfind(b"\n") + 1
                    data, tail = data[:cut], data[cut:]
                    if not data:
                        if len(tail) > MAX_LINE_BYTES:  # check() saw no line this long
                            raise SourceError(self.name, "the file changed while it was read; start a new import")
                        continue
                text = data.decode(encoding, self._errors)
                if '"' in text or "\x00" in text:
                    raise SourceError(self.name, "the file changed while it was read; start a new import")
                for raw in text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"):
                    rec = raw[:-1].split(d) if raw.endswith("\r") else raw.split(d)
                    # The usual line, a row without a call: n values, the first not empty, and so not blank
                    # (`_is_blank`) unless it is the only one and only whitespace.
                    if len(rec) == n and rec[0] and (n > 1 or not rec[0].isspace()):
                        yield SourceRow(line, tuple(rec))
                    elif (row := _shaped(rec, n, pad, line)) is not None:
                        yield row
                    line += 1

    # -- error-path helpers (never on the hot path) ------------------------------------------------

    def _scan(self, stop_offset: int | None) -> tuple[int, UnicodeError | None]:
        """Decode from the start counting line breaks; stop at a byte offset or the first bad byte.

        Returns (line number at the stop, the decode error if that is what stopped it).
        """
        decoder = codecs.getincrementaldecoder(self.encoding)(self._errors)
        breaks = 0
        pending_cr = False  # a CR that ended the previous piece may pair with an LF
        offset = 0
        with open(self.path, "rb") as f:
            while True:
                size = 64 * 1024
                if stop_offset is not None:
                    size = min(size, stop_offset - offset)
                chunk = f.read(size) if size > 0 else b""
                if not chunk:
                    if stop_offset is None:
                        try:
                            decoder.decode(b"", final=True)
                        except UnicodeError as exc:  # a multibyte character cut off at the end
                            return breaks + 1, exc
                    return breaks + 1, None
                state = decoder.getstate()
                try:
                    pieces = [decoder.decode(chunk)]
                except UnicodeError:
                    decoder.setstate(state)
                    pieces = []
                    for i in range(len(chunk)):
                        try:
                            pieces.append(decoder.decode(chunk[i : i + 1]))
                        except UnicodeError as exc:
                            text = "".join(pieces)
                            if pending_cr and text.startswith("\n"):
                                breaks -= 1
                            return breaks + _count_line_breaks(text) + 1, exc
                text = "".join(pieces)
                if pending_cr and text.startswith("\n"):
                    breaks -= 1
                breaks += _count_line_breaks(text)
                pending_cr = text.endswith("\r")
                offset += len(chunk)

    def _long_line_error(self, offset: int, start: int) -> SourceError:
        """The error for the line at byte `offset`, too long, of the record that starts on line `start`: a
        value's when the first `_max_line` bytes hold one longer than 1 MiB, else the line's length."""
        limit = self._max_line
        line = self._line_at_offset(offset)
        with open(self.path, "rb") as f:
            f.seek(offset)
            text = codecs.getincrementaldecoder(self._record_encoding)("replace").decode(f.read(limit))
        try:
            for _ in csv.reader(_delimited_pieces(text, self.delimiter), delimiter=self.delimiter):
                pass
        except csv.Error as exc:
            if "field larger" in str(exc):
                return self._fatal(exc, start, line)
        return SourceError(self.name, f"the line is longer than {limit >> 20} MiB ({limit:,} bytes)", line)

    def _line_at_offset(self, offset: int) -> int:
        return self._scan(offset)[0]

    def _first_decode_error(self) -> tuple[int | None, UnicodeError | None]:
        line, err = self._scan(None)
        return (line, err) if err is not None else (None, None)


def _delimited_pieces(text: str, delimiter: str, size: int = 1 << 16) -> Iterator[str]:
    """Text without line breaks in pieces of about `size` characters, each ending just after a delimiter, for a
    csv reader to parse in bounded memory with the same values: it ends a record at the end of a piece, where a
    value ends anyway, and continues a quoted value across it."""
    i = 0
    while i < len(text):
        j = text.find(delimiter, i + size) + 1 or len(text)
        yield text[i:j]
        i = j


def _is_blank(rec: list[str]) -> bool:
    """Whether a record is blank, skipped like an empty line (never a row, never counted): every cell empty,
    or one cell of only whitespace, whatever the header's width.  The one definition: reading the header,
    reading the rows (`_shaped`) and counting them (`check`) all ask this."""
    return not any(rec) or (len(rec) == 1 and rec[0].isspace())


def _skip_header(reader: _csv.Reader, header_end: int) -> None:
    """Read past the header: every record up to csv line `header_end` (a `sep=` line before it too)."""
    if header_end:
        for _ in reader:
            if reader.line_num >= header_end:
                break


def _shaped(rec: list[str], n: int, pad: tuple[str, ...], line: int) -> SourceRow | None:
    """A record as a row of the header's width (padded), or with every value it has and an error when it has
    more; None for a blank record (`_is_blank`)."""
    if _is_blank(rec):
        return None
    k = len(rec)
    if k == n:
        return SourceRow(line, tuple(rec))
    if k < n:
        return SourceRow(line, (*rec, *pad[k:]))
    if not any(rec[n:]):  # trailing delimiters only
        return SourceRow(line, tuple(rec[:n]))
    used = k
    while not rec[used - 1]:
        used -= 1
    # Every value is kept: the report shows the line as it was.
    return SourceRow(line, tuple(rec[:used]), f"the line has {used} values but the header has {n} columns")


@dataclass(frozen=True)
class _PlainLayout:
    """Where a plain file's slots of records start: (byte offset, line, records before), and last its end."""

    slot_rows: int
    starts: list[tuple[int, int, int]]

    @property
    def slots(self) -> int:
        return len(self.starts) - 1


class _LineShadow:
    """A second, lazily advanced line reader: gives the raw text of lines start..end (error path only).

    It opens the file when first asked and only moves forward, so fetching the text of every malformed row
    costs one extra pass at most, and a file without any costs nothing.
    """

    def __init__(self, source: CsvSource) -> None:
        self._source = source
        self._file: io.TextIOWrapper | None = None
        self._line = 0  # lines consumed so far

    def values(self, start: int, end: int, n: int) -> tuple[str, ...]:
        if self._file is None:
            self._file = self._source._open()
        lines: list[str] = []
        for line in self._file:
            self._line += 1
            if self._line >= start:
                lines.append(line)
            if self._line >= end:
                break
        text = "".join(lines)
        try:
            rec = next(csv.reader(io.StringIO(text, newline=""), delimiter=self._source.delimiter), [])
        except csv.Error:
            rec = [text]
        rec = rec[:n]
        return (*rec, *("",) * (n - len(rec)))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _binary(text: str) -> bool:
    """Whether decoded text holds more control characters (NULs too) than a text file's odd stray one."""
    return sum(map(text.count, _BINARY_CHARS)) > max(2, len(text) // 100)


def _later_non_ascii(f: io.BufferedReader, offset: int) -> tuple[int, bytes, bool]:
    """After an all-ASCII head, which ends at `offset`: 4 KiB around the first non-ASCII bytes within the next
    16 MiB (from the start of their line, at most 256 bytes before them, as context), where they start, and whether
    the file ends in them; (offset, b"", True) if there are none."""
    stop = offset + _ASCII_SCAN_BYTES
    while offset < stop:
        chunk = f.read(_READ_BUFFER)
        if not chunk:
            break
        if not chunk.isascii():
            first = len(chunk) - len(chunk.lstrip(_ASCII_BYTES))
            start = max(first - 256, chunk.rfind(b"\n", 0, first) + 1)
            probe = chunk[start : start + 4096]
            if len(probe) < 4096:
                probe += f.read(4096 - len(probe))
            return offset + start, probe, len(probe) < 4096
        offset += len(chunk)
    return offset, b"", True


def _likeliest_8bit(sample: bytes) -> tuple[str, bool]:
    """The one of `EIGHT_BIT_ENCODINGS` that reads the sample most like names and addresses (see `_NAME_LETTERS`),
    and whether that reading is plausible: has no more characters against it than for it."""
    # Each piece of context once: a name in every row says no more than once.  The first 16 KiB of them, thousands
    # of different pieces, are plenty: so the measure takes a few ms, and some 20 on 64 KiB of random bytes.
    pieces = b"\n".join(dict.fromkeys(_NON_ASCII.findall(sample)))[: 16 * 1024]
    scores: dict[str, tuple[int, int]] = {}
    for encoding in EIGHT_BIT_ENCODINGS:
        text = pieces.decode(encoding, _FALLBACK_ERRORS)  # a byte cp1252 leaves undefined is a control: against
        against = len(_AGAINST.findall(text)) + sum(map(len, _RUN.findall(text)))
        scores[encoding] = (len(_FOR.findall(text)), against)
    best = max(EIGHT_BIT_ENCODINGS, key=lambda e: scores[e][0] - scores[e][1])  # the first of equals
    return best, scores[best][1] <= scores[best][0]


def _utf8_error_at(data: bytes, final: bool) -> int | None:
    """Offset of the first byte that is not valid UTF-8 (None when all is valid)."""
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(data, final=final)
    except UnicodeDecodeError as exc:
        return exc.start
    return None
