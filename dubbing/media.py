"""ffmpeg and ffprobe: probing, splitting audio from video, time-stretching, muxing.

Files are judged by probing their content, never by their name. Every path reaches
ffmpeg as `file:` plus an absolute path (`file_arg`), so a name such as `-dash.mp4`
or `concat:x.mp4` is a file, never an option or a protocol. Every child dies with the
thread that started it, and a running ffmpeg is terminated when the stage is cancelled.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from .errors import (BadInputError, CancelledError, CorruptInputError, DubbingError, NoAudioError, NotAVideoError,
                     NoVideoError, NotFoundError, SilentInputError, TooBigError, TransientError)
from .fsutil import atomic_output
from .procs import die_with_parent

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
def encoder_exe() -> str:
    """The ffmpeg that writes the dubbed video: imageio-ffmpeg's static build (moviepy's dependency) where
    present, else `ffmpeg_exe`.

    It starts in 0.01 s (0.03 s on a busy machine) where Debian's loads 215 shared libraries first,
    0.06 s (0.15 s busy), and its AAC encoding of the 42.5 s example clip took 0.29-0.30 s against
    0.36-0.50 s: the mux is most of an `update` after one edit. Decoding stays with `ffmpeg_exe`: ffmpeg
    9's samples differ from Debian's 5.1 by one least significant bit and end 10 ms sooner, and that
    alone turned an accented speaker's lines from English to Greek in one conversation of the tests.
    """
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - missing, or no binary for this platform: the other will do
        return ffmpeg_exe()


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


def file_arg(path: Path | str) -> str:
    """A path as ffmpeg/ffprobe must get it: always a file, whatever its name looks like."""
    return "file:" + str(Path(path).absolute())


_cancel = threading.local()
CANCEL_POLL_SECONDS = 0.1


@contextmanager
def cancellable(should_cancel):
    """Within the block, tools started by this thread are terminated once `should_cancel()` is true."""
    previous = getattr(_cancel, "check", None)
    _cancel.check = should_cancel
    try:
        yield
    finally:
        _cancel.check = previous


def run_tool(cmd: list[str], *, what: str) -> subprocess.CompletedProcess:
    """Run a child that dies with us and stops when the stage is cancelled; its output."""
    check = getattr(_cancel, "check", None)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=die_with_parent)
    if check is None:
        out, err = proc.communicate()
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    # Read in a thread, so a full pipe never stalls the child while we poll for a cancel.
    result: dict = {}
    reader = threading.Thread(target=lambda: result.update(zip(("out", "err"), proc.communicate())), daemon=True)
    reader.start()
    while reader.is_alive():
        reader.join(CANCEL_POLL_SECONDS)
        if reader.is_alive() and check():
            proc.terminate()
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                proc.kill()
            reader.join(5)
            raise CancelledError(f"cancelled while {what}")
    return subprocess.CompletedProcess(cmd, proc.returncode, result.get("out", ""), result.get("err", ""))


def run_ffmpeg(args: list[str], *, what: str, exe: Callable[[], str] | None = None) -> None:
    """Run ffmpeg (`exe`, else `ffmpeg_exe`) quietly; a crash by signal is transient, an error is reported
    with ffmpeg's last line."""
    proc = run_tool([(exe or ffmpeg_exe)(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                    what=what)
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
    audio_track: int = 0  # which audio track (0: the first) these numbers describe and a dub uses
    audio_tracks: list[dict] = field(default_factory=list)  # every audio track: index, codec, channels, language, title

    def to_dict(self) -> dict:
        return asdict(self)


def _looks_like_mp4(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(12)
    return len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


def describe_track(track: dict) -> str:
    """One audio track in words, e.g. "track 2 (spa, 'Commentary', 2 ch)"."""
    bits = [b for b in (track.get("language"), repr(track["title"]) if track.get("title") else "",
                        f"{track.get('channels')} ch" if track.get("channels") else "") if b]
    return f"track {track['index'] + 1}" + (f" ({', '.join(bits)})" if bits else "")


def probe(path: Path, *, max_bytes: int | None = None, track: int = 0) -> MediaInfo:
    """Check that `path` is an MP4 with a video and an audio stream, and describe it (and audio `track`)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no such file: {path}")
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise TooBigError(f"{path.name} is {size / 1e6:.0f} MB; the limit is {max_bytes / 1e6:.0f} MB. "
                          "Cut or compress the video and try again")
    if size == 0:
        raise NotAVideoError(f"{path.name} is empty: upload an MP4 video")
    data = _ffprobe(path)
    fmt = data.get("format", {})
    names = set(fmt.get("format_name", "").split(","))
    if not names & MP4_FORMATS:
        raise NotAVideoError(f"{path.name} is a {fmt.get('format_long_name') or fmt.get('format_name')} file, "
                             "not an MP4; convert it to MP4 first")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    tracks = [{"index": i, "codec": a.get("codec_name", ""), "channels": int(a.get("channels") or 0),
               "sample_rate": int(a.get("sample_rate") or 0), "language": (a.get("tags") or {}).get("language", ""),
               "title": (a.get("tags") or {}).get("title", "")} for i, a in enumerate(audios)]
    if audios and not 0 <= track < len(audios):
        raise BadInputError(f"{path.name} has {len(audios)} audio track(s); choose a track from 1 to {len(audios)}")
    audio = audios[track] if audios else None
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
                     audio_duration=_float(audio.get("duration"), duration), audio_track=track, audio_tracks=tracks)


# ffprobe's answers by file version (device, inode, size, modified): the upload check, `prepare` and
# the probe stage each probe the same file (the job's copy is a hard link of the upload), and
# ffprobe takes 0.06-0.15 s to start.
_probed: dict[tuple[int, int, int, int], dict] = {}
_probed_lock = threading.Lock()
PROBES_KEPT = 8


def _ffprobe(path: Path) -> dict:
    """ffprobe's description of `path` (format and streams); a clear error where it cannot read it."""
    st = path.stat()
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _probed_lock:
        if key in _probed:
            return _probed[key]
    proc = run_tool([ffprobe_exe(), "-v", "error", "-print_format", "json", "-show_format",
                     "-show_streams", file_arg(path)], what=f"probing {path.name}")
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["unreadable"])[-1]
        if _looks_like_mp4(path):
            raise CorruptInputError(f"{path.name} is a damaged or truncated MP4 ({reason}); "
                                    "export or download it again")
        raise NotAVideoError(f"{path.name} is not a video file; upload an MP4 (H.264/AAC or similar)")
    data = json.loads(proc.stdout or "{}")
    with _probed_lock:
        while len(_probed) >= PROBES_KEPT:
            _probed.pop(next(iter(_probed)))
        _probed[key] = data
    return data


def _float(value, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _wav_output(tmp: Path, *, track: int, sample_rate: int | None = None, mono: bool = False,
                seconds: float | None = None) -> list[str]:
    """ffmpeg's arguments for one 16-bit WAV output of audio `track`."""
    args = ["-map", f"0:a:{track}", "-vn"]
    if seconds:
        args += ["-t", f"{seconds:.3f}"]
    if mono:
        args += ["-ac", "1"]
    if sample_rate:
        args += ["-ar", str(sample_rate)]
    return args + ["-c:a", "pcm_s16le", file_arg(tmp)]


def extract_audio(src: Path, dst: Path, *, sample_rate: int | None = None, mono: bool = False,
                  seconds: float | None = None, track: int = 0) -> None:
    """Decode one audio track (0: the first) to 16-bit WAV, atomically: resampled/mono for analysis, or as-is."""
    with atomic_output(dst) as tmp:
        run_ffmpeg(["-i", file_arg(src), *_wav_output(tmp, track=track, sample_rate=sample_rate, mono=mono,
                                                      seconds=seconds)],
                   what=f"reading the audio of {Path(src).name}")


def split_audio(src: Path, analysis: Path, original: Path, *, sample_rate: int, track: int = 0) -> None:
    """The track twice from one decode, each WAV atomically: mono at `sample_rate` for analysis, and
    as it is for the mix (two ffmpeg runs cost 0.1 s more on a one-minute video)."""
    with atomic_output(analysis) as a, atomic_output(original) as o:
        run_ffmpeg(["-i", file_arg(src), *_wav_output(a, track=track, sample_rate=sample_rate, mono=True),
                    *_wav_output(o, track=track)], what=f"reading the audio of {Path(src).name}")


def mux(video_src: Path, audio_wav: Path, dst: Path, *, seconds: float | None = None) -> None:
    """Put new audio beside the untouched video stream (copied, never re-encoded)."""
    args = ["-i", file_arg(video_src), "-i", file_arg(audio_wav), "-map", "0:v:0", "-map", "1:a:0",
            "-c:v", "copy",
            # The fast AAC coder at 128k: transparent enough for speech over a ducked background,
            # and 2.3x faster than the default (it is most of an `update` after one edit).
            "-c:a", "aac", "-aac_coder", "fast", "-b:a", "128k", "-map_metadata", "0", "-movflags", "+faststart"]
    if seconds:
        args += ["-t", f"{seconds:.3f}"]
    with atomic_output(dst) as tmp:
        run_ffmpeg(args + [file_arg(tmp)], what="writing the dubbed video", exe=encoder_exe)


def stream_md5(path: Path, stream: str = "v:0") -> str:
    """MD5 of a stream's packets (not decoded frames): equal when the stream was copied bit for bit."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", file_arg(path), "-map",
                           f"0:{stream}", "-c", "copy", "-f", "md5", "-"], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


# -- what the sound holds, checked before any job is made -------------------------------------------

MIN_SPEECH_SECONDS = 0.5


def decode_mono16k(path: Path, *, track: int = 0, what: str = "reading the audio"):
    """The audio track as float32 16 kHz mono samples, decoded in memory (a minute is about 4 MB)."""
    import numpy as np

    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", file_arg(path),
           "-map", f"0:a:{track}", "-vn", "-ac", "1", "-ar", "16000", "-f", "s16le", "-"]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, preexec_fn=die_with_parent)
    if proc.returncode != 0:
        last = (proc.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        raise CorruptInputError(f"{Path(path).name}: ffmpeg failed while {what}: {last}")
    return np.frombuffer(proc.stdout, dtype="<i2").astype(np.float32) / 32768.0


def check_sound(path: Path, info: MediaInfo, *, track: int = 0) -> float:
    """Refuse a file whose audio decodes much shorter than it claims, is silent, or holds no speech.

    Seconds of speech found up to the minute in which they reach MIN_SPEECH_SECONDS (Silero VAD,
    bundled with faster-whisper: a minute of audio takes 0.1 s).
    """
    samples = decode_mono16k(path, track=track, what=f"checking the sound of {Path(path).name}")
    name = Path(path).name
    decoded = samples.size / 16000
    claimed = info.audio_duration
    # A truncated file can still probe (index at the front) but decodes short.
    if decoded < claimed - max(1.0, 0.05 * claimed):
        raise CorruptInputError(f"the audio of {name} decodes to {decoded:.1f} s of the {claimed:.1f} s it claims: "
                                "the file looks truncated; export or download it again")
    if samples.size == 0 or float(abs(samples).max()) < 1e-4:
        raise SilentInputError(f"the audio track of {name} is silent; there is no speech to dub")
    from . import vad

    # A minute at a time, stopping once enough speech is found: the stages look for
    # speech again anyway, and the whole track took 1 s of VAD at 10 minutes (6 s for an hour).
    # A video of a minute or less is heard whole here, and `vad` keeps what it heard for the
    # stages, which decode the same samples (in one process, as `dub` runs).
    speech, chunk = 0.0, 60 * 16000
    for start in range(0, samples.size, chunk):
        part = samples[start:start + chunk]
        spans = vad.regions_from(vad.speech_probabilities(part), part.size, threshold=0.5, min_silence_ms=300,
                                 pad_ms=100)
        speech += sum(b - a for a, b in spans) / 16000
        if speech >= MIN_SPEECH_SECONDS:
            break
    if speech < MIN_SPEECH_SECONDS:
        raise SilentInputError(f"no speech was found in the audio of {name} (only music or noise?); "
                               "there is nothing to dub")
    return speech
