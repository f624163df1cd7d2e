"""resemblyzer's GE2E speaker encoder in numpy, reading the weights that ship in its wheel.

Importing resemblyzer imports torch (1.4 s of a 40 s clip's 3 s diarization, for a
3-layer LSTM that runs in 0.2 s). Here the same network runs in numpy and the weights
are read from resemblyzer's `pretrained.pt` (torch's legacy pickle format) without torch.
A test checks the embeddings against resemblyzer's own `VoiceEncoder` within 1e-5.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dubbing.engines._util import package_folder
from dubbing.engines.diarization import torch_checkpoint

MEL_CHANNELS = 40
PARTIAL_FRAMES = 160  # 1.6 s of 10 ms mel frames: what one embedding hears
FRAMES_PER_SECOND = 100
TARGET_DBFS = -30.0


def weights_path() -> Path:
    """resemblyzer's packaged weights, found without importing the package (that would import torch)."""
    return package_folder("resemblyzer", "resemblyzer") / "pretrained.pt"


def load_weights(path: Path | None = None) -> dict[str, np.ndarray]:
    checkpoint = torch_checkpoint.load(path or weights_path())
    return dict(checkpoint["model_state"] if "model_state" in checkpoint else checkpoint)


class GE2EEncoder:
    """mels (batch, frames, 40) -> L2-normed embeddings (batch, 256), as resemblyzer's VoiceEncoder."""

    def __init__(self, weights: dict[str, np.ndarray] | None = None):
        w = weights or load_weights()
        self.layers = []
        k = 0
        while f"lstm.weight_ih_l{k}" in w:
            hidden = w[f"lstm.weight_hh_l{k}"].shape[1]
            # torch orders the gates i, f, g, o. Reordered to i, f, o, g and the sigmoid gates
            # halved, one tanh serves all four: sigmoid(x) = (tanh(x / 2) + 1) / 2.
            order = np.r_[0:2 * hidden, 3 * hidden:4 * hidden, 2 * hidden:3 * hidden]
            scale = np.r_[np.full(3 * hidden, 0.5), np.ones(hidden)].astype(np.float32)
            self.layers.append(((w[f"lstm.weight_ih_l{k}"][order] * scale[:, None]).T.copy(),
                                (w[f"lstm.weight_hh_l{k}"][order] * scale[:, None]).T.copy(),
                                (w[f"lstm.bias_ih_l{k}"] + w[f"lstm.bias_hh_l{k}"])[order] * scale))
            k += 1
        self.linear_w, self.linear_b = w["linear.weight"].T.copy(), w["linear.bias"]

    def __call__(self, mels: np.ndarray) -> np.ndarray:
        [embeddings] = self.batches([lambda: mels], workers=1)  # runs the generator to its end
        return embeddings

    def batches(self, makers, workers: int):
        """Embeddings of each batch that `makers` (callables giving mels) yields, in order, made on
        `workers` threads, each making its own batch's mels when it starts (memory: a few batches).

        BLAS keeps one thread: the products are small (64 x 256 by 256 x 1024 per step), and two
        BLAS threads made them 3-5x slower on a busy 2-core machine (spinning threads wait on each
        other). Two Python threads, each on its own batches, do gain: numpy releases the GIL in the
        products and tanh, and 300 s of speech embedded in 1.95 s instead of 3.55.
        """
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            pending = []
            for make in makers:
                pending.append(pool.submit(lambda m=make: self._forward(m())))
                if len(pending) > 2 * workers:
                    yield pending.pop(0).result()
            for f in pending:
                yield f.result()

    def _forward(self, mels: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(mels, dtype=np.float32).transpose(1, 0, 2))  # (frames, batch, in)
        frames, batch, _ = x.shape
        for w_ih, w_hh, bias in self.layers:
            hidden = w_hh.shape[0]
            # The input's share of every gate at every step in one product; only h @ w_hh is sequential.
            gates_in = (x.reshape(frames * batch, -1) @ w_ih + bias).reshape(frames, batch, 4 * hidden)
            h = np.zeros((batch, hidden), np.float32)
            c = np.zeros((batch, hidden), np.float32)
            out = np.empty((frames, batch, hidden), np.float32)
            g = np.empty((batch, 4 * hidden), np.float32)
            for t in range(frames):
                np.matmul(h, w_hh, out=g)
                g += gates_in[t]
                np.tanh(g, out=g)
                sig = g[:, :3 * hidden]
                sig += 1.0
                sig *= 0.5
                c *= sig[:, hidden:2 * hidden]
                c += sig[:, :hidden] * g[:, 3 * hidden:]
                np.multiply(sig[:, 2 * hidden:], np.tanh(c), out=out[t])
                h = out[t]
            x = out
        raw = np.maximum(h @ self.linear_w + self.linear_b, 0.0)
        return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)


def normalize_volume(audio: np.ndarray, target_dbfs: float = TARGET_DBFS, increase_only: bool = True) -> np.ndarray:
    """resemblyzer.audio.normalize_volume, without importing resemblyzer."""
    rms2 = float(np.mean(np.square(audio, dtype=np.float64)))
    if rms2 <= 0.0:
        return audio
    change = target_dbfs - 10 * float(np.log10(rms2))
    if change < 0 and increase_only:
        return audio
    return audio * np.asarray(10 ** (change / 20), dtype=audio.dtype)  # keeps float32 for the VAD
