#!/usr/bin/env python3
"""How the dub sounds: peaks, loudness, how well it fills the original's time, and whether
a listener (faster-whisper base) understands it.

    .venv/bin/python benchmarks/bench_sound.py [--repo CHECKOUT] [--clips NAME ...] [--out DIR]

For each clip (real recordings from ../shared/media, and a conversation assembled from
single-speaker recordings) it dubs into Spanish with the command line of CHECKOUT
(default: this repository, so an older checkout gives the "before" figures), then voices
the same lines in English (the English transcript as the text to speak, on the original
timing) to measure an English target too. Every figure is measured here from the output
files, not taken from report.json, so that any version can be compared:

- clipped samples (|x| at full scale) and true peak (4x oversampled) of dubbed_audio.wav and
  of the AAC track in dubbed.mp4;
- integrated loudness (BS.1770) of the dubbed MP4 against the original;
- fill: share of lines of 1 s or more whose dubbed speech covers >= 70% of the line;
- the fastest line, lines running into the next one;
- read-back WER: faster-whisper base transcribes the dubbed track; WER against the voiced
  lines' text (lower case, no punctuation, numbers as words). "WER" is the final mix, where the
  ducked original voice is still audible (Whisper sometimes hears it, or loops on a window: this
  figure can differ between two runs on the same file); "WERsp" is the dubbed speech alone, which
  repeats exactly and is the figure for the voices.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MEDIA = REPO.parent / "shared" / "media"

# name -> (sources, speakers): one source is used as is; several are joined into a conversation.
CLIPS = {
    "jordimas": (["mp4_en_jordimas_selfie.mp4"], 1),
    "auto-editor": (["mp4_en_auto-editor_example.mp4"], 1),
    "ami-2": (["multi2_ami_dev00.wav"], 2),
    "conversation": (["en_jfk_inaugural.flac", "en_ljspeech_LJ050-0131.wav", "en_one_two_three.wav",
                      "en_ljspeech_LJ050-0131.wav", "en_jfk_inaugural.flac"], 2),
}
GAP_S = 0.6


def ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


def make_input(name: str, work: Path) -> Path:
    sources, _ = CLIPS[name]
    if len(sources) == 1 and sources[0].endswith(".mp4"):
        return MEDIA / sources[0]
    sr = 44100
    parts = []
    for src in sources:
        wav = work / f"{Path(src).stem}.wav"
        ffmpeg("-i", MEDIA / src, "-ac", "1", "-ar", sr, wav)
        x, _ = sf.read(wav, dtype="float32")
        parts += [x, np.zeros(int(GAP_S * sr), np.float32)]
    joined = work / f"{name}.wav"
    sf.write(joined, np.concatenate(parts), sr)
    mp4 = work / f"{name}.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=320x240:r=25", "-i", joined, "-shortest",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", mp4)
    return mp4


def run(repo: Path, args: list[str]) -> None:
    proc = subprocess.run([sys.executable, *args], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{proc.stderr[-3000:]}")


def english_target(repo: Path, job: Path, out: Path) -> None:
    """The same job voiced in English: each line speaks its own transcript on the original timing."""
    shutil.copytree(job, out)
    settings = json.loads((out / "work/settings.json").read_text())
    settings["target_language"] = "en"
    (out / "work/settings.json").write_text(json.dumps(settings))
    engines = json.loads((out / "work/engines.json").read_text())
    engines.pop("tts", None)
    (out / "work/engines.json").write_text(json.dumps(engines))
    doc = json.loads((out / "utterances.json").read_text())
    doc["target_language"] = "en"
    doc["settings"]["target_language"] = "en"
    for spk in doc["speakers"].values():
        spk["voice"] = ""
    for u in doc["utterances"]:
        u["translated_text"] = u["machine_translation"] = u["text"]
        u["voice"], u["clip"], u["render_key"] = "", None, None
    (out / "utterances.json").write_text(json.dumps(doc, ensure_ascii=False))
    run(repo, ["-c", "import sys; from pathlib import Path; from dubbing import pipeline; "
                     "pipeline.run(Path(sys.argv[1]), stages=['voices', 'synthesize', 'mix'])", str(out)])


_whisper = None


def whisper():
    global _whisper
    if _whisper is None:
        from faster_whisper import WhisperModel
        from dubbing.engines.stt.faster_whisper_engine import resolve
        _whisper = WhisperModel(resolve("base"), device="cpu", compute_type="int8", cpu_threads=2)
    return _whisper


def listen(x16: np.ndarray, lang: str) -> str:
    import ctranslate2
    # Whisper falls back to sampling when a window decodes badly (without it, it may loop on a
    # window and repeat text); a fixed seed makes that sampling, and so the figures, repeatable.
    ctranslate2.set_random_seed(0)
    segments, _ = whisper().transcribe(x16, language=lang, vad_filter=True, condition_on_previous_text=False)
    return " ".join(s.text for s in segments)


def words(text: str, lang: str) -> str:
    from num2words import num2words
    text = re.sub(r"\d+", lambda m: " " + num2words(int(m.group()), lang=lang) + " ", text.lower())
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def decode(path: Path, sr: int | None = None) -> tuple[np.ndarray, int]:
    tmp = Path(tempfile.mkdtemp()) / "a.wav"
    ffmpeg("-i", path, *(["-ac", "1", "-ar", sr] if sr else []), "-c:a", "pcm_f32le", tmp)
    x, rate = sf.read(tmp, dtype="float32", always_2d=True)
    shutil.rmtree(tmp.parent)
    return x, rate


def measure(job: Path, lang: str) -> dict:
    import jiwer
    from dubbing import audio
    doc = json.loads((job / "utterances.json").read_text())
    wav, sr = sf.read(job / "dubbed_audio.wav", dtype="float32", always_2d=True)
    mp4, _ = decode(job / "dubbed.mp4")
    orig, osr = sf.read(job / "work/audio_orig.wav", dtype="float32", always_2d=True)
    utts = sorted(doc["utterances"], key=lambda u: (u["start"], u["id"]))
    voiced = [u for u in utts if u.get("clip") and not u["muted"] and u["translated_text"].strip()]
    fills, overlaps = [], 0
    for u in voiced:
        n = sf.info(job / "work" / u["clip"]).frames / sf.info(job / "work" / u["clip"]).samplerate
        nxt = next((v["start"] for v in utts if v["start"] > u["start"]), None)
        overlaps += bool(nxt is not None and u["start"] + n > nxt + 0.005)
        if u["end"] - u["start"] >= 1.0:
            fills.append(n / (u["end"] - u["start"]))
    said = words(" ".join(u["translated_text"] for u in voiced), lang)
    x16, _ = decode(job / "dubbed.mp4", 16000)
    wer_mix = jiwer.wer(said, words(listen(x16[:, 0], lang), lang) or "x")
    # The dubbed speech alone: in the mix the ducked original voice is still there for Whisper to hear.
    speech = np.zeros(len(x16), np.float32)
    for u in voiced:
        clip, csr = sf.read(job / "work" / u["clip"], dtype="float32")
        clip = audio.resample(clip, csr, 16000)
        a = int(u["start"] * 16000)
        speech[a:a + len(clip)] += clip[: max(0, len(speech) - a)]
    wer_speech = jiwer.wer(said, words(listen(speech, lang), lang) or "x")
    return {
        "clipped_wav": int(np.count_nonzero(np.abs(wav) >= 32767 / 32768)),
        "clipped_mp4": int(np.count_nonzero(np.abs(mp4) >= 1.0)),
        "tp_wav": audio.gain_to_db(audio.true_peak(wav)),
        "tp_mp4": audio.gain_to_db(audio.true_peak(mp4)),
        "lufs_orig": audio.loudness(orig, osr),
        "lufs_dub": audio.loudness(mp4, sr),
        "fill70": float(np.mean(np.array(fills) >= 0.7)) if fills else float("nan"),
        "lines": len(voiced), "lines_1s": len(fills),
        "max_speed": max((u["speed"] for u in voiced), default=1.0),
        "overlaps": overlaps,
        "wer": wer_mix, "wer_speech": wer_speech, "words": len(said.split()),
        "voices": sorted({doc["speakers"][u["speaker"]]["voice"] if not u["voice"] else u["voice"] for u in voiced}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", type=Path, default=REPO, help="checkout whose dubbing package to run")
    ap.add_argument("--clips", nargs="*", default=list(CLIPS), choices=list(CLIPS))
    ap.add_argument("--out", type=Path, default=None, help="keep the jobs here (default: a temp folder)")
    args = ap.parse_args()
    if not MEDIA.exists():
        sys.exit(f"{MEDIA} is absent: the benchmark needs the shared recordings")
    work = args.out or Path(tempfile.mkdtemp(prefix="bench_sound_"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.clips:
        src = make_input(name, work)
        job = work / f"{name}.es"
        t = time.perf_counter()
        if not (job / "dubbed.mp4").exists():
            run(args.repo, ["-m", "dubbing", "dub", str(src), "-t", "es", "-o", str(job),
                            "--speakers", str(CLIPS[name][1])])
        rows.append((name, "en->es", measure(job, "es")))
        en = work / f"{name}.en"
        if not (en / "dubbed.mp4").exists():
            shutil.rmtree(en, ignore_errors=True)
            english_target(args.repo, job, en)
        rows.append((name, "en->en", measure(en, "en")))
        print(f"# {name}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    head = (f"{'clip':13} {'pair':6} {'lines':>5} {'clip wav':>8} {'clip mp4':>8} {'TP wav':>7} {'TP mp4':>7} "
            f"{'LUFS o':>7} {'LUFS d':>7} {'dLU':>5} {'fill70':>6} {'vmax':>5} {'ovl':>3} {'WER':>5} {'WERsp':>5}  voices")
    print(head)
    for name, pair, m in rows:
        print(f"{name:13} {pair:6} {m['lines']:5d} {m['clipped_wav']:8d} {m['clipped_mp4']:8d} {m['tp_wav']:7.2f} "
              f"{m['tp_mp4']:7.2f} {m['lufs_orig']:7.2f} {m['lufs_dub']:7.2f} {m['lufs_dub'] - m['lufs_orig']:5.2f} "
              f"{m['fill70']:6.2f} {m['max_speed']:5.2f} {m['overlaps']:3d} {m['wer']:5.2f} {m['wer_speech']:5.2f}  "
              f"{', '.join(m['voices'])}")
    for pair in ("en->es", "en->en"):
        sel = [m for _, p, m in rows if p == pair]
        fills = sum(m["fill70"] * m["lines_1s"] for m in sel) / max(1, sum(m["lines_1s"] for m in sel))
        n = sum(m["words"] for m in sel)
        pooled = {k: sum(m[k] * m["words"] for m in sel) / n for k in ("wer", "wer_speech")}
        print(f"{pair}: read-back WER (pooled over {n} words) mix {pooled['wer']:.3f}, "
              f"dubbed speech alone {pooled['wer_speech']:.3f}; fill70 over all lines >= 1 s {fills:.2f}, "
              f"worst TP mp4 {max(m['tp_mp4'] for m in sel):.2f} dBTP, clipped {sum(m['clipped_mp4'] for m in sel)}, "
              f"worst |dLU| {max(abs(m['lufs_dub'] - m['lufs_orig']) for m in sel):.2f}")
    print(f"jobs in {work}")


if __name__ == "__main__":
    main()
