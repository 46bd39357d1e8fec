"""Country names and codes → ISO 3166-1 alpha-2, the EU member states and their VAT prefixes.

`country_code` accepts ISO alpha-2 and alpha-3 codes and country names in English, Swedish, Danish, Norwegian,
German and Finnish, ignoring case, accents, spaces and punctuation. The lookup table is built once at import;
lookups are cached because an import calls this once per row.
"""

import re
import unicodedata
from functools import lru_cache
from typing import Final

__all__ = ["EU_MEMBER_STATES", "ISO_ALPHA2", "VIES_PREFIXES", "country_code", "is_eu_member", "vat_prefix"]

# ISO 3166-1: alpha-2 + alpha-3 of all 249 assigned codes.
_ISO_PAIRS: Final = """
ADAND AEARE AFAFG AGATG AIAIA ALALB AMARM AOAGO AQATA ARARG ASASM ATAUT AUAUS AWABW AXALA AZAZE BABIH BBBRB
BDBGD BEBEL BFBFA BGBGR BHBHR BIBDI BJBEN BLBLM BMBMU BNBRN BOBOL BQBES BRBRA BSBHS BTBTN BVBVT BWBWA BYBLR
BZBLZ CACAN CCCCK CDCOD CFCAF CGCOG CHCHE CICIV CKCOK CLCHL CMCMR CNCHN COCOL CRCRI CUCUB CVCPV CWCUW CXCXR
CYCYP CZCZE DEDEU DJDJI DKDNK DMDMA DODOM DZDZA ECECU EEEST EGEGY EHESH ERERI ESESP ETETH FIFIN FJFJI FKFLK
FMFSM FOFRO FRFRA GAGAB GBGBR GDGRD GEGEO GFGUF GGGGY GHGHA GIGIB GLGRL GMGMB GNGIN GPGLP GQGNQ GRGRC GSSGS
GTGTM GUGUM GWGNB GYGUY HKHKG HMHMD HNHND HRHRV HTHTI HUHUN IDIDN IEIRL ILISR IMIMN ININD IOIOT IQIRQ IRIRN
ISISL ITITA JEJEY JMJAM JOJOR JPJPN KEKEN KGKGZ KHKHM KIKIR KMCOM KNKNA KPPRK KRKOR KWKWT KYCYM KZKAZ LALAO
LBLBN LCLCA LILIE LKLKA LRLBR LSLSO LTLTU LULUX LVLVA LYLBY MAMAR MCMCO MDMDA MEMNE MFMAF MGMDG MHMHL MKMKD
MLMLI MMMMR MNMNG MOMAC MPMNP MQMTQ MRMRT MSMSR MTMLT MUMUS MVMDV MWMWI MXMEX MYMYS MZMOZ NANAM NCNCL NENER
NFNFK NGNGA NINIC NLNLD NONOR NPNPL NRNRU NUNIU NZNZL OMOMN PAPAN PEPER PFPYF PGPNG PHPHL PKPAK PLPOL PMSPM
PNPCN PRPRI PSPSE PTPRT PWPLW PYPRY QAQAT REREU ROROU RSSRB RURUS RWRWA SASAU SBSLB SCSYC SDSDN SESWE SGSGP
SHSHN SISVN SJSJM SKSVK SLSLE SMSMR SNSEN SOSOM SRSUR SSSSD STSTP SVSLV SXSXM SYSYR SZSWZ TCTCA TDTCD TFATF
TGTGO THTHA TJTJK TKTKL TLTLS TMTKM TNTUN TOTON TRTUR TTTTO TVTUV TWTWN TZTZA UAUKR UGUGA UMUMI USUSA UYURY
UZUZB VAVAT VCVCT VEVEN VGVGB VIVIR VNVNM VUVUT WFWLF WSWSM YEYEM YTMYT ZAZAF ZMZMB ZWZWE
"""
_ALPHA3: Final[dict[str, str]] = {pair[:2]: pair[2:] for pair in _ISO_PAIRS.split()}
ISO_ALPHA2: Final[frozenset[str]] = frozenset(_ALPHA3)

EU_MEMBER_STATES: Final[frozenset[str]] = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    }
)  # fmt: skip

# Codes that are not ISO 3166-1 but turn up in registries: EL is Greece's VAT prefix, XI is Northern Ireland's
# VAT prefix (the country is GB), UK is reserved for GB, XK is the widely used user-assigned code of Kosovo.
_EXTRA_CODES: Final = {"EL": "GR", "XI": "GB", "UK": "GB", "XK": "XK"}

# Names per country. European countries (and the larger trading partners) carry English, Swedish, Danish,
# Norwegian, German and Finnish names plus common native/official forms; the rest of the world English only.
# Duplicates across languages are harmless; a name that would map to two codes fails at import.
# fmt: off
_NAMES: Final[dict[str, tuple[str, ...]]] = {
    # --- Nordics --------------------------------------------------------------------------------------------
    "SE": ("Sweden", "Kingdom of Sweden", "Sverige", "Konungariket Sverige", "Schweden", "Ruotsi", "Svezia"),
    "DK": ("Denmark", "Danmark", "Dänemark", "Tanska", "Kingdom of Denmark"),
    "NO": ("Norway", "Norge", "Noreg", "Norwegen", "Norja", "Kingdom of Norway"),
    "FI": ("Finland", "Finnland", "Suomi", "Republic of Finland"),
    "IS": ("Iceland", "Island", "Ísland", "Islanti"),
    "FO": ("Faroe Islands", "Faroes", "Färöarna", "Färöerna", "Færøerne", "Færøyene", "Färöer", "Färsaaret",
           "Føroyar"),
    "GL": ("Greenland", "Grönland", "Grønland", "Grönlanti", "Kalaallit Nunaat"),
    "AX": ("Åland", "Åland Islands", "Aland Islands", "Ahvenanmaa", "Ålandinseln"),
    "SJ": ("Svalbard and Jan Mayen", "Svalbard", "Svalbard og Jan Mayen", "Svalbard och Jan Mayen"),
    # --- EU -------------------------------------------------------------------------------------------------
    "AT": ("Austria", "Österrike", "Østrig", "Østerrike", "Österreich", "Itävalta", "Republic of Austria"),
    "BE": ("Belgium", "Belgien", "Belgia", "België", "Belgique", "Kingdom of Belgium"),
    "BG": ("Bulgaria", "Bulgarien", "Bulgarie", "Balgariya"),
    "HR": ("Croatia", "Kroatien", "Kroatia", "Hrvatska", "Republic of Croatia"),
    "CY": ("Cyprus", "Cypern", "Kypros", "Zypern", "Republic of Cyprus"),
    "CZ": ("Czechia", "Czech Republic", "Tjeckien", "Tjekkiet", "Tsjekkia", "Tschechien",
           "Tschechische Republik", "Tšekki", "Česko", "Česká republika"),
    "EE": ("Estonia", "Estland", "Viro", "Eesti"),
    "FR": ("France", "Frankrike", "Frankrig", "Frankreich", "Ranska", "French Republic"),
    "DE": ("Germany", "Tyskland", "Deutschland", "Saksa", "Federal Republic of Germany",
           "Bundesrepublik Deutschland", "BRD"),
    "GR": ("Greece", "Grekland", "Grækenland", "Hellas", "Griechenland", "Kreikka", "Hellenic Republic",
           "Ellada", "Ellas"),
    "HU": ("Hungary", "Ungern", "Ungarn", "Unkari", "Magyarország"),
    "IE": ("Ireland", "Republic of Ireland", "Irland", "Irlanti", "Éire", "Eire"),
    "IT": ("Italy", "Italien", "Italia", "Italie"),
    "LV": ("Latvia", "Lettland", "Letland", "Lettonia", "Latvija"),
    "LT": ("Lithuania", "Litauen", "Liettua", "Lietuva"),
    "LU": ("Luxembourg", "Luxemburg", "Lëtzebuerg"),
    "MT": ("Malta",),
    "NL": ("Netherlands", "The Netherlands", "Holland", "Nederländerna", "Nederlandene", "Nederland",
           "Niederlande", "Alankomaat", "Hollanti", "Kingdom of the Netherlands"),
    "PL": ("Poland", "Polen", "Puola", "Polska", "Republic of Poland"),
    "PT": ("Portugal", "Portugali"),
    "RO": ("Romania", "Rumänien", "Rumænien", "Roumanie", "România"),
    "SK": ("Slovakia", "Slovakien", "Slovakiet", "Slowakei", "Slovensko", "Slovak Republic"),
    "SI": ("Slovenia", "Slovenien", "Slowenien", "Slovenija"),
    "ES": ("Spain", "Spanien", "Spania", "Espanja", "España", "Kingdom of Spain"),
    # --- Rest of Europe -------------------------------------------------------------------------------------
    "GB": ("United Kingdom", "UK", "Great Britain", "Britain", "England", "Scotland", "Wales",
           "Northern Ireland", "United Kingdom of Great Britain and Northern Ireland", "Storbritannien",
           "Storbritannia", "Förenade kungariket", "Det Forenede Kongerige", "Det forente kongerike",
           "Großbritannien", "Vereinigtes Königreich", "Iso-Britannia", "Yhdistynyt kuningaskunta", "England",
           "Englanti", "Skottland", "Skotland", "Schottland", "Skotlanti", "Nordirland", "Pohjois-Irlanti"),
    "CH": ("Switzerland", "Schweiz", "Sveits", "Sveitsi", "Suisse", "Svizzera", "Swiss Confederation",
           "Confoederatio Helvetica", "Schweizerische Eidgenossenschaft"),
    "LI": ("Liechtenstein", "Principality of Liechtenstein"),
    "AL": ("Albania", "Albanien", "Shqipëria"),
    "AD": ("Andorra",),
    "BY": ("Belarus", "Vitryssland", "Hviderusland", "Hviterussland", "Weißrussland", "Valko-Venäjä"),
    "BA": ("Bosnia and Herzegovina", "Bosnia", "Bosnien och Hercegovina", "Bosnien-Hercegovina",
           "Bosnia-Hercegovina", "Bosnien und Herzegowina", "Bosnien", "Bosnia ja Hertsegovina"),
    "GI": ("Gibraltar",),
    "GG": ("Guernsey",),
    "JE": ("Jersey",),
    "IM": ("Isle of Man", "Insel Man", "Mansaari"),
    "XK": ("Kosovo",),
    "MD": ("Moldova", "Republic of Moldova", "Moldavien", "Moldau", "Moldawien", "Republik Moldau"),
    "MC": ("Monaco",),
    "ME": ("Montenegro", "Crna Gora"),
    "MK": ("North Macedonia", "Macedonia", "Nordmakedonien", "Nord-Makedonia", "Nordmazedonien",
           "Pohjois-Makedonia", "Makedonien", "Makedonia", "Mazedonien"),
    "RU": ("Russia", "Russian Federation", "Ryssland", "Rusland", "Russland", "Venäjä",
           "Russische Föderation"),
    "SM": ("San Marino",),
    "RS": ("Serbia", "Serbien", "Srbija"),
    "TR": ("Turkey", "Türkiye", "Turkiet", "Tyrkiet", "Tyrkia", "Türkei", "Turkki"),
    "UA": ("Ukraine", "Ukraina"),
    "VA": ("Vatican City", "Vatican", "Holy See", "Vatikanstaten", "Vatikanstadt", "Vatikan", "Vatikaani"),
    # --- Larger trading partners (English + Nordic/German names) --------------------------------------------
    "US": ("United States", "United States of America", "USA", "US", "America", "Förenta staterna",
           "De Forenede Stater", "De forente stater", "Vereinigte Staaten", "Vereinigte Staaten von Amerika",
           "Amerika", "Amerikas förenta stater", "Yhdysvallat", "Amerikan yhdysvallat"),
    "CA": ("Canada", "Kanada"),
    "AU": ("Australia", "Australien", "Commonwealth of Australia"),
    "NZ": ("New Zealand", "Nya Zeeland", "Neuseeland", "Uusi-Seelanti"),
    "CN": ("China", "People's Republic of China", "PRC", "Kina", "Volksrepublik China", "Kiina"),
    "HK": ("Hong Kong", "Hongkong"),
    "MO": ("Macao", "Macau"),
    "TW": ("Taiwan", "Taiwan, Province of China", "Republic of China"),
    "JP": ("Japan", "Japani"),
    "KR": ("South Korea", "Korea", "Republic of Korea", "Korea, Republic of", "Korea (South)", "Sydkorea",
           "Sør-Korea", "Südkorea", "Etelä-Korea"),
    "KP": ("North Korea", "Korea (North)", "Democratic People's Republic of Korea", "Nordkorea", "Nord-Korea",
           "Pohjois-Korea"),
    "IN": ("India", "Indien", "Intia", "Intien", "Republic of India"),
    "PK": ("Pakistan",),
    "BD": ("Bangladesh", "Bangladesch"),
    "LK": ("Sri Lanka",),
    "SG": ("Singapore", "Singapur"),
    "MY": ("Malaysia", "Malesia"),
    "TH": ("Thailand", "Thaimaa"),
    "VN": ("Vietnam", "Viet Nam", "Vietnamin"),
    "ID": ("Indonesia", "Indonesien"),
    "PH": ("Philippines", "Filippinerna", "Filippinerne", "Filippinene", "Philippinen", "Filippiinit"),
    "BR": ("Brazil", "Brasilien", "Brasil", "Brasilia"),
    "MX": ("Mexico", "Mexiko", "Meksiko", "México"),
    "AR": ("Argentina", "Argentinien", "Argentiina"),
    "CL": ("Chile",),
    "CO": ("Colombia", "Kolumbien", "Kolumbia"),
    "PE": ("Peru",),
    "ZA": ("South Africa", "Sydafrika", "Sør-Afrika", "Südafrika", "Etelä-Afrikka"),
    "EG": ("Egypt", "Egypten", "Ägypten", "Egypti"),
    "MA": ("Morocco", "Marocko", "Marokko"),
    "TN": ("Tunisia", "Tunisien", "Tunesien"),
    "DZ": ("Algeria", "Algeriet", "Algerie", "Algerien"),
    "NG": ("Nigeria",),
    "KE": ("Kenya", "Kenia"),
    "IL": ("Israel",),
    "AE": ("United Arab Emirates", "UAE", "Emirates", "Förenade Arabemiraten",
           "De Forenede Arabiske Emirater", "De forente arabiske emirater", "Vereinigte Arabische Emirate",
           "Arabiemiirikunnat", "Yhdistyneet arabiemiirikunnat"),
    "SA": ("Saudi Arabia", "Saudiarabien", "Saudi-Arabien", "Saudi-Arabia"),
    "QA": ("Qatar", "Katar"),
    "KW": ("Kuwait",),
    "IR": ("Iran", "Iran (Islamic Republic of)"),
    "IQ": ("Iraq", "Irak"),
    "JO": ("Jordan", "Jordanien", "Jordania"),
    "LB": ("Lebanon", "Libanon"),
    "GE": ("Georgia", "Georgien"),
    "AM": ("Armenia", "Armenien"),
    "AZ": ("Azerbaijan", "Azerbajdzjan", "Aserbajdsjan", "Aserbaidschan", "Azerbaidžan"),
    "KZ": ("Kazakhstan", "Kazakstan", "Kasakhstan", "Kasachstan"),
    # --- Rest of the world (English) ------------------------------------------------------------------------
    "AF": ("Afghanistan",),
    "AG": ("Antigua and Barbuda",),
    "AI": ("Anguilla",),
    "AO": ("Angola",),
    "AQ": ("Antarctica",),
    "AS": ("American Samoa", "Samoa (American)"),
    "AW": ("Aruba",),
    "BB": ("Barbados",),
    "BF": ("Burkina Faso",),
    "BH": ("Bahrain",),
    "BI": ("Burundi",),
    "BJ": ("Benin",),
    "BL": ("Saint Barthélemy", "St Barthélemy"),
    "BM": ("Bermuda",),
    "BN": ("Brunei", "Brunei Darussalam"),
    "BO": ("Bolivia", "Bolivia (Plurinational State of)"),
    "BQ": ("Bonaire, Sint Eustatius and Saba", "Bonaire", "Caribbean Netherlands"),
    "BS": ("Bahamas", "The Bahamas"),
    "BT": ("Bhutan",),
    "BV": ("Bouvet Island",),
    "BW": ("Botswana",),
    "BZ": ("Belize",),
    "CC": ("Cocos (Keeling) Islands", "Cocos Islands"),
    "CD": ("Democratic Republic of the Congo", "DR Congo", "Congo (Democratic Republic of the)",
           "Congo (Dem. Rep.)", "Congo-Kinshasa"),
    "CF": ("Central African Republic",),
    "CG": ("Congo", "Republic of the Congo", "Congo (Rep.)", "Congo-Brazzaville"),
    "CI": ("Côte d'Ivoire", "Ivory Coast"),
    "CK": ("Cook Islands",),
    "CM": ("Cameroon",),
    "CR": ("Costa Rica",),
    "CU": ("Cuba",),
    "CV": ("Cabo Verde", "Cape Verde"),
    "CW": ("Curaçao",),
    "CX": ("Christmas Island",),
    "DJ": ("Djibouti",),
    "DM": ("Dominica",),
    "DO": ("Dominican Republic",),
    "EC": ("Ecuador",),
    "EH": ("Western Sahara",),
    "ER": ("Eritrea",),
    "ET": ("Ethiopia",),
    "FJ": ("Fiji",),
    "FK": ("Falkland Islands", "Falkland Islands (Malvinas)"),
    "FM": ("Micronesia", "Micronesia (Federated States of)"),
    "GA": ("Gabon",),
    "GD": ("Grenada",),
    "GF": ("French Guiana",),
    "GH": ("Ghana",),
    "GM": ("Gambia", "The Gambia"),
    "GN": ("Guinea",),
    "GP": ("Guadeloupe",),
    "GQ": ("Equatorial Guinea",),
    "GS": ("South Georgia and the South Sandwich Islands",),
    "GT": ("Guatemala",),
    "GU": ("Guam",),
    "GW": ("Guinea-Bissau",),
    "GY": ("Guyana",),
    "HM": ("Heard Island and McDonald Islands",),
    "HN": ("Honduras",),
    "HT": ("Haiti",),
    "IO": ("British Indian Ocean Territory",),
    "JM": ("Jamaica",),
    "KG": ("Kyrgyzstan",),
    "KH": ("Cambodia",),
    "KI": ("Kiribati",),
    "KM": ("Comoros",),
    "KN": ("Saint Kitts and Nevis", "St Kitts and Nevis"),
    "KY": ("Cayman Islands",),
    "LA": ("Laos", "Lao People's Democratic Republic"),
    "LC": ("Saint Lucia", "St Lucia"),
    "LR": ("Liberia",),
    "LS": ("Lesotho",),
    "LY": ("Libya",),
    "MF": ("Saint Martin", "Saint Martin (French part)", "St Martin"),
    "MG": ("Madagascar",),
    "MH": ("Marshall Islands",),
    "ML": ("Mali",),
    "MM": ("Myanmar", "Burma"),
    "MN": ("Mongolia",),
    "MP": ("Northern Mariana Islands",),
    "MQ": ("Martinique",),
    "MR": ("Mauritania",),
    "MS": ("Montserrat",),
    "MU": ("Mauritius",),
    "MV": ("Maldives",),
    "MW": ("Malawi",),
    "MZ": ("Mozambique",),
    "NA": ("Namibia",),
    "NC": ("New Caledonia",),
    "NE": ("Niger",),
    "NF": ("Norfolk Island",),
    "NI": ("Nicaragua",),
    "NP": ("Nepal",),
    "NR": ("Nauru",),
    "NU": ("Niue",),
    "OM": ("Oman",),
    "PA": ("Panama",),
    "PF": ("French Polynesia",),
    "PG": ("Papua New Guinea",),
    "PM": ("Saint Pierre and Miquelon",),
    "PN": ("Pitcairn", "Pitcairn Islands"),
    "PR": ("Puerto Rico",),
    "PS": ("Palestine", "State of Palestine", "Palestine, State of"),
    "PW": ("Palau",),
    "PY": ("Paraguay",),
    "RE": ("Réunion",),
    "RW": ("Rwanda",),
    "SB": ("Solomon Islands",),
    "SC": ("Seychelles",),
    "SD": ("Sudan",),
    "SH": ("Saint Helena", "Saint Helena, Ascension and Tristan da Cunha"),
    "SL": ("Sierra Leone",),
    "SN": ("Senegal",),
    "SO": ("Somalia",),
    "SR": ("Suriname",),
    "SS": ("South Sudan",),
    "ST": ("Sao Tome and Principe",),
    "SV": ("El Salvador",),
    "SX": ("Sint Maarten", "Sint Maarten (Dutch part)"),
    "SY": ("Syria", "Syrian Arab Republic"),
    "SZ": ("Eswatini", "Swaziland"),
    "TC": ("Turks and Caicos Islands",),
    "TD": ("Chad",),
    "TF": ("French Southern Territories",),
    "TG": ("Togo",),
    "TJ": ("Tajikistan",),
    "TK": ("Tokelau",),
    "TL": ("Timor-Leste", "East Timor"),
    "TM": ("Turkmenistan",),
    "TO": ("Tonga",),
    "TT": ("Trinidad and Tobago",),
    "TV": ("Tuvalu",),
    "TZ": ("Tanzania", "Tanzania, United Republic of"),
    "UG": ("Uganda",),
    "UM": ("United States Minor Outlying Islands",),
    "UY": ("Uruguay",),
    "UZ": ("Uzbekistan",),
    "VC": ("Saint Vincent and the Grenadines", "St Vincent and the Grenadines"),
    "VE": ("Venezuela", "Venezuela (Bolivarian Republic of)"),
    "VG": ("British Virgin Islands", "Virgin Islands (British)"),
    "VI": ("United States Virgin Islands", "US Virgin Islands", "Virgin Islands (U.S.)"),
    "VU": ("Vanuatu",),
    "WF": ("Wallis and Futuna",),
    "WS": ("Samoa",),
    "YE": ("Yemen",),
    "YT": ("Mayotte",),
    "ZM": ("Zambia",),
    "ZW": ("Zimbabwe",),
}
# fmt: on

# Letters NFKD does not decompose, then the German/Scandinavian digraph spellings ("Oesterreich", "Aaland").
_FOLD: Final = str.maketrans(
    {"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "đ": "d", "Đ": "D", "ł": "l", "Ł": "L",
     "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D", "œ": "oe", "Œ": "OE", "ı": "i"}
)  # fmt: skip
_DIGRAPHS: Final = str.maketrans(
    {"ä": "ae", "Ä": "Ae", "ö": "oe", "Ö": "Oe", "ü": "ue", "Ü": "Ue",
     "ø": "oe", "Ø": "Oe", "å": "aa", "Å": "Aa"}
)  # fmt: skip
_NON_LETTERS: Final = re.compile(r"[^a-z]+")


def _key(text: str) -> str:
    """Lower case, accents stripped, letters only: "Österreich" → "osterreich", "U.S.A." → "usa"."""
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD)).encode("ascii", "ignore").decode("ascii")
    return _NON_LETTERS.sub("", folded.lower())


def _build_index() -> dict[str, str]:
    index: dict[str, str] = {}

    def add(key: str, code: str, source: str) -> None:
        if not key:
            raise ValueError(f"country table: {source!r} has an empty key")
        known = index.setdefault(key, code)
        if known != code:
            raise ValueError(f"country table: {source!r} maps to both {known} and {code}")

    for alpha2, alpha3 in _ALPHA3.items():
        add(alpha2.lower(), alpha2, alpha2)
        add(alpha3.lower(), alpha2, alpha3)
    for extra, code in _EXTRA_CODES.items():
        add(extra.lower(), code, extra)
    for code, names in _NAMES.items():
        if code not in _ALPHA3 and code not in _EXTRA_CODES:
            raise ValueError(f"country table: unknown code {code}")
        for name in names:
            add(_key(name), code, name)
            add(_key(name.translate(_DIGRAPHS)), code, name)
    return index


_INDEX: Final[dict[str, str]] = _build_index()


@lru_cache(maxsize=2048)
def country_code(value: str) -> str:
    """ISO 3166-1 alpha-2 code of a country code or name: "Sverige" → "SE", "EL" → "GR", "Nordirland" → "GB".

    Raises ValueError("unknown country 'Xyzland'") for anything else.
    """
    code = _INDEX.get(_key(value))
    if code is None:
        raise ValueError(f"unknown country {value.strip()!r}")
    return code


def is_eu_member(iso: str) -> bool:
    return iso in EU_MEMBER_STATES


def vat_prefix(iso: str) -> str:
    """The VAT number prefix of a country: the ISO code, except Greece's EL."""
    iso = iso.upper()
    return "EL" if iso == "GR" else iso


# The VAT prefixes VIES answers for: the member states' (Greece is EL) and Northern Ireland's (XI).
VIES_PREFIXES: Final[frozenset[str]] = frozenset({vat_prefix(c) for c in EU_MEMBER_STATES} | {"XI"})
