"""Poster frames: a still JPEG of a video at a moment, e.g. a thumbnail per line for the review page.

moviepy decodes the frame (its ffmpeg reader seeks to the nearest keyframe before the
time and decodes forward, so a frame costs tens of milliseconds); Pillow writes the JPEG.
The job's video is never touched: posters are separate small files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .errors import NotAVideoError, NotFoundError
from .fsutil import atomic_output

WIDTH = 320  # a table thumbnail; the height keeps the aspect ratio
QUALITY = 85


def poster_frame(video: Path, t: float, out_path: Path, *, width: int = WIDTH) -> Path:
    """Write the frame of `video` at `t` seconds (clamped into the video) to `out_path` as a JPEG."""
    return poster_frames(video, [t], Path(out_path).parent, width=width, names=[Path(out_path).name])[0]


def poster_frames(video: Path, times: Sequence[float], out_dir: Path, *, width: int = WIDTH,
                  names: Sequence[str] | None = None) -> list[Path]:
    """One JPEG per time (seconds) under `out_dir`, named `poster-<milliseconds>.jpg` unless `names` are
    given; the video is opened once for all of them."""
    from moviepy import VideoFileClip
    from PIL import Image

    video = Path(video)
    if not video.is_file():
        raise NotFoundError(f"no video at {video}")
    names = list(names) if names is not None else [f"poster-{round(t * 1000):09d}.jpg" for t in times]
    try:
        clip = VideoFileClip(str(video), audio=False, target_resolution=(width, None))
    except (OSError, KeyError, IndexError) as exc:  # moviepy's reader fails in these ways on non-videos
        raise NotAVideoError(f"{video.name} has no video stream to take a poster frame from") from exc
    out = []
    try:
        last = max(0.0, clip.duration - 1.0 / (clip.fps or 25))
        for t, name in zip(times, names):
            frame = clip.get_frame(min(max(0.0, float(t)), last))
            path = Path(out_dir) / name
            with atomic_output(path) as tmp:
                Image.fromarray(frame).convert("RGB").save(tmp, "JPEG", quality=QUALITY)
            out.append(path)
    finally:
        clip.close()
    return out
