"""Offline diarization: Silero VAD regions, resemblyzer GE2E embeddings per window, clustering.

Windows do not overlap (1.5 s, regions shorter than that are embedded whole):
three times fewer embeddings than the 0.5 s hop usually used, for about the same
accuracy on meeting audio, because speaker changes mostly fall at pauses that VAD
already cuts on.
"""
from __future__ import annotations

import warnings

import numpy as np

from ...errors import SilentInputError
from .._util import missing_packages
from ..base import Availability, Diarizer, Progress, Turn, no_progress

WINDOW_S = 1.5
MIN_WINDOW_S = 0.4
MAX_AUTO_SPEAKERS = 8
# Mean pairwise cosine similarity of the window embeddings: 0.71-0.80 on our one-speaker
# clips, 0.56-0.62 on two- and four-speaker meetings. At or above this, call it one speaker.
ONE_SPEAKER_SIMILARITY = 0.67


def speech_regions(audio: np.ndarray, sr: int) -> list[tuple[float, float]]:
    """Speech regions in seconds from the Silero VAD model that faster-whisper bundles."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps
    assert sr == 16000, "Silero VAD runs at 16 kHz"
    stamps = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=300, speech_pad_ms=100))
    return [(s["start"] / sr, s["end"] / sr) for s in stamps]


def windows(regions: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = []
    for start, end in regions:
        n = max(1, int(round((end - start) / WINDOW_S)))
        step = (end - start) / n
        for i in range(n):
            out.append((start + i * step, start + (i + 1) * step))
    return [w for w in out if w[1] - w[0] >= MIN_WINDOW_S] or out


def cluster(emb: np.ndarray, num_speakers: int | None) -> np.ndarray:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    n = len(emb)
    if n == 1 or num_speakers == 1:
        return np.zeros(n, dtype=int)
    if num_speakers:
        k = min(num_speakers, n)
        return KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(emb)
    sims = emb @ emb.T / np.outer(np.linalg.norm(emb, axis=1), np.linalg.norm(emb, axis=1))
    if sims[np.triu_indices(n, 1)].mean() >= ONE_SPEAKER_SIMILARITY:
        return np.zeros(n, dtype=int)
    best, best_score = np.zeros(n, dtype=int), -1.0
    for k in range(2, min(MAX_AUTO_SPEAKERS, n - 1) + 1):
        labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(emb)
        score = silhouette_score(emb, labels, metric="cosine")
        if score > best_score:
            best, best_score = labels, score
    return best


def smooth(labels: np.ndarray) -> np.ndarray:
    """A lone window between two windows of one other speaker is that speaker (embedding noise)."""
    out = labels.copy()
    for i in range(1, len(labels) - 1):
        if labels[i - 1] == labels[i + 1] != labels[i]:
            out[i] = labels[i - 1]
    return out


def to_turns(wins: list[tuple[float, float]], labels: np.ndarray) -> list[Turn]:
    order: dict[int, str] = {}
    turns: list[Turn] = []
    for (start, end), lab in zip(wins, labels):
        name = order.setdefault(int(lab), f"SPEAKER_{len(order):02d}")
        if turns and turns[-1].speaker == name and start - turns[-1].end < 0.5:
            turns[-1] = Turn(turns[-1].start, end, name)
        else:
            turns.append(Turn(start, end, name))
    return turns


class ResemblyzerDiarizer(Diarizer):
    name = "resemblyzer"
    description = "Silero VAD + resemblyzer speaker embeddings + k-means (offline, packaged weights)"
    default_model = "ge2e"

    @classmethod
    def availability(cls) -> Availability:
        missing = missing_packages("resemblyzer", "sklearn", "faster_whisper")
        if missing:
            return Availability.no(f"Python packages missing: {', '.join(missing)}; run `make setup`")
        return Availability.yes()

    def __init__(self, model: str = ""):
        super().__init__(model)
        with warnings.catch_warnings():  # webrtcvad imports the deprecated pkg_resources
            warnings.simplefilter("ignore")
            from resemblyzer import VoiceEncoder
        self._encoder = VoiceEncoder("cpu", verbose=False)

    def diarize(self, audio, sr, *, num_speakers=None, progress: Progress = no_progress):
        from resemblyzer.audio import normalize_volume
        progress(0.0, "finding speech")
        regions = speech_regions(audio, sr)
        if not regions:
            raise SilentInputError("no speech was found in the audio track; nothing to dub")
        wins = windows(regions)
        emb = np.zeros((len(wins), 256), dtype=np.float32)
        for i, (start, end) in enumerate(wins):
            piece = normalize_volume(audio[int(start * sr):int(end * sr)], -30, increase_only=True)
            emb[i] = self._encoder.embed_utterance(piece)
            if i % 10 == 0:
                progress(0.05 + 0.9 * i / len(wins), f"speaker embeddings {i}/{len(wins)}")
        progress(0.95, "clustering speakers")
        labels = smooth(cluster(emb, num_speakers))
        return to_turns(wins, labels)
