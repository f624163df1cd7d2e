"""Speaker diarization with a pyannote.audio pipeline: `pyannote/speaker-diarization-community-1`
(pyannote 4) or `pyannote/speaker-diarization-3.1`, from a local pipeline folder, the
Hugging Face cache, or the hub with a token (both are gated: accept their terms first).

Audio goes in as an in-memory waveform, so pyannote never decodes files itself
(its decoders, torchaudio/torchcodec, are the fragile part). Where `import
pyannote.audio` fails, availability says why instead of taking the process down.
"""
from __future__ import annotations

import inspect
import threading
from typing import Any, Iterable

import numpy as np

from ..base import Availability, Diarizer, Progress, Turn, no_progress
from ..resolve import (LocalModel, download_allowed, download_hint, find_local, hf_token, missing_packages,
                       probe_import, resolve_model, scan_local, torch_device, where_looked)

KNOWN = ("pyannote/speaker-diarization-community-1", "pyannote/speaker-diarization-3.1")
REQUIRED = ("config.yaml",)


def local_pipelines() -> list[LocalModel]:
    """Pipeline folders (with a config.yaml) found locally, the known ones first."""
    found = [m for m in (find_local(n, required=REQUIRED) for n in KNOWN) if m is not None]
    others = scan_local(lambda m: "diariz" in m.name.lower(), required=REQUIRED)
    return found + [m for m in others if m.path not in {f.path for f in found}]


def turns_from_tracks(tracks: Iterable[tuple[Any, Any, Any]], *, min_duration: float = 0.0) -> list[Turn]:
    """Turns from pyannote's `itertracks(yield_label=True)`, relabelled SPEAKER_00, 01, ...
    in order of first appearance and sorted by start."""
    raw = sorted(((float(seg.start), float(seg.end), str(label)) for seg, _, label in tracks),
                 key=lambda t: (t[0], t[1]))
    names: dict[str, str] = {}
    out = []
    for start, end, label in raw:
        if end - start <= min_duration:
            continue
        names.setdefault(label, f"SPEAKER_{len(names):02d}")
        out.append(Turn(round(start, 3), round(end, 3), names[label]))
    return out


class PyannoteDiarizer(Diarizer):
    name = "pyannote"
    description = "pyannote.audio speaker-diarization pipeline (community-1 or 3.1; gated on the hub)"
    default_model = KNOWN[0]

    @classmethod
    def availability(cls) -> Availability:
        miss = missing_packages("pyannote.audio", "torch")
        if miss:
            return Availability.no(f"{miss}: pip install pyannote.audio")
        reasons = []
        broken = probe_import("pyannote.audio", versions_of=("pyannote.audio", "torch", "torchaudio", "torchcodec"))
        if broken:
            reasons.append(f"{broken} (its torchaudio/torchcodec build must match torch; on a CPU-only "
                           f"machine PyPI's Linux wheels are CUDA builds)")
        if not local_pipelines():
            if not download_allowed():
                reasons.append(f"no pyannote pipeline found: looked for {' and '.join(KNOWN)} in "
                               f"{where_looked(KNOWN[0])} (and the same places for 3.1); {download_hint()}")
            elif not hf_token():
                reasons.append(f"{KNOWN[0]} is gated: accept its terms on https://huggingface.co/{KNOWN[0]} "
                               f"and set HF_TOKEN (no token is set)")
        return Availability.no("; and ".join(reasons)) if reasons else Availability.yes()

    @classmethod
    def models(cls) -> list[str]:
        return [m.name for m in local_pipelines()]

    def __init__(self, model: str = ""):
        if not model:
            local = local_pipelines()
            model = local[0].name if local else self.default_model
        super().__init__(model)
        self._pipeline: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        with self._lock:
            if self._pipeline is None:
                token = hf_token()
                path = resolve_model(self.model, kind="diarization", required=REQUIRED, token=token, gated=True)
                import torch
                from pyannote.audio import Pipeline
                # pyannote 4 takes `token`, 3.x `use_auth_token`; sub-models named by hub id need it too.
                auth = "token" if "token" in inspect.signature(Pipeline.from_pretrained).parameters else "use_auth_token"
                pipeline = Pipeline.from_pretrained(str(path), **{auth: token})
                if pipeline is None:
                    from ...errors import EngineUnavailableError
                    raise EngineUnavailableError(f"pyannote could not load the pipeline in {path}")
                self._pipeline = pipeline.to(torch.device(torch_device()))
            return self._pipeline

    def diarize(self, audio: np.ndarray, sr: int, *, num_speakers: int | None,
                progress: Progress = no_progress) -> list[Turn]:
        import torch
        pipeline = self.load()
        waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).reshape(1, -1)

        def hook(step: str, _artifact: Any, file: Any = None, total: int | None = None,
                 completed: int | None = None) -> None:
            if total:
                progress(min(0.99, (completed or 0) / total), step.replace("_", " "))

        kwargs = {"num_speakers": num_speakers} if num_speakers else {}
        out = pipeline({"waveform": waveform, "sample_rate": sr}, hook=hook, **kwargs)
        # pyannote 4 returns a DiarizeOutput; its exclusive diarization has one speaker at a
        # time, which is what a dub needs. pyannote 3 returns the Annotation itself.
        annotation = getattr(out, "exclusive_speaker_diarization", None) or getattr(out, "speaker_diarization", out)
        progress(1.0, "diarized")
        return turns_from_tracks(annotation.itertracks(yield_label=True))
