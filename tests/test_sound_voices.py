"""Every offline voice speaks: real engines (Flite, Festival HTS, eSpeak NG, Piper), real audio checks.

"Speech" is judged by Silero VAD (bundled with faster-whisper): most of the sound must be
speech, which silence and noise are not (the detector itself is checked on both).
"""
import numpy as np
import pytest

from dubbing import audio
from dubbing.engines import registry
from dubbing.stages import voices

TEXT = {"en": "Good morning everyone, and welcome to the studio.",
        "es": "Buenos días a todos, y bienvenidos al estudio.",
        "ca": "Bon dia a tothom, i benvinguts a l'estudi."}


def speech_share(x: np.ndarray, sr: int) -> float:
    """Share of the non-silent time that Silero VAD calls speech."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps
    x16 = audio.resample(x, sr, 16000)
    spans = get_speech_timestamps(x16, VadOptions(min_silence_duration_ms=300))
    speech = sum(s["end"] - s["start"] for s in spans)
    frames = x16[: len(x16) // 160 * 160].reshape(-1, 160)
    sounding = np.sum(np.sqrt(np.mean(frames ** 2, axis=1)) > 0.005) * 160
    return speech / max(1, sounding)


def test_the_speech_check_rejects_noise_and_silence():
    sr = 16000
    noise = (0.1 * np.random.default_rng(0).standard_normal(sr * 3)).astype(np.float32)
    assert speech_share(noise, sr) < 0.3
    assert speech_share(np.zeros(sr * 3, np.float32), sr) == 0.0


def all_voices():
    out = []
    for name in ("flite", "festival", "piper"):
        cls = registry.engine_class("tts", name)
        for lang in cls.languages():
            out += [pytest.param(name, v.id, lang, id=f"{name}:{v.id}") for v in cls.voices(lang)]
    # eSpeak: the Spanish voices the tuning orders (male and female), and English.
    out += [pytest.param("espeak", v, v.split("+")[0], id=f"espeak:{v}") for v in ("es+m3", "es+f2", "en+m3")]
    return out


@pytest.mark.parametrize("engine_name, voice, lang", all_voices())
def test_each_voice_speaks(tmp_path, engine_name, voice, lang):
    if not registry.engine_class("tts", engine_name).availability().ok:
        pytest.skip(registry.engine_class("tts", engine_name).availability().reason)
    out = tmp_path / "s.wav"
    registry.get_engine("tts", engine_name).synthesize(TEXT[lang], voice, out)
    x, sr = audio.read(out, mono=True)
    assert 1.5 < len(x) / sr < 7, "about 2-4 s for nine words"
    assert -40 < audio.loudness(x, sr) < -5
    assert audio.true_peak(x) <= 1.2  # some engines overshoot a little; none should be wildly off
    assert speech_share(x, sr) > 0.6


def test_text_starting_with_a_dash_is_read_not_taken_as_an_option(tmp_path):
    for name, voice in (("flite", "slt"), ("espeak", "en+m3"), ("festival", "cmu_us_slt_arctic_hts")):
        if not registry.engine_class("tts", name).availability().ok:
            continue
        out = tmp_path / f"{name}.wav"
        registry.get_engine("tts", name).synthesize("-v is not an option here.", voice, out)
        x, sr = audio.read(out, mono=True)
        assert len(x) / sr > 1.0 and audio.rms(x) > 0.005


def test_unknown_voice_is_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="unknown Flite voice 'zz'.*slt"):
        registry.get_engine("tts", "flite").synthesize("hello", "zz", tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()


def test_listing_shows_voices_with_gender_and_languages():
    rows = {r["name"]: r for r in registry.describe_all() if r["stage"] == "tts" and r["available"]}
    flite = {v["name"]: v for v in rows["flite"]["voices"]}
    assert flite["Flite SLT (US English, female)"]["gender"] == "female"
    assert flite["Flite RMS (US English, male)"]["languages"] == ["en"]
    festival = {v["name"]: v for v in rows["festival"]["voices"]}
    assert festival["Festival Ona HTS (Catalan, female)"]["languages"] == ["ca"]
    espeak = rows["espeak"]["voices"]
    assert {v["gender"] for v in espeak} == {"male", "female"} and "es" in espeak[0]["languages"]


def test_english_candidates_offer_a_female_voice_before_espeak():
    from dubbing.models import DubSettings
    from dubbing.stages.context import Context
    ctx = Context(None, DubSettings(target_language="en", tts="auto"))
    ctx.engine = lambda stage, **kw: "piper"  # what `auto` picks for English here, without a job folder
    genders = voices.candidate_voices(ctx, "en")
    first_female = next(v for v, g in genders.items() if g == "female")
    assert first_female.startswith(("festival:", "flite:")), genders


@pytest.mark.parametrize("voice, lang", [("flite:slt", "en"), ("espeak:es+m3", "es"),
                                         ("festival:upc_ca_ona_hts", "ca")])
def test_audition_sample_is_speech_at_a_fixed_level_and_cached(tmp_path, voice, lang):
    if not registry.engine_class("tts", voice.split(":")[0]).availability().ok:
        pytest.skip("engine not installed")
    path = voices.audition_sample(voice, lang, tmp_path)
    x, sr = audio.read(path, mono=True)
    assert 2 < len(x) / sr < 8
    assert audio.loudness(x, sr) == pytest.approx(voices.AUDITION_LUFS, abs=1.5)
    assert audio.true_peak(x) <= audio.db_to_gain(-0.9)
    assert speech_share(x, sr) > 0.6
    stamp = path.stat().st_mtime_ns
    assert voices.audition_sample(voice, lang, tmp_path) == path and path.stat().st_mtime_ns == stamp


def test_audition_of_an_unknown_voice_says_so(tmp_path):
    from dubbing.errors import DubbingError, EngineUnavailableError
    with pytest.raises(DubbingError, match="cannot audition voice 'flite:zz'"):
        voices.audition_sample("flite:zz", "en", tmp_path)
    with pytest.raises(EngineUnavailableError, match="unknown tts engine"):
        voices.audition_sample("nope:x", "en", tmp_path)


def test_a_voice_set_for_a_speaker_is_pinned_through_gender_edits_and_can_be_unpinned():
    from dubbing.models import Document, DubSettings, Speaker, Utterance
    from dubbing.ui import table
    doc = Document("en", "es", DubSettings(target_language="es"), speakers={"A": Speaker(gender="male", applied_gender="male")},
                   utterances=[Utterance(id=0, start=0, end=1, speaker="A", text="x", translated_text="y",
                                         gender="male", voice="espeak:es+m1")])
    candidates = {"espeak:es+m3": "male", "espeak:es+f2": "female"}
    assert table.set_speaker_voice(doc, "A", "espeak:es+m7") == 1
    assert doc.speakers["A"].pinned and doc.utterances[0].voice == ""
    doc.speakers["A"].gender = "female"
    voices.assign(doc, candidates)
    assert doc.voice_of(doc.utterances[0]) == "espeak:es+m7"  # pinned: the gender edit does not re-pick
    table.set_speaker_voice(doc, "A", "")
    voices.assign(doc, candidates)
    assert not doc.speakers["A"].pinned and doc.speakers["A"].voice == "espeak:es+f2"
