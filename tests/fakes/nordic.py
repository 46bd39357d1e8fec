"""Generated Nordic and German customer exports, as an accountant's old system writes them in some encoding: for
the tests and the benchmark of encoding detection (bench/encoding_bench.py)."""

import csv
import io
import random
import unicodedata

FIRST = {
    "sv": ("Åsa", "Björn", "Göran", "Mårten", "Maja", "Erik", "Anna", "Lars", "Karin", "Sören", "Örjan", "Håkan"),
    "da": ("Søren", "Jørgen", "Bjørn", "Mette", "Anders", "Frederik", "Rasmus", "Kirsten", "Jens", "Aase", "Bodil"),
    "fi": ("Päivi", "Jyrki", "Mikko", "Sanna", "Tiina", "Jukka", "Hannu", "Eeva", "Kalle", "Väinö", "Kyösti"),
    "de": ("Jürgen", "Jörg", "Günter", "Käthe", "Uwe", "Sabine", "Klaus", "Dörte", "Götz", "Bärbel", "Hans-Jürgen"),
}
LAST = {
    "sv": ("Öberg", "Björk", "Ström", "Åkesson", "Sjögren", "Lindqvist", "Bäckström", "Stråd", "Ågren", "Jönsson"),
    "da": ("Jørgensen", "Sørensen", "Møller", "Kjær", "Nørgaard", "Østergaard", "Bæk", "Høj", "Hansen", "Skovgård"),
    "fi": ("Jääskeläinen", "Mäkinen", "Häkkinen", "Kärkkäinen", "Räikkönen", "Pöyhönen", "Virtanen", "Hämäläinen"),
    "de": ("Müller", "Schröder", "Köhler", "Weiß", "Groß", "Schäfer", "Fuß", "Möller", "Krüger", "Jäger", "Wagner"),
}
CITY = {
    "sv": ("Malmö", "Göteborg", "Umeå", "Västerås", "Jönköping", "Örebro", "Luleå", "Gävle", "Uppsala", "Växjö"),
    "da": ("Århus", "København", "Ærøskøbing", "Køge", "Næstved", "Odense", "Aalborg", "Sønderborg", "Hørsholm"),
    "fi": ("Helsinki", "Jyväskylä", "Hämeenlinna", "Seinäjoki", "Mäntsälä", "Espoo", "Tampere", "Järvenpää"),
    "de": ("München", "Köln", "Düsseldorf", "Nürnberg", "Göttingen", "Lübeck", "Würzburg", "Gießen", "Berlin"),
}
STREET = {
    "sv": ("Storgatan", "Drottninggatan", "Västra Hamngatan", "Östra Förstadsgatan", "Södra Vägen", "Åsgatan"),
    "da": ("Østerbrogade", "Nørrebrogade", "Vesterbrogade", "Strøget", "Åboulevarden", "Søndergade", "Møllevej"),
    "fi": ("Mannerheimintie", "Hämeentie", "Pääskylänkatu", "Yliopistonkatu", "Länsiväylä", "Keskuskatu"),
    "de": ("Hauptstraße", "Bahnhofstraße", "Königsallee", "Schloßstraße", "Mühlweg", "Am Südhang", "Gartenstraße"),
}
SUFFIX = {"sv": ("AB", "HB"), "da": ("ApS", "A/S"), "fi": ("Oy", "Ky"), "de": ("GmbH", "KG", "e.K.")}
COUNTRY = {"sv": "Sverige", "da": "Danmark", "fi": "Suomi", "de": "Deutschland"}
HEADER = ("Kundnummer", "Namn", "Kontaktperson", "Adress", "Postnummer", "Ort", "Land", "Anteckningar")
NOTES = ("", "", "", "Rabatt 5 %", "Faktura via e-post", "Ring först", "Lieferung frei Haus", "Betaling 8 dage")
# Names with letters that are rare here, and notes with the signs of ordinary text.
RARE = ("Zoë Lefèvre", "René Côté", "François Garçon", "Šimon Žák", "Núñez", "Ångström", "Þór Guðmundsson")
SIGNS = ("Kreditgräns 5000 €", "Rabatt ½ %", "Lager 4 °C", "§ 14 UStG", "“Stamkund”", "Bygg – Måleri", "Größe 2 m²")
STYLES = ("plain", "caps", "sparse", "rare", "signs")


def encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def export(seed: int, rows: int, encoding: str, style: str | None = None) -> tuple[str, str]:
    """(style, the CSV text) of an export of `rows` customers whose every character `encoding` has.

    Styles: plain; caps (an old system's upper case); sparse (one non-ASCII letter in the whole file: the hardest
    case, sometimes ambiguous); rare (some names with letters like Š, Ž, ë, Þ); signs (notes with €, ½, °, “”).
    cp437 has no ø: a Danish DOS export is cp865 or cp850, so cp437 files are Swedish, Finnish or German."""
    r = random.Random(f"{seed}/{rows}/{encoding}")
    style = style or r.choice(STYLES)
    langs = [lang for lang in FIRST if encodable("".join(STREET[lang] + CITY[lang] + LAST[lang]), encoding)]
    main = r.choice(langs)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=r.choice(";,\t"), lineterminator=r.choice(("\r\n", "\n")))
    writer.writerow(HEADER)
    for i in range(rows):
        lang = main if r.random() < 0.85 else r.choice(langs)
        first, last = r.choice(FIRST[lang]), r.choice(LAST[lang])
        name = f"{last} {r.choice(SUFFIX[lang])}" if r.random() < 0.6 else f"{first} {last}"
        contact = f"{r.choice(FIRST[lang])} {r.choice(LAST[lang])}"
        note = r.choice(NOTES)
        if style == "rare" and r.random() < 0.5:
            contact = r.choice([v for v in RARE if encodable(v, encoding)])
        if style == "signs" and r.random() < 0.5:
            note = r.choice([v for v in SIGNS if encodable(v, encoding)])
        street = f"{r.choice(STREET[lang])} {r.randint(1, 120)}"
        row = [str(10000 + i), name, contact, street, str(r.randint(10000, 99999)), r.choice(CITY[lang]), COUNTRY[lang]]
        writer.writerow([*(_caps(v) if style == "caps" else v for v in row), note])
    text = out.getvalue()
    if style == "sparse":
        text = _one_non_ascii(text, r)
    return style, text


def _caps(value: str) -> str:
    """Upper case as old systems wrote it: ß stays (there was no capital ß)."""
    return "ß".join(part.upper() for part in value.split("ß"))


_SPELT = {"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ð": "d", "Þ": "Th"}


def _one_non_ascii(text: str, r: random.Random) -> str:
    """The text with every non-ASCII character but one (picked at random) spelt in ASCII."""
    spots = [i for i, c in enumerate(text) if not c.isascii()]
    keep = r.choice(spots) if spots else -1
    return "".join(c if c.isascii() or i == keep else _ascii(c) for i, c in enumerate(text))


def _ascii(c: str) -> str:
    return _SPELT.get(c) or unicodedata.normalize("NFKD", c).encode("ascii", "ignore").decode() or "?"
