"""A person's whole import in a real browser: sign in, upload a Swedish export, fix its mapping, preview, run,
fix the failed rows in place, download the report; the layout remembered next time; another company sees
nothing of it."""

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.api.conftest import Served
from tests.web.conftest import person, sign_in
from tests.web.files import FIXED, HEADERS, swedish_csv


def drop_file(page: Page, name: str, data: bytes) -> None:
    """Drag and drop, as a person does from their file manager."""
    transfer = page.evaluate_handle(
        """([name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, {type: "text/csv"}));
            return transfer;
        }""",
        [name, list(data)],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def finished(page: Page) -> None:
    expect(page.locator("[data-progress]")).to_have_count(0, timeout=30_000)


def test_an_accountant_imports_a_swedish_roster_and_fixes_what_failed(
    browser: Browser, served: Served, make_key: Callable[[str, str], str], shots: Path
) -> None:
    key = make_key("acme", "imports:write,customers:read")
    context = person(browser, served)
    page = context.new_page()
    sign_in(page, key)
    expect(page.locator("[data-test=company]")).to_have_text("acme")
    expect(page.get_by_role("link", name="Connections")).to_have_count(0)  # the key has no connections scope
    session = next(c for c in context.cookies() if c["name"] == "rs_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict" and key not in session["value"]

    drop_file(page, "kunder.csv", swedish_csv())
    expect(page.locator("#chosen")).to_have_text("kunder.csv")
    page.screenshot(path=shots / "1-upload.png")
    page.get_by_role("button", name="Upload").click()

    # The mapping: every Swedish header matched but one, which stands out; nothing written yet.
    page.wait_for_url("**/mapping")
    seller = page.locator("tr[data-header='Säljare']")
    expect(seller).to_have_class("unmapped")
    expect(page.locator("tr[data-header='E-post'] td").nth(1)).to_have_text("alias")
    expect(page.locator("tr[data-header='Företagsnamn'] .samples span").first).to_have_text("Åkerlunds Bygg AB")
    seller.get_by_role("combobox").select_option("notes")
    page.get_by_label("country").fill("SE")
    page.screenshot(path=shots / "2-mapping.png", full_page=True)

    # The preview: a dry run of the file under the mapping on the form, failing cells marked.
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    expect(preview.locator("[data-count=failed]")).to_have_text("2")
    expect(preview.locator("[data-count=total]")).to_have_text("5")
    expect(preview.locator("td.bad")).to_have_count(2)
    expect(seller.get_by_role("combobox")).to_have_value("notes")  # the form as the person left it
    page.screenshot(path=shots / "3-preview.png", full_page=True)
    assert served.client(key).get("/api/v1/companies/acme/customers").json()["data"] == []

    page.get_by_role("button", name="Confirm and import").click()
    finished(page)
    expect(page.locator("[data-test=status]")).to_have_text("partially succeeded")
    expect(page.locator("[data-count=created]")).to_have_text("3")
    rows = page.locator("#retry tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first.locator(".reason")).not_to_be_empty()
    page.screenshot(path=shots / "4-failed-rows.png", full_page=True)

    # Fix the two failed cells in place and retry just those rows.
    column = {h: i for i, h in enumerate(HEADERS)}
    for number, (header, value) in zip(("3", "5"), FIXED.values(), strict=True):
        row = page.locator(f"#retry tr[data-row='{number}']")
        cell = row.locator("input[name^=row-]").nth(column[header])
        expect(cell).to_have_attribute("aria-invalid", "true")
        cell.fill(value)
        expect(row.locator("input[name=retry]")).to_be_checked()
    first_run = page.url
    page.get_by_role("button", name="Retry these rows").click()
    page.wait_for_url(lambda url: url != first_run)
    finished(page)
    expect(page.locator("[data-test=status]")).to_have_text("succeeded")
    expect(page.locator("[data-count=created]")).to_have_text("2")
    expect(page.locator("[data-count=failed]")).to_have_text("0")
    page.reload()  # where the whole file stands, now that its retry has finished
    family = page.locator("[data-test=family]")
    expect(family).to_contain_text("(2): 5 rows")
    expect(family).to_contain_text("Created 5")
    expect(family).to_contain_text("still failing 0")
    page.screenshot(path=shots / "5-retried.png", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the report (;)").click()
    report = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8")), delimiter=";"))
    assert report[0][:2] == ["row_number", "status"] and {r[1] for r in report[1:]} == {"created"}

    customers = served.client(key).get("/api/v1/companies/acme/customers").json()["data"]
    assert sorted(c["name"] for c in customers)[:2] == ["Göteborgs Kaffe & Te", "Malmö Möbler AB"]
    assert len(customers) == 5

    # The same layout again: the remembered mapping is proposed, one click imports, nothing is made twice.
    page.goto("/app/")
    page.set_input_files("#file", files=[{"name": "kunder-maj.csv", "mimeType": "text/csv", "buffer": swedish_csv()}])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url("**/mapping")
    expect(page.locator("[data-test=remembered]")).to_be_visible()
    expect(page.locator("tr[data-header='Säljare'] select")).to_have_value("notes")
    page.get_by_role("button", name="Confirm and import").click()
    finished(page)
    expect(page.locator("[data-count=created]")).to_have_text("0")
    assert len(served.client(key).get("/api/v1/companies/acme/customers").json()["data"]) == 5
    run_path = page.url.removeprefix(served.url)

    # Another company's key: none of it.
    other = person(browser, served).new_page()
    sign_in(other, make_key("globex", "imports:write"))
    other.goto("/app/runs")
    expect(other.get_by_text("No runs yet.")).to_be_visible()
    for path in (run_path, f"{run_path}/report", f"{run_path}/progress"):
        assert other.goto(path).status == 404  # type: ignore[union-attr]
    expect(other.locator("h1")).to_have_text("Not found")


def test_swedish_at_320_pixels_with_the_keyboard(
    browser: Browser, served: Served, make_key: Callable[[str, str], str], shots: Path
) -> None:
    context = person(browser, served, locale="sv-SE")
    page = context.new_page()
    page.set_viewport_size({"width": 320, "height": 700})
    page.goto("/app/")
    expect(page.locator("h1")).to_have_text("Logga in")
    page.keyboard.type(make_key("acme", "imports:write"))  # the key field has the focus
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Ladda upp en fil")

    rows = [
        [str(2000 + n), f"Företag {n} AB", "", f"info{n}@foretag.se", "", "", "", "", "30", ""] for n in range(1500)
    ]
    page.set_input_files("#file", files=[{"name": "stor.csv", "mimeType": "text/csv", "buffer": swedish_csv(rows)}])
    page.get_by_role("button", name="Ladda upp").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/mapping")
    expect(page.locator("h1")).to_have_text("Bekräfta kolumnerna")
    expect(page.locator("main > p").first).to_contain_text("1\u00a0500 rader")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input:not([type=hidden]), select, button")].filter(
            (e) => !(e.labels?.length || e.getAttribute("aria-label") || e.getAttribute("aria-labelledby")
                     || e.textContent.trim())).length"""
    )
    assert unlabelled == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 320  # wide tables scroll in their box
    page.screenshot(path=shots / "mapping-sv-320.png", full_page=True)

    page.goto("/app/runs")
    expect(page.locator("tbody td").nth(4)).to_have_text(re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$"))
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Runs")
