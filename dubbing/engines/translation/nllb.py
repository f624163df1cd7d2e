"""NLLB-200 (Meta, CC-BY-NC 4.0 weights) through transformers: 200 languages, any direction.

Needs weights from a local folder, the Hugging Face cache or (when allowed) the hub.
"""
from __future__ import annotations

from typing import Any

from ...errors import UnsupportedPairError
from .. import langcodes
from ._hf_seq2seq import HFSeq2SeqTranslator


class NllbTranslator(HFSeq2SeqTranslator):
    name = "nllb"
    description = "NLLB-200 (distilled 600M, 1.3B, 3.3B) through transformers; any pair of 200 languages"
    family = "NLLB-200"
    model_types = ("m2m_100", "nllb-moe")
    tokenizer_prefix = "Nllb"
    name_pattern = r"nllb"
    known_models = ("facebook/nllb-200-distilled-600M", "facebook/nllb-200-distilled-1.3B",
                    "facebook/nllb-200-1.3B", "facebook/nllb-200-3.3B")
    default_model = known_models[0]

    @classmethod
    def codes(cls) -> dict[str, str]:
        return {iso: row[2] for iso, row in langcodes.LANGUAGES.items()}

    def prepare(self, tokenizer: Any, source: str, target: str) -> tuple[str, dict[str, Any]]:
        src, tgt = self.codes()[source], self.codes()[target]
        tgt_id = tokenizer.convert_tokens_to_ids(tgt)
        if tgt_id is None or tgt_id == tokenizer.unk_token_id:
            raise UnsupportedPairError(f"this NLLB tokenizer has no language token {tgt} for '{target}'")
        tokenizer.src_lang = src
        return "", {"forced_bos_token_id": tgt_id}

    def non_text_ids(self, tokenizer: Any) -> set[int]:
        return {i for i in tokenizer.convert_tokens_to_ids(list(self.codes().values())) if i != tokenizer.unk_token_id}
