"""The pages' two languages: what each says, and numbers and times as a reader of that language writes them.
The language is the `rs_lang` cookie's (the switch on every page), else the browser's Accept-Language."""

from datetime import datetime

from fastapi import Request

LANGUAGES = ("en", "sv")
COOKIE = "rs_lang"

# The codes the pages show as words, in English.
_EN = {
    "partially_succeeded": "partially succeeded",
    "awaiting_mapping": "awaiting its mapping",
    "learned": "remembered for this layout",
    "mapping": "chosen",
}
_SV = {
    "Sign in": "Logga in",
    "Sign out": "Logga ut",
    "API key": "API-nyckel",
    "The key is not valid (unknown or revoked).": "Nyckeln gäller inte (okänd eller återkallad).",
    "Company": "Företag",
    "Import": "Importera",
    "Runs": "Körningar",
    "Connections": "Kopplingar",
    "Upload a file": "Ladda upp en fil",
    "Drop a CSV or Excel file here, or choose one": "Släpp en CSV- eller Excelfil här eller välj en",
    "A workbook": "En arbetsbok",
    "Sheet (name or number; the first by default)": "Blad (namn eller nummer; annars det första)",
    "Row of the column names (found by default)": "Raden med kolumnnamnen (annars hittas den)",
    "File": "Fil",
    "What the file holds": "Vad filen innehåller",
    "customers": "kunder",
    "suppliers": "leverantörer",
    "Upload": "Ladda upp",
    "Confirm the mapping": "Bekräfta kolumnerna",
    "Column": "Kolumn",
    "Field": "Fält",
    "Matched by": "Matchad via",
    "Samples": "Exempel",
    "(ignore this column)": "(hoppa över kolumnen)",
    "alias": "känt namn",
    "learned": "ihågkommen för den här layouten",
    "mapping": "vald",
    "ignored": "hoppas över",
    "report": "rapportkolumn",
    "unmapped": "inte matchad",
    "suggestion": "förslag",
    "This layout was mapped before: the remembered mapping is proposed.": (
        "Den här layouten har importerats förut: den ihågkomna matchningen föreslås."
    ),
    "Values for every row": "Värden för alla rader",
    "for rows without one of their own": "för rader som saknar eget värde",
    "(none)": "(inget)",
    "country": "land",
    "customer_type": "kundtyp",
    "supplier_type": "leverantörstyp",
    "Import although some columns are not mapped": "Importera fast vissa kolumner inte är matchade",
    "Preview": "Förhandsgranska",
    "Confirm and import": "Bekräfta och importera",
    "Nothing is written before you confirm.": "Inget skrivs förrän du bekräftar.",
    "rows": "rader",
    "The whole file, after its runs": "Hela filen, efter dess körningar",
    "still failing": "misslyckas fortfarande",
    "Run": "Körning",
    "Status": "Status",
    "Kind": "Typ",
    "Source": "Källa",
    "Total": "Totalt",
    "Processed": "Behandlade",
    "Created": "Skapade",
    "Updated": "Uppdaterade",
    "Skipped": "Överhoppade",
    "Failed": "Misslyckade",
    "Started": "Startad",
    "queued": "i kö",
    "running": "pågår",
    "succeeded": "klar",
    "partially_succeeded": "delvis klar",
    "failed": "misslyckad",
    "cancelled": "avbruten",
    "awaiting_mapping": "väntar på kolumner",
    "created": "skapad",
    "updated": "uppdaterad",
    "skipped": "överhoppad",
    "You can close this page: the run goes on, and this page shows it when you come back.": (
        "Du kan stänga sidan: körningen fortsätter och syns här när du kommer tillbaka."
    ),
    "A dry run: nothing was written.": "En provkörning: inget skrevs.",
    "Failed rows": "Misslyckade rader",
    "Row": "Rad",
    "Reason": "Orsak",
    "Retry": "Försök igen",
    "Skip to content": "Till innehållet",
    "Choose a file to upload.": "Välj en fil att ladda upp.",
    "Choose customers or suppliers.": "Välj kunder eller leverantörer.",
    "Tick the rows to retry.": "Kryssa för raderna som ska försökas igen.",
    "Retry these rows": "Försök igen med de här raderna",
    "Download the report": "Ladda ner rapporten",
    "Download the report (;)": "Ladda ner rapporten (;)",
    "Reimport of run": "Ny import av körning",
    "More rows": "Fler rader",
    "All": "Alla",
    "Filter": "Filtrera",
    "sync": "synk",
    "reimport": "ny import",
    "csv": "csv",
    "Connector": "System",
    "Last sync": "Senaste synk",
    "Next sync": "Nästa synk",
    "Sync now": "Synka nu",
    "A sync was started.": "En synk startades.",
    "No runs yet.": "Inga körningar än.",
    "No connections.": "Inga kopplingar.",
    "Not found": "Hittades inte",
    "Something went wrong": "Något gick fel",
    "Back": "Tillbaka",
    "Your key may not do this.": "Din nyckel får inte göra detta.",
    "The form has expired: reload the page and try again.": "Formuläret har gått ut: ladda om sidan och försök igen.",
    "Language": "Språk",
    "First rows of the dry run": "Provkörningens första rader",
    "What the whole file would give": "Vad hela filen skulle ge",
    "Working…": "Arbetar…",
    "Sign in with an API key of your company.": "Logga in med en API-nyckel för ditt företag.",
}


def language(request: Request) -> str:
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"


class Words:
    """What the pages say in one language; a phrase without a translation is shown as it is (English)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, text: str) -> str:
        return _SV.get(text, text) if self.lang == "sv" else _EN.get(text, text)

    def number(self, value: int) -> str:
        # Swedish groups thousands with a (no-break) space, English with a comma.
        return f"{value:,}".replace(",", "\u00a0" if self.lang == "sv" else ",")

    def when(self, iso: str | None) -> str:
        if not iso:
            return "–"
        moment = datetime.fromisoformat(iso)
        if self.lang == "sv":
            return moment.strftime("%Y-%m-%d %H:%M UTC")
        return f"{moment.day} {moment:%b %Y, %H:%M} UTC"
