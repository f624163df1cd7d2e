"""What the transformers translators (NLLB, M2M100, Marian) share: finding their
models, sentence splitting, batching and `generate`.

A family subclass says how to recognise its models, which languages it knows
and how it names them; everything else lives here once.
"""
from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any, ClassVar

from ...errors import UnsupportedPairError
from .. import langcodes
from ..base import Availability, Progress, Translator, no_progress
from ..resolve import LocalModel, hf_availability, prepare_transformers, resolve_model, scan_local, torch_device

PACKAGES = ("torch", "transformers", "sentencepiece")

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？;])\s+")
_CLAUSE_END = re.compile(r"(?<=[,:;、，])\s+")


def split_sentences(text: str, max_chars: int = 300) -> list[str]:
    """Sentences of `text`; a sentence longer than `max_chars` is cut at commas, then between words.

    Seq2seq models translate one sentence well and tend to drop the tail of a
    long paragraph, so long utterances go in as pieces and come back joined.
    """
    out: list[str] = []
    for sent in _SENTENCE_END.split(text.strip()):
        if not sent:
            continue
        if len(sent) <= max_chars:
            out.append(sent)
            continue
        for clause in _CLAUSE_END.split(sent):
            while len(clause) > max_chars:
                cut = clause.rfind(" ", 0, max_chars)
                cut = cut if cut > 0 else max_chars
                out.append(clause[:cut].strip())
                clause = clause[cut:].strip()
            if clause:
                out.append(clause)
    return out


def tokenizer_class(folder: Path) -> str:
    """The tokenizer class a model folder declares ("" if none): tells NLLB from M2M100, which share model_type."""
    try:
        return str(json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("tokenizer_class", ""))
    except (OSError, ValueError, AttributeError):
        return ""


class HFSeq2SeqTranslator(Translator):
    """A translator backed by a transformers encoder-decoder model."""

    family: ClassVar[str] = ""  # for messages: "NLLB-200"
    model_types: ClassVar[tuple[str, ...]] = ()  # config.json model_type values of this family
    # Several families share a model_type: a model also needs its tokenizer class or its name to match.
    tokenizer_prefix: ClassVar[str] = ""
    name_pattern: ClassVar[str] = ""
    known_models: ClassVar[tuple[str, ...]] = ()  # hub ids, preferred first
    example_model: ClassVar[str] = ""  # named in messages when there is no single default
    batch_size: ClassVar[int] = 8
    num_beams: ClassVar[int] = 4
    max_chars: ClassVar[int] = 300

    # ---- what each family says about itself
    @classmethod
    def codes(cls) -> dict[str, str]:
        """ISO 639-1 -> this family's language code."""
        raise NotImplementedError

    def prepare(self, tokenizer: Any, source: str, target: str) -> tuple[str, dict[str, Any]]:
        """Set the tokenizer up for `source`; return (a prefix for each input, extra generate kwargs)."""
        raise NotImplementedError

    def non_text_ids(self, tokenizer: Any) -> set[int]:
        """Token ids to drop from outputs besides the tokenizer's special ones (language tags)."""
        return set()

    # ---- finding models
    @classmethod
    def is_family(cls, m: LocalModel) -> bool:
        if cls.model_types and m.config.get("model_type") not in cls.model_types:
            return False
        if not cls.tokenizer_prefix and not cls.name_pattern:
            return True
        if cls.tokenizer_prefix and tokenizer_class(m.path).startswith(cls.tokenizer_prefix):
            return True
        return bool(cls.name_pattern) and re.search(cls.name_pattern, f"{m.name} {m.path.as_posix()}", re.I) is not None

    @classmethod
    def local_models(cls) -> list[LocalModel]:
        found = scan_local(cls.is_family, names=cls.known_models)
        rank = {n: i for i, n in enumerate(cls.known_models)}
        return sorted(found, key=lambda m: (rank.get(m.name, len(rank)), m.name))

    @classmethod
    def availability(cls) -> Availability:
        return hf_availability(PACKAGES, cls.local_models(), family=cls.family,
                               default=cls.default_model or cls.example_model)

    @classmethod
    def models(cls) -> list[str]:
        return [m.name for m in cls.local_models()]

    @classmethod
    def languages(cls) -> list[str]:
        return sorted(cls.codes())

    @classmethod
    def pairs(cls) -> list[tuple[str, str]]:
        langs = cls.languages()
        return [(s, t) for s in langs for t in langs if s != t]

    # ---- running
    def __init__(self, model: str = ""):
        super().__init__(model or self.first_local_model())
        self._loaded: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.RLock()  # the tokenizer holds the source language: one batch at a time

    @classmethod
    def first_local_model(cls) -> str:
        """The model to use when none is named: the preferred one found here, else the default (downloaded)."""
        local = cls.local_models()
        return local[0].name if local else cls.default_model

    def model_for(self, source: str, target: str) -> str:
        return self.model

    def load(self, name: str) -> tuple[Any, Any]:
        """(tokenizer, model) for a model name or folder, loaded once."""
        with self._lock:
            if name not in self._loaded:
                path = resolve_model(name, kind=f"{self.family} translation")
                prepare_transformers()
                from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
                tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
                model = AutoModelForSeq2SeqLM.from_pretrained(path, local_files_only=True)
                model.to(torch_device()).eval()
                self._loaded[name] = (tok, model)
            return self._loaded[name]

    def check_pair(self, source: str, target: str) -> None:
        if source == target or (source, target) not in self.pairs():
            raise UnsupportedPairError(
                f"{self.family} cannot translate {source} to {target} here; it knows: "
                f"{', '.join(self.languages()) or 'no language'}")

    def translate(self, texts: list[str], source: str, target: str,
                  progress: Progress = no_progress) -> list[str]:
        self.check_pair(source, target)
        pieces: list[tuple[int, str]] = [(i, p) for i, t in enumerate(texts)
                                         for p in split_sentences(t, self.max_chars)]
        # Similar lengths in one batch waste less padding.
        order = sorted(range(len(pieces)), key=lambda k: len(pieces[k][1]))
        done: dict[int, str] = {}
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            for k, out in zip(batch, self.generate([pieces[k][1] for k in batch], source, target)):
                done[k] = out
            progress(min(1.0, (start + len(batch)) / len(order)),
                     f"translated {start + len(batch)} of {len(order)} sentences")
        joined: list[list[str]] = [[] for _ in texts]
        for k, (owner, _) in enumerate(pieces):
            joined[owner].append(done[k])
        return [langcodes.joiner(target).join(p for p in parts if p) for parts in joined]

    def generate(self, batch: list[str], source: str, target: str) -> list[str]:
        """Translate one batch of sentences."""
        import torch
        tok, model = self.load(self.model_for(source, target))
        room = int(getattr(model.config, "max_position_embeddings", 512) or 512) - 2
        with self._lock:
            prefix, extra = self.prepare(tok, source, target)
            enc = tok([prefix + s for s in batch], return_tensors="pt", padding=True, truncation=True,
                      max_length=room).to(model.device)
        limit = min(room, int(enc["input_ids"].shape[1] * 2) + 16)
        with torch.inference_mode():
            out = model.generate(**enc, num_beams=self.num_beams, max_new_tokens=limit, **extra)
        drop = self.non_text_ids(tok)
        ids = [[i for i in row.tolist() if i not in drop] for row in out]
        return [s.strip() for s in tok.batch_decode(ids, skip_special_tokens=True)]
