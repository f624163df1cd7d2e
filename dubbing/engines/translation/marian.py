"""MarianMT / OPUS-MT (Helsinki-NLP, CC-BY 4.0) through transformers: one small model per
language pair (~300 MB), or a multi-target model that wants a `>>xx<<` token in front.

Pairs come from the names of the models found here (`opus-mt-<src>-<tgt>`,
`opus-mt-tc-big-<src>-<tgt>`); a group name (ROMANCE, gem, mul, ...) is expanded
from the model's own target tokens, or from a small table for source groups.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...errors import UnsupportedPairError
from .. import langcodes
from ..resolve import LocalModel, download_allowed
from ._hf_seq2seq import HFSeq2SeqTranslator

_NAME = re.compile(r"opus-mt-(?:tc-(?:big|base)-)?([A-Za-z]+(?:_[A-Za-z]+)?)-([A-Za-z]+(?:_[A-Za-z]+)?)$")
_ROMANCE = ("es", "fr", "it", "pt", "ro", "ca", "gl")
GROUPS = {
    "romance": _ROMANCE, "roa": _ROMANCE, "itc": _ROMANCE,
    "gem": ("en", "de", "nl", "sv", "da", "no", "is"), "gmq": ("sv", "da", "no", "is"),
    "sla": ("ru", "uk", "be", "pl", "cs", "sk", "bg", "sl", "hr", "sr", "mk", "bs"),
    "zle": ("ru", "uk", "be"), "zlw": ("pl", "cs", "sk"), "zls": ("bg", "sl", "hr", "sr", "mk", "bs"),
    "mul": tuple(langcodes.LANGUAGES),
}
# Bilingual models known to exist on the hub, offered when downloads are allowed.
HUB_PAIRS = [(a, b) for x, y in [
    ("en", "es"), ("en", "fr"), ("en", "de"), ("en", "it"), ("en", "ru"), ("en", "zh"), ("en", "ar"),
    ("en", "nl"), ("en", "fi"), ("en", "sv"), ("en", "hi"), ("es", "fr"), ("es", "de"), ("fr", "de")]
    for a, b in ((x, y), (y, x))] + [(s, "en") for s in ("ja", "ko", "pl", "cs", "tr", "uk")]
_ISO3_TO_1 = {row[1]: iso for iso, row in langcodes.LANGUAGES.items()}


@lru_cache(maxsize=64)
def target_tokens(folder: Path, mtime: float) -> tuple[str, ...]:
    """ISO 639-1 codes of the `>>xx<<` target tokens in a model's vocabulary (empty for bilingual models)."""
    try:
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    out = []
    for tok in vocab:
        m = re.fullmatch(r">>([a-z]{2,3})(?:_[A-Za-z]+)?<<", tok)
        if m:
            code = _ISO3_TO_1.get(m.group(1), m.group(1))
            if code in langcodes.LANGUAGES:
                out.append(code)
    return tuple(dict.fromkeys(out))


def _expand(code: str) -> tuple[str, ...]:
    code = code.lower()
    if code in GROUPS:
        return GROUPS[code]
    return (code,) if code in langcodes.LANGUAGES else ()


def model_pairs(m: LocalModel) -> list[tuple[str, str]]:
    """Language pairs one local Marian model serves, from its name and vocabulary."""
    match = _NAME.search(m.name) or _NAME.search(m.path.name)
    if not match:
        return []
    src, tgt = match.groups()
    tokens = target_tokens(m.path, (m.path / "vocab.json").stat().st_mtime if (m.path / "vocab.json").exists() else 0)
    targets = tokens if tokens and tgt.lower() not in langcodes.LANGUAGES else _expand(tgt)
    return [(s, t) for s in _expand(src) for t in targets if s != t]


class MarianTranslator(HFSeq2SeqTranslator):
    name = "marian"
    description = "MarianMT / OPUS-MT through transformers: one small model per language pair"
    family = "MarianMT"
    model_types = ("marian",)
    default_model = ""  # chosen per pair
    example_model = "Helsinki-NLP/opus-mt-<src>-<tgt>"
    batch_size = 16

    @classmethod
    def codes(cls) -> dict[str, str]:
        return {c: c for pair in cls.pairs() for c in pair}

    @classmethod
    def pairs(cls) -> list[tuple[str, str]]:
        found = {p for m in cls.local_models() for p in model_pairs(m)}
        if download_allowed():
            found.update(HUB_PAIRS)
        return sorted(found)

    @classmethod
    def first_local_model(cls) -> str:
        return ""  # no single model: `model_for` picks one per pair

    def model_for(self, source: str, target: str) -> str:
        if self.model:
            return self.model
        serving = [m for m in self.local_models() if (source, target) in model_pairs(m)]
        # A bilingual model beats a multi-language one for the same pair.
        serving.sort(key=lambda m: len(model_pairs(m)))
        return serving[0].name if serving else f"Helsinki-NLP/opus-mt-{source}-{target}"

    def check_pair(self, source: str, target: str) -> None:
        if self.model and source != target:
            return  # the user named the model: trust it with the pair
        super().check_pair(source, target)

    def prepare(self, tokenizer: Any, source: str, target: str) -> tuple[str, dict[str, Any]]:
        vocab = tokenizer.get_vocab()
        multi = [t for t in vocab if t.startswith(">>") and t.endswith("<<")]
        if not multi:
            return "", {}
        for cand in (target, langcodes.iso3(target)):
            if cand and f">>{cand}<<" in vocab:
                return f">>{cand}<< ", {}
        raise UnsupportedPairError(f"this Marian model has no target token for '{target}' "
                                   f"(it has {', '.join(sorted(multi)[:12])}...)")
