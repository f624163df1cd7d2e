"""The sound of a whole dub: a two-speaker conversation (eSpeak, male and female) dubbed into
Spanish with the real pipeline; levels, fill and timing measured on the output files; pinned voices."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from dubbing import audio, pipeline
from dubbing.models import Document, DubSettings
from dubbing.stages import mix, voices
from tests.conftest import make_speech_mp4

pytestmark = pytest.mark.slow

CONVERSATION = [
    ("en+m3", "Good morning, and welcome to the studio."),
    ("en+f2", "Thank you. It is a pleasure to be here today."),
    ("en+m3", "Tell us about your new book."),
    ("en+f2", "It is a story about a small town and the river that runs through it."),
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("data")
    mp.setenv("DUBBING_DATA_DIR", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    return make_speech_mp4(tmp_path_factory.mktemp("conv"), CONVERSATION, gap=0.8)


@pytest.fixture(scope="module")
def dubbed(conversation, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("dub") / "job"
    report = pipeline.dub(conversation, out, DubSettings(target_language="es", speakers=2))
    return out, report


def decoded(path, tmp):
    wav = tmp / "decoded.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-c:a", "pcm_f32le", str(wav)], check=True)
    return audio.read(wav)


def test_no_clipping_true_peak_and_loudness_of_the_original(dubbed, tmp_path):
    out, report = dubbed
    sound = report["sound"]
    assert sound["clipped_samples"] == 0 and sound["true_peak_dbtp"] <= -1.0
    assert abs(sound["loudness_difference_lu"]) <= 2.0
    mp4, sr = decoded(out / "dubbed.mp4", tmp_path)  # after AAC encoding, as a viewer hears it
    orig, osr = audio.read(out / "work" / "audio_orig.wav")
    assert np.count_nonzero(np.abs(mp4) >= 1.0) == 0
    assert audio.true_peak(mp4) <= audio.db_to_gain(-1.0)
    assert abs(audio.loudness(mp4, sr) - audio.loudness(orig, osr)) <= 2.0


def test_lines_fill_their_slots_within_the_speed_limits_and_never_overlap(dubbed):
    out, report = dubbed
    doc = Document.load(out / "utterances.json")
    fit = report["fit"]
    assert fit["lines"] == len(doc.utterances) >= 3
    assert set(fit["fill"]) == {str(u.id) for u in doc.utterances}
    assert fit["fill_share_70"] is not None and sum(fit["speed_histogram"].values()) == fit["lines"]
    utts = sorted(doc.utterances, key=lambda u: u.start)
    for u, nxt in zip(utts, utts[1:] + [None]):
        assert 0.9 - 1e-6 <= u.speed <= 1.3 + 1e-6
        clip, sr = audio.read(out / "work" / u.clip, mono=True)
        assert u.fill == pytest.approx(len(clip) / sr / u.duration, abs=0.01)
        if nxt is not None:
            assert u.start + len(clip) / sr <= nxt.start + 1e-3, f"line {u.id} runs into line {nxt.id}"


def test_two_speakers_of_both_genders_get_distinct_matching_voices(dubbed):
    out, _ = dubbed
    doc = Document.load(out / "utterances.json")
    got = {k: (s.gender, s.voice) for k, s in doc.speakers.items()}
    assert len({v for _, v in got.values()}) == len(got) == 2, got
    for gender, voice in got.values():
        assert voices.voice_gender(voice, "es") == gender


def test_a_pinned_voice_survives_a_gender_edit_and_carries_to_the_next_job(dubbed, conversation, data_dir,
                                                                          tmp_path):
    out, _ = dubbed
    job = tmp_path / "job"
    shutil.copytree(out, job)
    doc = Document.load(job / "utterances.json")
    spk = doc.utterances[0].speaker
    pinned = "espeak:es+m7" if doc.speakers[spk].gender == "male" else "espeak:es+f4"
    voices.pin_voice(doc, spk, pinned)
    doc.speakers[spk].gender = "female" if doc.speakers[spk].gender == "male" else "male"  # would re-pick
    doc.save(job / "utterances.json")
    report = pipeline.update(job)
    after = Document.load(job / "utterances.json")
    assert after.speakers[spk].voice == pinned and after.speakers[spk].pinned
    assert all(after.voice_of(u) == pinned for u in after.utterances if u.speaker == spk)
    assert report["utterances_remade"] >= 1
    pins = json.loads((data_dir / voices.PINS_FILE).read_text())
    assert any(v.get(spk) == pinned for v in pins.values())
    # Nothing changed: a second re-render keeps the voice and re-makes nothing.
    assert pipeline.update(job)["utterances_remade"] == 0
    assert Document.load(job / "utterances.json").speakers[spk].voice == pinned
    # A new job of the same video starts with the pinned voice.
    fresh = tmp_path / "fresh"
    pipeline.dub(conversation, fresh, DubSettings(target_language="es", speakers=2))
    again = Document.load(fresh / "utterances.json")
    assert again.speakers[spk].voice == pinned and again.speakers[spk].pinned


def test_an_update_measures_the_original_track_once_not_again(dubbed, tmp_path, monkeypatch):
    # The original's loudness is kept from the last render while the original is the same track:
    # a loudness pass is 0.14 s a minute of audio, and an update after one edit made three.
    out, report = dubbed
    job = tmp_path / "job"
    shutil.copytree(out, job)
    doc = Document.load(job / "utterances.json")
    doc.utterances[0].translated_text += " Muy bien."
    doc.save(job / "utterances.json")
    orig, _ = audio.read(job / "work" / "audio_orig.wav")
    measured = []  # of each full-length track measured: is it the original?
    real = audio.loudness

    def loudness(x, sr):
        if len(x) == len(orig):
            measured.append(np.array_equal(x, orig))
        return real(x, sr)

    monkeypatch.setattr(audio, "loudness", loudness)
    again = pipeline.update(job)
    assert again["utterances_remade"] == 1
    # The new mix, and once more only if the gain or the limiter changed it.
    touched = (again["sound"]["normalise_gain_db"] != 0
               or again["sound"]["true_peak_before_limiter_dbtp"] > mix.PEAK_CEILING_DB)
    assert measured == [False] * (1 + touched)
    assert again["sound"]["loudness_original_lufs"] == report["sound"]["loudness_original_lufs"]
    dubbed_audio, sr = audio.read(job / "dubbed_audio.wav")
    assert again["sound"]["loudness_dubbed_lufs"] == pytest.approx(real(dubbed_audio, sr), abs=0.05)
