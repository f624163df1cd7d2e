"""Poster frames from a real video (ffmpeg-made colour cards), decoded with moviepy."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dubbing.errors import NotAVideoError, NotFoundError
from dubbing.posters import poster_frame, poster_frames
from tests.conftest import ffmpeg


@pytest.fixture(scope="module")
def red_then_blue(tmp_path_factory):
    """2 s of red then 2 s of blue, 640x360."""
    tmp = tmp_path_factory.mktemp("posters")
    out = tmp / "cards.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=640x360:r=25:d=2", "-f", "lavfi", "-i", "color=c=blue:s=640x360:r=25:d=2",
           "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           out)
    return out


def _mean_rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=float).reshape(-1, 3).mean(axis=0)


def test_poster_is_a_jpeg_of_the_frame_at_that_time(red_then_blue, tmp_path):
    red = poster_frame(red_then_blue, 1.0, tmp_path / "red.jpg")
    blue = poster_frame(red_then_blue, 3.0, tmp_path / "blue.jpg", width=160)
    with Image.open(red) as im:
        assert im.format == "JPEG" and im.size == (320, 180)  # default width, aspect kept
    with Image.open(blue) as im:
        assert im.size == (160, 90)
    r, g, b = _mean_rgb(red)
    assert r > 200 and g < 40 and b < 40
    r, g, b = _mean_rgb(blue)
    assert b > 200 and r < 40 and g < 40


def test_many_posters_at_once_and_times_past_the_end(red_then_blue, tmp_path):
    paths = poster_frames(red_then_blue, [0.0, 2.5, 99.0], tmp_path / "p")
    assert [p.name for p in paths] == ["poster-000000000.jpg", "poster-000002500.jpg", "poster-000099000.jpg"]
    assert _mean_rgb(paths[0])[0] > 200 and _mean_rgb(paths[2])[2] > 200  # 99 s: the last frame
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [p.name for p in paths]  # no temp files left


def test_bad_input_gets_a_clear_error(tmp_path):
    with pytest.raises(NotFoundError):
        poster_frame(tmp_path / "missing.mp4", 0.0, tmp_path / "x.jpg")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(NotAVideoError, match="no video stream"):
        poster_frame(text, 0.0, tmp_path / "x.jpg")
    assert not (tmp_path / "x.jpg").exists()
