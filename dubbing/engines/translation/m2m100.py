"""M2M100 (Meta, MIT) through transformers: 100 languages, any direction."""
from __future__ import annotations

from typing import Any

from ._hf_seq2seq import HFSeq2SeqTranslator

# The ISO 639-1 codes among M2M100's language tokens (transformers' FAIRSEQ_LANGUAGE_CODES["m2m100"]
# also has ast, ceb, ilo, ns: not ISO 639-1, so the app cannot ask for them).
M2M100_CODES = (
    "af am ar az ba be bg bn br bs ca cs cy da de el en es et fa ff fi fr fy ga gd gl gu ha he hi hr ht "
    "hu hy id ig is it ja jv ka kk km kn ko lb lg ln lo lt lv mg mk ml mn mr ms my ne nl no oc or pa pl "
    "ps pt ro ru sd si sk sl so sq sr ss su sv sw ta th tl tn tr uk ur uz vi wo xh yi yo zh zu").split()


class M2M100Translator(HFSeq2SeqTranslator):
    name = "m2m100"
    description = "M2M100 (418M, 1.2B) through transformers; any pair of 100 languages"
    family = "M2M100"
    model_types = ("m2m_100",)
    tokenizer_prefix = "M2M100"
    name_pattern = r"m2m[-_]?100"
    known_models = ("facebook/m2m100_418M", "facebook/m2m100_1.2B")
    default_model = known_models[0]

    @classmethod
    def codes(cls) -> dict[str, str]:
        return {c: c for c in M2M100_CODES}

    def prepare(self, tokenizer: Any, source: str, target: str) -> tuple[str, dict[str, Any]]:
        tokenizer.src_lang = source
        return "", {"forced_bos_token_id": tokenizer.get_lang_id(target)}

    def non_text_ids(self, tokenizer: Any) -> set[int]:
        # Language tags are not always registered as special tokens, so decoding would keep "__es__".
        return set(getattr(tokenizer, "lang_token_to_id", {}).values())
