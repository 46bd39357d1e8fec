"""A large export from upload to a confirmed mapping, as the mapping page does it: the person should not wait."""

import time
from collections.abc import Callable

from tests.api.conftest import Served
from tests.web.files import swedish_csv
from tests.web.test_sessions import signed_in

ROWS = 50_000
BOUND_S = 2.0


def test_a_50000_row_file_is_uploaded_and_its_mapping_confirmed_in_under_2_s(
    served: Served, make_key: Callable[[str, str], str]
) -> None:
    rows = [[str(10_000 + n), f"Företag {n} Åkesson AB", f"55{n:08d}"[:10], f"info{n}@företag{n % 97}.se",
             f"08-{n % 1000:03d} {n % 100:02d} 00", f"Storgatan {n % 120}", f"{11000 + n % 8000}", "Örebro",
             "30", "Märta"] for n in range(ROWS)]  # fmt: skip
    data = swedish_csv(rows)
    client, csrf = signed_in(served, make_key("acme", "imports:write"))
    started = time.perf_counter()
    uploaded = client.post("/app/imports", data={"kind": "customers", "csrf": csrf},
                           files={"file": ("kunder.csv", data, "text/csv")})  # fmt: skip
    mapping = client.get(uploaded.headers["location"])
    assert "50,000 rows" in mapping.text  # the page a person reads before confirming
    form = {"csrf": csrf, "field-9": "notes", "default-country": "SE"}
    confirmed = client.post(uploaded.headers["location"], data=form)
    took = time.perf_counter() - started
    print(f"\n{ROWS} rows, {len(data) / 1e6:.1f} MB: upload to confirmed mapping in {took:.2f} s")
    assert confirmed.status_code == 303, confirmed.text[:500]
    assert took < BOUND_S
