"""Shared fixtures: real media from ../shared/media (skipped with a reason where it is absent),
and media the suite makes itself (eSpeak NG speech muxed with a generated video track)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MEDIA = SHARED / "media"

# Never reach a model hub from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def shared_media(name: str) -> Path:
    path = MEDIA / name
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/media is provided beside the repo in CI)")
    return path


def ground_truth(name: str) -> dict:
    data = json.loads(shared_media("ground_truth.json").read_text())
    return next(item for item in data if item["file"] == name)


def run_cli(*args: str, cwd: Path = REPO, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dubbing", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


def espeak_wav(text: str, path: Path, voice: str = "en+m3") -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    return path


def make_speech_mp4(tmp: Path, sentences: list[tuple[str, str]], *, gap: float = 1.2, name: str = "speech.mp4") -> Path:
    """An MP4 with a gray video track and eSpeak speech: each (voice, sentence) followed by `gap` s of silence."""
    import soundfile as sf
    parts = []
    sr = 22050
    for i, (voice, text) in enumerate(sentences):
        wav = espeak_wav(text, tmp / f"part{i}.wav", voice)
        x, sr = sf.read(str(wav), dtype="float32")
        parts += [np.zeros(int(0.5 * sr), np.float32) if i == 0 else np.zeros(0, np.float32), x,
                  np.zeros(int(gap * sr), np.float32)]
    speech = np.concatenate(parts)
    # Quiet noise "background", so the mix has something to keep under the dub.
    rng = np.random.default_rng(0)
    speech = speech + 0.003 * rng.standard_normal(len(speech)).astype(np.float32)
    wav = tmp / "speech.wav"
    sf.write(str(wav), speech, sr)
    out = tmp / name
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=320x240:r=25", "-i", wav, "-shortest",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ar", "44100", out)
    return out


THREE_SENTENCES = [
    ("en+m3", "Good morning everyone, and welcome to the studio."),
    ("en+m3", "Today we are going to talk about the weather."),
    ("en+m3", "Thank you very much for watching."),
]


@pytest.fixture(scope="session")
def speech_mp4(tmp_path_factory) -> Path:
    """Made here: three English sentences by one male eSpeak voice, with pauses."""
    return make_speech_mp4(tmp_path_factory.mktemp("speech"), THREE_SENTENCES)
