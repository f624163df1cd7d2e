"""Where speech is: the Silero VAD model that faster-whisper bundles (ONNX, ~0.1 s per 30 s of audio).

Two uses with different settings: diarization wants generous regions (padding keeps word
edges in the embedding windows), line-breaking wants tight ones (a pause of 0.5 s must
stay a pause of 0.5 s, not shrink by the padding).

The model's speech probabilities are the costly part (1.3 s for 10 minutes, on one core);
the regions are cheap to draw from them. So the probabilities of the last track heard are
kept: diarization asks for both kinds of regions, and transcription asks again for the same
track (2.7 of 4.1 s of VAD in a 10-minute dub were spent hearing it a second and third time).
"""
from __future__ import annotations

import hashlib
import threading

import numpy as np

FRAME = 512  # samples per probability: Silero's window at 16 kHz
_lock = threading.Lock()
_last: tuple[bytes, np.ndarray] | None = None  # (digest of the track, its probabilities)


def _digest(audio: np.ndarray) -> bytes:
    a = np.ascontiguousarray(audio, dtype=np.float32)
    return hashlib.blake2b(memoryview(a).cast("B"), digest_size=16).digest() + len(a).to_bytes(8, "little")


def speech_probabilities(audio: np.ndarray) -> np.ndarray:
    """Silero's speech probability for each FRAME samples of 16 kHz audio (the last frame zero-padded)."""
    from faster_whisper.vad import get_vad_model
    global _last
    key = _digest(audio)
    with _lock:
        if _last is not None and _last[0] == key:
            return _last[1]
    x = np.asarray(audio, dtype=np.float32)
    probs = np.asarray(get_vad_model()(np.pad(x, (0, FRAME - len(x) % FRAME))), dtype=np.float32).ravel()
    with _lock:
        _last = (key, probs)
    return probs


def regions_from(probs: np.ndarray, n: int, *, threshold: float, min_silence_ms: int, pad_ms: int,
                 sr: int = 16000) -> list[tuple[int, int]]:
    """Speech regions in samples, drawn from the probabilities as faster-whisper's
    `get_speech_timestamps` draws them with no limit on a region's length and no minimum
    (the same code path; a test holds the two equal): a region starts where the probability
    reaches `threshold`, and ends where it stays under threshold - 0.15 for `min_silence_ms`;
    then each is padded by `pad_ms`, and where two are closer than twice that, the gap is split."""
    low = max(threshold - 0.15, 0.01)
    min_silence = sr * min_silence_ms / 1000
    pad = sr * pad_ms / 1000
    spans: list[list[int]] = []
    start, triggered, quiet_from = 0, False, 0
    for i, p in enumerate(probs.tolist()):
        at = FRAME * i
        if p >= threshold:
            quiet_from = 0
            if not triggered:
                triggered, start = True, at
                continue
        if p < low and triggered:
            quiet_from = quiet_from or at
            if at - quiet_from < min_silence:
                continue
            if quiet_from - start > 0:
                spans.append([start, quiet_from])
            triggered, quiet_from = False, 0
    if triggered and n - start > 0:
        spans.append([start, n])
    for i, s in enumerate(spans):
        if i == 0:
            s[0] = int(max(0, s[0] - pad))
        if i != len(spans) - 1:
            silence = spans[i + 1][0] - s[1]
            if silence < 2 * pad:
                s[1] += int(silence // 2)
                spans[i + 1][0] = int(max(0, spans[i + 1][0] - silence // 2))
            else:
                s[1] = int(min(n, s[1] + pad))
                spans[i + 1][0] = int(max(0, spans[i + 1][0] - pad))
        else:
            s[1] = int(min(n, s[1] + pad))
    return [(a, b) for a, b in spans]


def speech_regions(audio: np.ndarray, sr: int, *, threshold: float = 0.35, min_silence_ms: int = 300,
                   pad_ms: int = 200) -> list[tuple[float, float]]:
    """Speech regions in seconds."""
    assert sr == 16000, "Silero VAD runs at 16 kHz"
    spans = regions_from(speech_probabilities(audio), len(audio), threshold=threshold,
                         min_silence_ms=min_silence_ms, pad_ms=pad_ms, sr=sr)
    return [(round(a / sr, 3), round(b / sr, 3)) for a, b in spans]


def tight_regions(audio: np.ndarray, sr: int) -> list[tuple[float, float]]:
    """Regions whose gaps are the pauses a listener hears, for refining word times and breaking lines.

    0.1 s of padding: with 0.04 s the detector clipped soft word edges and a 0.36 s breath
    between two sentences of the selfie clip measured 0.56 s, splitting a line that
    open-dubbing's own test expects whole.
    """
    return speech_regions(audio, sr, threshold=0.4, min_silence_ms=150, pad_ms=100)
