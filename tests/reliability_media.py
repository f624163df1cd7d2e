"""Test videos made with ffmpeg from the real recordings in ../shared/media (never synthetic speech).

Each maker writes an MP4 to a given path and returns it; the callers skip when the
recordings are absent.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from dubbing.media import ffmpeg_exe, file_arg

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
SPEECH = MEDIA / "en_ljspeech_LJ050-0131.wav"
LONG_PARTS = ["en_jfk_inaugural.flac", "multi2_ami_dev00.wav", "mp4_en_auto-editor_example.mp4",
              "multi4_ami_tst00.wav", "en_ljspeech_LJ050-0131.wav", "mp4_en_jordimas_selfie.mp4",
              "multi2_ami_dev00.wav", "en_jfk_inaugural.flac"]


def have_media() -> bool:
    return SPEECH.is_file()


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], check=True)


def _video(size: str = "160x120", rate: str = "25") -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={rate}"]


def speech_mp4(out: Path, *, audio: Path = SPEECH, extra: list[str] = (), audio_opts: list[str] = (),
               video: list[str] | None = None) -> Path:
    """A small H.264 + AAC video over a real recording."""
    ffmpeg(*(video or _video()), "-i", file_arg(audio), "-map", "0:v", "-map", "1:a", "-shortest",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *audio_opts, "-c:a", "aac",
           *extra, file_arg(out))
    return out


def silent_mp4(out: Path, seconds: float = 6.0) -> Path:
    ffmpeg(*_video(), "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", "-t", str(seconds), "-map", "0:v",
           "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
           file_arg(out))
    return out


def speech_free_mp4(out: Path, seconds: float = 6.0) -> Path:
    """Sound without speech: a chord of tones and soft noise, like a music bed."""
    ffmpeg(*_video(), "-f", "lavfi", "-i",
           f"sine=f=220:d={seconds},volume=0.3[a];sine=f=330:d={seconds},volume=0.2[b];"
           f"anoisesrc=d={seconds}:c=pink:a=0.02[c];[a][b][c]amix=inputs=3" .replace("[a];", "[a];"),
           "-t", str(seconds), "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-c:a", "aac", file_arg(out))
    return out


def truncated_mp4(out: Path, source: Path) -> Path:
    """The index at the front (faststart), then cut to 40 %: it probes, but decodes short."""
    full = out.with_name("full-" + out.name)
    ffmpeg("-i", file_arg(source), "-c", "copy", "-movflags", "+faststart", file_arg(full))
    data = full.read_bytes()
    out.write_bytes(data[: int(len(data) * 0.4)])
    full.unlink()
    return out


def two_track_mp4(out: Path, first: Path, second: Path) -> Path:
    """Video with two audio tracks: track 1 `first`, track 2 `second` (tagged with languages)."""
    ffmpeg(*_video(), "-i", file_arg(first), "-i", file_arg(second), "-map", "0:v", "-map", "1:a", "-map", "2:a",
           "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
           "-metadata:s:a:1", "title=Commentary", file_arg(out))
    return out


def unusual_mp4s(folder: Path) -> dict[str, Path]:
    """Valid but unusual videos, by what is unusual about them."""
    folder.mkdir(parents=True, exist_ok=True)
    base = speech_mp4(folder / "base.mp4")
    made = {}
    for label, name in (("dash", "-dash.mp4"), ("protocol", "concat:x.mp4"),
                        ("unicode+spaces", "vidéo ünï 日本 clip.mp4"), ("shell", "a;b $(touch pwned) `x` 'q\".mp4")):
        path = folder / name
        path.write_bytes(base.read_bytes())
        made[label] = path
    made["8k-mono"] = speech_mp4(folder / "8k.mp4", audio_opts=["-ar", "8000", "-ac", "1"])
    made["6-channels"] = speech_mp4(folder / "six.mp4", audio_opts=["-ac", "6"])
    made["vfr"] = speech_mp4(folder / "vfr.mp4", extra=["-fps_mode", "vfr"],
                             video=["-f", "lavfi", "-i", "testsrc2=s=160x120:r=30,select='not(mod(n\\,3))+lt(t\\,2)'"])
    rotated = speech_mp4(folder / "plain.mp4")
    made["rotated"] = folder / "rotated.mp4"
    ffmpeg("-i", file_arg(rotated), "-c", "copy", "-metadata:s:v:0", "rotate=90", file_arg(made["rotated"]))
    made["two-tracks"] = two_track_mp4(folder / "two.mp4", SPEECH, MEDIA / "en_jfk_inaugural.flac")
    return made


def long_mp4(out: Path, seconds: float = 160.0) -> Path:
    """About `seconds` of real speech (several recordings end to end) under a small video."""
    inputs, labels = [], []
    for i, name in enumerate(LONG_PARTS):
        inputs += ["-i", file_arg(MEDIA / name)]
        labels.append(f"[{i + 1}:a:0]aresample=44100,aformat=channel_layouts=stereo[a{i}]")
    graph = ";".join(labels) + ";" + "".join(f"[a{i}]" for i in range(len(LONG_PARTS))) + \
        f"concat=n={len(LONG_PARTS)}:v=0:a=1[out]"
    ffmpeg(*_video(), *inputs, "-filter_complex", graph, "-map", "0:v", "-map", "[out]", "-t", str(seconds),
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", file_arg(out))
    return out
