"""Benchmark: how often the encoding of a generated Nordic or German export that is not UTF-8 is detected right,
and how long detection takes.

    uv run python bench/encoding_bench.py [--files 200]
    uv run --with charset-normalizer python bench/encoding_bench.py  # also charset-normalizer's guess

For each of cp1252, iso8859-15, cp850, cp437 and mac_roman: --files short exports (a header and 3 rows) and as
many long ones (1200 rows, more than the 64 KiB sample), in every style of tests/fakes/nordic.py. Right means the
rows read are the rows written (cp850 and cp437 write Swedish alike: either is right for it); a refused file counts
as wrong. The time is that of measuring the sample (`_likeliest_8bit`) on the first 64 KiB of each long file: the
median and the slowest, and that of the worst case, random bytes.
"""

import argparse
import collections
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.csv_source import EIGHT_BIT_ENCODINGS, CsvSource, SourceError, _likeliest_8bit  # noqa: E402
from tests.fakes.nordic import export  # noqa: E402


def read_right(path: Path, text: str) -> bool:
    try:
        source = CsvSource(path)
    except SourceError:
        return False
    return path.read_bytes().decode(source.encoding, "replace") == text


def charset_normalizer_right(raw: bytes, text: str) -> bool | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:
        return None
    best = from_bytes(raw[: 64 * 1024], cp_isolation=list(EIGHT_BIT_ENCODINGS)).best()
    return best is not None and raw.decode(best.encoding, "replace") == text


def measuring_time(sample: bytes) -> float:
    """The fastest of 3 (the machine may be busy with other work)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        _likeliest_8bit(sample)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200, help="short and long files per encoding (each)")
    args = parser.parse_args()
    times: list[float] = []
    by_style: collections.Counter[str] = collections.Counter()
    wrong_by_style: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        for encoding in EIGHT_BIT_ENCODINGS:
            line = [f"{encoding:<11}"]
            for rows in (3, 1200):
                right = others = 0
                for seed in range(args.files):
                    style, text = export(seed, rows, encoding)
                    raw = text.encode(encoding)
                    path.write_bytes(raw)
                    ok = read_right(path, text)
                    right += ok
                    by_style[style] += 1
                    wrong_by_style[style] += not ok
                    others += bool(charset_normalizer_right(raw, text))
                    if rows > 3:
                        times.append(measuring_time(raw[: 64 * 1024]))
                found = f"{rows:>4} rows: {right}/{args.files} right"
                if charset_normalizer_right(b"x\xe4", "xä") is not None:
                    found += f" (charset-normalizer: {others})"
                line.append(found)
            print("  ".join(line))
    print("wrong by style:", ", ".join(f"{s} {wrong_by_style[s]}/{n}" for s, n in by_style.items()))
    median, slowest = statistics.median(times) * 1000, max(times) * 1000
    print(f"measuring a 64 KiB sample: median {median:.1f} ms, slowest {slowest:.1f} ms")
    worst = measuring_time(random.Random(0).randbytes(64 * 1024).replace(b"\0", b"\xff"))
    print(f"and 64 KiB of random bytes (every piece of context different): {worst * 1000:.1f} ms")


if __name__ == "__main__":
    main()
