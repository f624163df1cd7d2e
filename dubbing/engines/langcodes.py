"""Language codes: the ISO 639-1 codes the app speaks, and what each model family calls them.

NLLB-200 wants FLORES-200 codes (spa_Latn), MMS-TTS checkpoints and Marian
multi-target models use ISO 639-3 (spa), M2M100 uses ISO 639-1 with a few
3-letter extras, XTTS uses its own short list. One table keeps them in step.
"""
from __future__ import annotations

# ISO 639-1 -> (English name, ISO 639-3, FLORES-200)
LANGUAGES: dict[str, tuple[str, str, str]] = {
    "af": ("Afrikaans", "afr", "afr_Latn"),
    "am": ("Amharic", "amh", "amh_Ethi"),
    "ar": ("Arabic", "ara", "arb_Arab"),
    "az": ("Azerbaijani", "aze", "azj_Latn"),
    "be": ("Belarusian", "bel", "bel_Cyrl"),
    "bg": ("Bulgarian", "bul", "bul_Cyrl"),
    "bn": ("Bengali", "ben", "ben_Beng"),
    "bs": ("Bosnian", "bos", "bos_Latn"),
    "ca": ("Catalan", "cat", "cat_Latn"),
    "cs": ("Czech", "ces", "ces_Latn"),
    "cy": ("Welsh", "cym", "cym_Latn"),
    "da": ("Danish", "dan", "dan_Latn"),
    "de": ("German", "deu", "deu_Latn"),
    "el": ("Greek", "ell", "ell_Grek"),
    "en": ("English", "eng", "eng_Latn"),
    "eo": ("Esperanto", "epo", "epo_Latn"),
    "es": ("Spanish", "spa", "spa_Latn"),
    "et": ("Estonian", "est", "est_Latn"),
    "eu": ("Basque", "eus", "eus_Latn"),
    "fa": ("Persian", "fas", "pes_Arab"),
    "fi": ("Finnish", "fin", "fin_Latn"),
    "fr": ("French", "fra", "fra_Latn"),
    "ga": ("Irish", "gle", "gle_Latn"),
    "gl": ("Galician", "glg", "glg_Latn"),
    "gu": ("Gujarati", "guj", "guj_Gujr"),
    "ha": ("Hausa", "hau", "hau_Latn"),
    "he": ("Hebrew", "heb", "heb_Hebr"),
    "hi": ("Hindi", "hin", "hin_Deva"),
    "hr": ("Croatian", "hrv", "hrv_Latn"),
    "hu": ("Hungarian", "hun", "hun_Latn"),
    "hy": ("Armenian", "hye", "hye_Armn"),
    "id": ("Indonesian", "ind", "ind_Latn"),
    "is": ("Icelandic", "isl", "isl_Latn"),
    "it": ("Italian", "ita", "ita_Latn"),
    "ja": ("Japanese", "jpn", "jpn_Jpan"),
    "ka": ("Georgian", "kat", "kat_Geor"),
    "kk": ("Kazakh", "kaz", "kaz_Cyrl"),
    "km": ("Khmer", "khm", "khm_Khmr"),
    "kn": ("Kannada", "kan", "kan_Knda"),
    "ko": ("Korean", "kor", "kor_Hang"),
    "lt": ("Lithuanian", "lit", "lit_Latn"),
    "lv": ("Latvian", "lav", "lvs_Latn"),
    "mk": ("Macedonian", "mkd", "mkd_Cyrl"),
    "ml": ("Malayalam", "mal", "mal_Mlym"),
    "mn": ("Mongolian", "mon", "khk_Cyrl"),
    "mr": ("Marathi", "mar", "mar_Deva"),
    "ms": ("Malay", "msa", "zsm_Latn"),
    "my": ("Burmese", "mya", "mya_Mymr"),
    "ne": ("Nepali", "nep", "npi_Deva"),
    "nl": ("Dutch", "nld", "nld_Latn"),
    "no": ("Norwegian", "nob", "nob_Latn"),
    "pa": ("Punjabi", "pan", "pan_Guru"),
    "pl": ("Polish", "pol", "pol_Latn"),
    "pt": ("Portuguese", "por", "por_Latn"),
    "ro": ("Romanian", "ron", "ron_Latn"),
    "ru": ("Russian", "rus", "rus_Cyrl"),
    "sk": ("Slovak", "slk", "slk_Latn"),
    "sl": ("Slovenian", "slv", "slv_Latn"),
    "so": ("Somali", "som", "som_Latn"),
    "sq": ("Albanian", "sqi", "als_Latn"),
    "sr": ("Serbian", "srp", "srp_Cyrl"),
    "sv": ("Swedish", "swe", "swe_Latn"),
    "sw": ("Swahili", "swa", "swh_Latn"),
    "ta": ("Tamil", "tam", "tam_Taml"),
    "te": ("Telugu", "tel", "tel_Telu"),
    "th": ("Thai", "tha", "tha_Thai"),
    "tl": ("Tagalog", "tgl", "tgl_Latn"),
    "tr": ("Turkish", "tur", "tur_Latn"),
    "uk": ("Ukrainian", "ukr", "ukr_Cyrl"),
    "ur": ("Urdu", "urd", "urd_Arab"),
    "uz": ("Uzbek", "uzb", "uzn_Latn"),
    "vi": ("Vietnamese", "vie", "vie_Latn"),
    "yo": ("Yoruba", "yor", "yor_Latn"),
    "zh": ("Chinese", "zho", "zho_Hans"),
    "zu": ("Zulu", "zul", "zul_Latn"),
}

# MMS-TTS checkpoints (facebook/mms-tts-<suffix>) whose suffix is not the plain ISO 639-3 code.
MMS_SUFFIX = {"az": "azj-script_latin", "ur": "urd-script_arabic", "uz": "uzb-script_latin",
              "zh": "cmn-script_simplified", "ms": "zlm", "sw": "swh", "ne": "npi", "mn": "khk"}

# Languages written without spaces between sentences.
NO_SPACE_SCRIPTS = {"zh", "ja", "th", "km", "my"}

# Close languages a speech recogniser's language ID takes for one another, even surely: Whisper base heard
# one Czech actress's turns as Czech (0.95) and as Polish (0.95), a Dutch actor's as German. Only those two
# were seen here; the other groups are close languages of the same kind.
SIBLINGS = [{"cs", "sk", "pl"}, {"nl", "af", "de"}, {"da", "no", "nn", "sv"}, {"ru", "uk", "be"},
            {"hr", "sr", "bs", "sl"}, {"es", "gl", "pt", "ca"}, {"id", "ms", "jw"}, {"hi", "ur"}]


def name(code: str) -> str:
    return LANGUAGES.get(code, (code,))[0]


def iso3(code: str) -> str | None:
    row = LANGUAGES.get(code)
    return row[1] if row else None


def mms_suffix(code: str) -> str | None:
    """The suffix of the MMS-TTS checkpoint for a language (facebook/mms-tts-<suffix>)."""
    return MMS_SUFFIX.get(code) or iso3(code)


def flores(code: str) -> str | None:
    row = LANGUAGES.get(code)
    return row[2] if row else None


def siblings(code: str) -> set[str]:
    """The languages `code` is easily taken for (SIBLINGS), itself not among them."""
    return set().union(*(group for group in SIBLINGS if code in group)) - {code}


def joiner(code: str) -> str:
    """What goes between sentences when joining translated pieces back into one utterance."""
    return "" if code in NO_SPACE_SCRIPTS else " "
