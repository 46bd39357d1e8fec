"""A roster as a Swedish accounting program exports it: semicolons, Windows-1252, Swedish headers and letters,
a column no alias knows, and rows a person has to fix."""

HEADERS = ["Kundnr", "Företagsnamn", "Organisationsnummer", "E-post", "Telefon", "Gatuadress", "Postnr", "Ort",
           "Betalvillkor", "Säljare"]  # fmt: skip
ROWS = [
    ["1001", "Åkerlunds Bygg AB", "556036-0793", "info@akerlund.se", "08-123 45 67", "Storgatan 1", "114 51",
     "Stockholm", "30", "Örjan"],
    ["1002", "Göteborgs Kaffe & Te", "556074-7551", "kontakt(at)gbgkaffe.se", "031-22 33 44", "Avenyn 5", "411 36",
     "Göteborg", "30", "Märta"],
    ["1003", "Malmö Möbler AB", "556016-0680", "order@malmomobler.se", "040-55 66 77", "Södergatan 9", "211 34",
     "Malmö", "10", "Örjan"],
    ["1004", "Norrlands Skog HB", "556000-0000", "skog@norrland.se", "090-12 12 12", "Skogsvägen 3", "903 25",
     "Umeå", "20", "Märta"],
    ["1005", "Ölands Glass", "556703-7485", "hej@olandsglass.se", "0485-123 45", "Strandvägen 2", "387 33",
     "Borgholm", "15", "Örjan"],
]  # fmt: skip
FIXED = {"1002": ("E-post", "kontakt@gbgkaffe.se"), "1004": ("Organisationsnummer", "556677-8899")}


def swedish_csv(rows: list[list[str]] = ROWS) -> bytes:
    lines = [";".join(HEADERS), *(";".join(r) for r in rows)]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")
