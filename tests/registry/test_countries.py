import re

import pytest

from registry.countries import EU_MEMBER_STATES, ISO_ALPHA2, VIES_PREFIXES, country_code, is_eu_member, vat_prefix


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        # English
        ("Sweden", "SE"),
        ("Finland", "FI"),
        ("Norway", "NO"),
        ("United Kingdom", "GB"),
        ("Great Britain", "GB"),
        ("United States", "US"),
        ("USA", "US"),
        ("India", "IN"),
        ("China", "CN"),
        ("Japan", "JP"),
        ("Brazil", "BR"),
        ("Netherlands", "NL"),
        ("Holland", "NL"),
        # Swedish
        ("Sverige", "SE"),
        ("Tyskland", "DE"),
        ("Storbritannien", "GB"),
        ("Nederländerna", "NL"),
        ("Förenta staterna", "US"),
        ("Österrike", "AT"),
        ("Frankrike", "FR"),
        ("Schweiz", "CH"),
        ("Polen", "PL"),
        ("Indien", "IN"),
        # Danish
        ("Danmark", "DK"),
        ("Østrig", "AT"),
        ("Frankrig", "FR"),
        ("Færøerne", "FO"),
        ("Nederlandene", "NL"),
        # Norwegian
        ("Norge", "NO"),
        ("Østerrike", "AT"),
        ("Storbritannia", "GB"),
        ("Sveits", "CH"),
        # German
        ("Schweden", "SE"),
        ("Dänemark", "DK"),
        ("Deutschland", "DE"),
        ("Finnland", "FI"),
        ("Norwegen", "NO"),
        ("Vereinigtes Königreich", "GB"),
        ("Niederlande", "NL"),
        ("Österreich", "AT"),
        ("Frankreich", "FR"),
        ("Vereinigte Staaten", "US"),
        # Finnish
        ("Ruotsi", "SE"),
        ("Tanska", "DK"),
        ("Saksa", "DE"),
        ("Suomi", "FI"),
        ("Alankomaat", "NL"),
        ("Sveitsi", "CH"),
        ("Itävalta", "AT"),
        ("Puola", "PL"),
        ("Ranska", "FR"),
        ("Intia", "IN"),
        ("Intien", "IN"),
    ],
)
def test_country_names_in_every_language(name: str, code: str) -> None:
    assert country_code(name) == code


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("se", "SE"),
        ("SE", "SE"),
        ("swe", "SE"),
        ("DEU", "DE"),
        ("gbr", "GB"),
        ("  sverige  ", "SE"),
        ("SVERIGE", "SE"),
        ("OESTERREICH", "AT"),  # German umlaut written as a digraph
        ("Osterrike", "AT"),  # accent dropped
        ("U.S.A.", "US"),
        ("united-kingdom", "GB"),
        ("Côte d’Ivoire", "CI"),
        ("Tšekki", "CZ"),
    ],
)
def test_codes_and_names_ignore_case_accents_and_punctuation(value: str, code: str) -> None:
    assert country_code(value) == code


def test_greece_is_gr_whether_written_gr_or_el() -> None:
    assert country_code("GR") == "GR"
    assert country_code("EL") == "GR"
    assert country_code("Grekland") == "GR"


@pytest.mark.parametrize("value", ["XI", "Northern Ireland", "Nordirland", "Pohjois-Irlanti", "UK", "England"])
def test_northern_ireland_and_uk_aliases_are_gb(value: str) -> None:
    assert country_code(value) == "GB"


def test_every_iso_code_maps_to_itself() -> None:
    assert len(ISO_ALPHA2) == 249
    for code in ISO_ALPHA2:
        assert country_code(code) == code
        assert country_code(code.lower()) == code


@pytest.mark.parametrize("value", ["Xyzland", "", "S", "Atlantis", "123"])
def test_unknown_country_raises_with_the_value(value: str) -> None:
    with pytest.raises(ValueError, match="unknown country") as info:
        country_code(value)
    assert repr(value.strip()) in str(info.value)


def test_unknown_country_message() -> None:
    with pytest.raises(ValueError, match=exactly("unknown country 'Xyzland'")):
        country_code("Xyzland")


# Nordic and German names of the EU states (with English), so that a Swedish/Danish/Norwegian/German/Finnish
# address column maps to the right member state.
EU_NAMES = {
    "AT": ["Austria", "Österrike", "Østrig", "Østerrike", "Österreich", "Itävalta"],
    "BE": ["Belgium", "Belgien", "Belgia"],
    "BG": ["Bulgaria", "Bulgarien"],
    "HR": ["Croatia", "Kroatien", "Kroatia"],
    "CY": ["Cyprus", "Cypern", "Kypros", "Zypern"],
    "CZ": ["Czech Republic", "Tjeckien", "Tjekkiet", "Tsjekkia", "Tschechien", "Tšekki"],
    "DK": ["Denmark", "Danmark", "Dänemark", "Tanska"],
    "EE": ["Estonia", "Estland", "Viro"],
    "FI": ["Finland", "Finnland", "Suomi"],
    "FR": ["France", "Frankrike", "Frankrig", "Frankreich", "Ranska"],
    "DE": ["Germany", "Tyskland", "Deutschland", "Saksa"],
    "GR": ["Greece", "Grekland", "Grækenland", "Hellas", "Griechenland", "Kreikka"],
    "HU": ["Hungary", "Ungern", "Ungarn", "Unkari"],
    "IE": ["Ireland", "Irland", "Irlanti"],
    "IT": ["Italy", "Italien", "Italia"],
    "LV": ["Latvia", "Lettland", "Letland"],
    "LT": ["Lithuania", "Litauen", "Liettua"],
    "LU": ["Luxembourg", "Luxemburg"],
    "MT": ["Malta"],
    "NL": ["Netherlands", "Nederländerna", "Nederland", "Niederlande", "Alankomaat"],
    "PL": ["Poland", "Polen", "Puola"],
    "PT": ["Portugal", "Portugali"],
    "RO": ["Romania", "Rumänien", "Rumænien"],
    "SK": ["Slovakia", "Slovakien", "Slovakiet", "Slowakei"],
    "SI": ["Slovenia", "Slovenien", "Slowenien"],
    "ES": ["Spain", "Spanien", "Spania", "Espanja"],
    "SE": ["Sweden", "Sverige", "Schweden", "Ruotsi"],
}


def test_eu_member_states_by_name() -> None:
    assert set(EU_NAMES) == EU_MEMBER_STATES
    for code, names in EU_NAMES.items():
        for name in names:
            assert country_code(name) == code, name


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Island", "IS"),
        ("Islanti", "IS"),
        ("Liechtenstein", "LI"),
        ("Schweiz", "CH"),
        ("Kanada", "CA"),
        ("Australien", "AU"),
        ("Kiina", "CN"),
        ("Japani", "JP"),
        ("Brasilien", "BR"),
        ("Sydkorea", "KR"),
        ("Ryssland", "RU"),
        ("Turkiet", "TR"),
        ("Ukraina", "UA"),
        ("Kosovo", "XK"),
    ],
)
def test_eea_and_trading_partners(name: str, code: str) -> None:
    assert country_code(name) == code


def test_eu_member_states() -> None:
    assert len(EU_MEMBER_STATES) == 27
    assert "GR" in EU_MEMBER_STATES
    assert "EL" not in EU_MEMBER_STATES
    assert "GB" not in EU_MEMBER_STATES
    assert "NO" not in EU_MEMBER_STATES
    assert is_eu_member("SE")
    assert not is_eu_member("CH")


def test_vat_prefix() -> None:
    assert vat_prefix("GR") == "EL"
    assert vat_prefix("SE") == "SE"
    assert vat_prefix("de") == "DE"


def test_vies_prefixes_are_the_member_states_and_northern_ireland() -> None:
    assert len(VIES_PREFIXES) == len(EU_MEMBER_STATES) + 1 == 28
    assert {"EL", "XI", "SE", "DE"} <= VIES_PREFIXES
    assert not {"GR", "GB", "NO", "CH"} & VIES_PREFIXES
