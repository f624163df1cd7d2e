"""Speech-to-text with OpenAI Whisper (or distil-whisper) through the transformers pipeline.

The second STT engine, for GPUs and for checkpoints that have no CTranslate2
conversion. Model names as faster-whisper spells them ("large-v3", "turbo",
"distil-large-v3") map to the transformers checkpoints; a hub id or a local
folder works too. Words come with timestamps; segments are cut at sentence ends
and pauses.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..base import Availability, Progress, Segment, Transcriber, Transcript, Word, no_progress
from ..resolve import (LocalModel, hf_availability, looks_like_path, prepare_transformers, resolve_model,
                       scan_local, torch_device)

PACKAGES = ("torch", "transformers")
SR = 16000
NAMES = {
    **{n: f"openai/whisper-{n}" for n in ("tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium",
                                          "medium.en", "large-v2", "large-v3", "large-v3-turbo")},
    "large": "openai/whisper-large-v3", "turbo": "openai/whisper-large-v3-turbo",
    **{f"distil-{n}": f"distil-whisper/distil-{n}" for n in ("large-v2", "large-v3", "large-v3.5", "medium.en",
                                                              "small.en")},
}
BLOCK_S = 120.0  # audio goes to the pipeline in blocks this long, cut in quiet spots, for progress
PAUSE_S = 0.6  # a pause this long between words ends a segment
MAX_SEGMENT_S = 15.0
# Whisper's own codes that differ from ISO 639-1.
_WHISPER_TO_ISO = {"jw": "jv", "haw": "haw", "yue": "zh"}


def hub_name(model: str) -> str:
    return NAMES.get(model, model)


class TransformersWhisperTranscriber(Transcriber):
    name = "transformers-whisper"
    description = "Whisper / distil-whisper through the transformers pipeline (GPU when present)"
    default_model = "openai/whisper-large-v3-turbo"

    @classmethod
    def local_models(cls) -> list[LocalModel]:
        found = scan_local(lambda m: m.config.get("model_type") == "whisper", names=NAMES.values())
        rank = {n: i for i, n in enumerate(NAMES.values())}
        return sorted(found, key=lambda m: (rank.get(m.name, len(rank)), m.name))

    @classmethod
    def availability(cls) -> Availability:
        return hf_availability(PACKAGES, cls.local_models(), family="Whisper (transformers)",
                               default=cls.default_model)

    @classmethod
    def models(cls) -> list[str]:
        by_repo = {v: k for k, v in reversed(NAMES.items())}
        return [by_repo.get(m.name, m.name) for m in cls.local_models()]

    def __init__(self, model: str = ""):
        if not model:
            local = self.local_models()
            model = local[0].name if local else self.default_model
        super().__init__(model)
        self._pipe: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        with self._lock:
            if self._pipe is None:
                name = self.model if looks_like_path(self.model) else hub_name(self.model)
                path = resolve_model(name, kind="speech-to-text")
                prepare_transformers()
                import torch
                from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor, pipeline
                device = torch_device()
                dtype = torch.float16 if device.startswith("cuda") else torch.float32
                processor = AutoProcessor.from_pretrained(path, local_files_only=True)
                model = AutoModelForSpeechSeq2Seq.from_pretrained(path, local_files_only=True, dtype=dtype)
                self._pipe = pipeline("automatic-speech-recognition", model=model.to(device).eval(),
                                      tokenizer=processor.tokenizer, feature_extractor=processor.feature_extractor,
                                      chunk_length_s=30, device=device, dtype=dtype, ignore_warning=True)
            return self._pipe

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        """(ISO 639-1 code, probability) from the first 30 s, as Whisper itself does it."""
        import torch
        pipe = self.load()
        model, gen = pipe.model, pipe.model.generation_config
        feats = pipe.feature_extractor(audio[: 30 * SR], sampling_rate=SR, return_tensors="pt").input_features
        start = torch.tensor([[gen.decoder_start_token_id]], device=model.device)
        with torch.inference_mode():
            logits = model(input_features=feats.to(model.device, model.dtype), decoder_input_ids=start).logits[0, -1]
        codes, ids = zip(*gen.lang_to_id.items())
        probs = logits[list(ids)].float().softmax(-1)
        best = int(probs.argmax())
        code = codes[best].strip("<|>")
        return _WHISPER_TO_ISO.get(code, code), float(probs[best])

    def transcribe(self, audio: np.ndarray, sr: int, *, language: str | None,
                   progress: Progress = no_progress) -> Transcript:
        assert sr == SR, "Whisper runs at 16 kHz"
        audio = np.asarray(audio, dtype=np.float32)
        duration = len(audio) / SR
        probability = 1.0
        if language is None:
            progress(0.0, "detecting language")
            language, probability = self.detect_language(audio)
        pipe = self.load()
        words: list[Word] = []
        cuts = block_bounds(audio)
        for i, (a, b) in enumerate(cuts):
            out = pipe({"raw": audio[a:b], "sampling_rate": SR}, return_timestamps="word",
                       generate_kwargs={"language": language, "task": "transcribe"})
            words += _words(out.get("chunks", []), offset=a / SR, limit=b / SR)
            progress((i + 1) / len(cuts), f"transcribed {b / SR:.0f} of {duration:.0f} s")
        return Transcript(language, probability, segments_from_words(words))


def block_bounds(audio: np.ndarray, block_s: float = BLOCK_S) -> list[tuple[int, int]]:
    """Sample ranges of about `block_s` each, cut at the quietest 50 ms within 5 s of each boundary."""
    n, step, win = len(audio), int(block_s * SR), int(0.05 * SR)
    bounds, start = [], 0
    while n - start > step + 10 * SR:
        lo, hi = start + step - 5 * SR, start + step + 5 * SR
        frames = audio[lo:hi][: (hi - lo) // win * win].reshape(-1, win)
        cut = lo + int(np.argmin((frames ** 2).mean(axis=1))) * win
        bounds.append((start, cut))
        start = cut
    bounds.append((start, n))
    return bounds


def _words(chunks: list[dict], *, offset: float, limit: float) -> list[Word]:
    out = []
    for c in chunks:
        text = str(c.get("text", ""))  # keeps its leading space, as faster-whisper's words do
        start, end = c.get("timestamp", (None, None))
        if not text.strip() or start is None:
            continue
        start = min(offset + float(start), limit)
        end = min(offset + float(end if end is not None else start), limit)
        out.append(Word(round(start, 3), round(max(end, start), 3), text))
    return out


def segments_from_words(words: list[Word]) -> list[Segment]:
    """Group words into segments: a new one after a sentence end, a pause, or MAX_SEGMENT_S."""
    segments: list[Segment] = []
    current: list[Word] = []
    for w in words:
        if current and (w.start - current[-1].end >= PAUSE_S or w.end - current[0].start > MAX_SEGMENT_S
                        or current[-1].text.rstrip().endswith((".", "?", "!", "。", "？", "！"))):
            segments.append(_segment(current))
            current = []
        current.append(w)
    if current:
        segments.append(_segment(current))
    return segments


def _segment(words: list[Word]) -> Segment:
    # Words carry their own leading spaces (none in Chinese or Japanese): join them as they are.
    return Segment(words[0].start, words[-1].end, "".join(w.text for w in words).strip(), list(words))
