"""Audio of one utterance for "listen": a slice of the original, and its dubbed clip."""
from __future__ import annotations

import io
import subprocess
from pathlib import Path

from ..models import Utterance

ORIGINAL_AUDIO = "audio_orig.wav"  # under DIR/work, written by the probe stage
PAD = 0.15  # seconds of context either side, so the first and last syllables are not clipped


def original_clip(job_dir: Path, utt: Utterance, *, pad: float = PAD) -> bytes | None:
    """WAV bytes of the source audio under `utt` (from the extracted track, else from the input video)."""
    work = Path(job_dir) / "work"
    start = max(0.0, utt.start - pad)
    end = utt.end + pad
    wav = work / ORIGINAL_AUDIO
    if wav.is_file():
        import soundfile as sf

        info = sf.info(str(wav))
        first, last = int(start * info.samplerate), min(info.frames, int(end * info.samplerate))
        if last <= first:
            return None
        data, sr = sf.read(str(wav), start=first, stop=last, dtype="int16", always_2d=True)
        buf = io.BytesIO()
        sf.write(buf, data, sr, format="WAV", subtype="PCM_16")
        return buf.getvalue()
    src = work / "input.mp4"
    if not src.is_file():
        return None
    from ..media import ffmpeg_exe

    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-ss", f"{start:.3f}",
                           "-t", f"{end - start:.3f}", "-i", str(src), "-vn", "-ac", "1", "-c:a", "pcm_s16le",
                           "-f", "wav", "pipe:1"], capture_output=True, timeout=60)
    return proc.stdout if proc.returncode == 0 and proc.stdout else None


def dubbed_clip(job_dir: Path, utt: Utterance) -> Path | None:
    """The utterance's fitted speech clip, when it has been made."""
    if not utt.clip:
        return None
    path = Path(job_dir) / "work" / utt.clip
    return path if path.is_file() else None
