"""ffmpeg and ffprobe: probing, splitting audio from video, time-stretching, muxing.

Files are judged by probing their content, never by their name.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from .errors import (CorruptInputError, DubbingError, NoAudioError, NotAVideoError, NoVideoError, NotFoundError,
                     TooBigError, TransientError)
from .fsutil import atomic_output

MP4_FORMATS = {"mov", "mp4", "m4a", "3gp", "3g2", "mj2"}


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:  # moviepy's dependency ships a static ffmpeg (without ffprobe)
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # pragma: no cover - only without any ffmpeg
        raise DubbingError("ffmpeg is not installed: run `make setup` (or apt-get install ffmpeg)") from exc


@lru_cache(maxsize=1)
def ffprobe_exe() -> str:
    found = shutil.which("ffprobe")
    if not found:
        raise DubbingError("ffprobe is not installed: run `make setup` (or apt-get install ffmpeg)")
    return found


def tool_version(cmd: list[str]) -> str:
    """First line a tool prints about its version, or why it could not be run."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"not available ({exc.__class__.__name__})"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def run_ffmpeg(args: list[str], *, what: str) -> None:
    """Run ffmpeg quietly; a crash by signal is transient, an error is reported with ffmpeg's last line."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                          capture_output=True, text=True)
    if proc.returncode < 0:
        raise TransientError(f"ffmpeg was killed while {what} (signal {-proc.returncode}); try again")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise CorruptInputError(f"ffmpeg failed while {what}: {last}")


@dataclass
class MediaInfo:
    duration: float
    size: int
    format_name: str
    video_codec: str
    width: int
    height: int
    audio_codec: str
    sample_rate: int
    channels: int
    audio_duration: float  # may be shorter than the container's (video longer than sound)

    def to_dict(self) -> dict:
        return asdict(self)


def _looks_like_mp4(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(12)
    return len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


def probe(path: Path, *, max_bytes: int | None = None) -> MediaInfo:
    """Check that `path` is an MP4 with a video and an audio stream, and describe it."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no such file: {path}")
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise TooBigError(f"{path.name} is {size / 1e6:.0f} MB; the limit is {max_bytes / 1e6:.0f} MB. "
                          "Cut or compress the video and try again")
    if size == 0:
        raise NotAVideoError(f"{path.name} is empty: upload an MP4 video")
    proc = subprocess.run([ffprobe_exe(), "-v", "error", "-print_format", "json", "-show_format",
                           "-show_streams", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["unreadable"])[-1]
        if _looks_like_mp4(path):
            raise CorruptInputError(f"{path.name} is a damaged or truncated MP4 ({reason}); "
                                    "export or download it again")
        raise NotAVideoError(f"{path.name} is not a video file; upload an MP4 (H.264/AAC or similar)")
    data = json.loads(proc.stdout or "{}")
    fmt = data.get("format", {})
    names = set(fmt.get("format_name", "").split(","))
    if not names & MP4_FORMATS:
        raise NotAVideoError(f"{path.name} is a {fmt.get('format_long_name') or fmt.get('format_name')} file, "
                             "not an MP4; convert it to MP4 first")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        raise NoVideoError(f"{path.name} has no video stream; this tool dubs videos (MP4 with picture and sound)")
    if audio is None:
        raise NoAudioError(f"{path.name} has no audio track, so there is no speech to dub; "
                           "pick a video with sound")
    try:
        duration = float(fmt.get("duration") or audio.get("duration") or video.get("duration"))
    except (TypeError, ValueError):
        raise CorruptInputError(f"{path.name} has no readable duration; it may be truncated") from None
    if duration <= 0.1:
        raise CorruptInputError(f"{path.name} is shorter than 0.1 s; nothing to dub")
    return MediaInfo(duration=duration, size=size, format_name=fmt.get("format_name", ""),
                     video_codec=video.get("codec_name", ""), width=int(video.get("width") or 0),
                     height=int(video.get("height") or 0), audio_codec=audio.get("codec_name", ""),
                     sample_rate=int(audio.get("sample_rate") or 0), channels=int(audio.get("channels") or 0),
                     audio_duration=_float(audio.get("duration"), duration))


def _float(value, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def extract_audio(src: Path, dst: Path, *, sample_rate: int | None = None, mono: bool = False,
                  seconds: float | None = None) -> None:
    """Decode the first audio stream to 16-bit WAV (atomically): resampled/mono for analysis, or as-is for mixing."""
    args = ["-i", str(src), "-map", "0:a:0", "-vn"]
    if seconds:
        args += ["-t", f"{seconds:.3f}"]
    if mono:
        args += ["-ac", "1"]
    if sample_rate:
        args += ["-ar", str(sample_rate)]
    with atomic_output(dst) as tmp:
        run_ffmpeg(args + ["-c:a", "pcm_s16le", str(tmp)], what=f"reading the audio of {Path(src).name}")


def mux(video_src: Path, audio_wav: Path, dst: Path, *, seconds: float | None = None) -> None:
    """Put new audio beside the untouched video stream (copied, never re-encoded)."""
    args = ["-i", str(video_src), "-i", str(audio_wav), "-map", "0:v:0", "-map", "1:a:0",
            "-c:v", "copy",
            # The fast AAC coder at 128k: transparent enough for speech over a ducked background,
            # and 2.3x faster than the default (it is most of an `update` after one edit).
            "-c:a", "aac", "-aac_coder", "fast", "-b:a", "128k", "-map_metadata", "0", "-movflags", "+faststart"]
    if seconds:
        args += ["-t", f"{seconds:.3f}"]
    with atomic_output(dst) as tmp:
        run_ffmpeg(args + [str(tmp)], what="writing the dubbed video")


def stream_md5(path: Path, stream: str = "v:0") -> str:
    """MD5 of a stream's packets (not decoded frames): equal when the stream was copied bit for bit."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", f"0:{stream}",
                           "-c", "copy", "-f", "md5", "-"], capture_output=True, text=True, check=True)
    return proc.stdout.strip()
