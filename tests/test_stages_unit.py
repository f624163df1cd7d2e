"""Stage logic on small arrays and documents (real ffmpeg where a stage uses it)."""
import numpy as np
import pytest

from dubbing import audio
from dubbing.models import Document, DubSettings, Speaker, Utterance
from dubbing.segmentation import TimedWord, build
from dubbing.stages import mix, subtitles, synthesize, voices
from dubbing.stages.context import Context


def test_utterances_never_span_two_speakers_and_split_at_sentences_and_pauses():
    words = [TimedWord(0.0, 0.5, " Hello"), TimedWord(0.5, 1.0, " there,"), TimedWord(1.0, 1.6, " friend."),
             TimedWord(1.7, 2.0, " How"), TimedWord(2.0, 2.4, " are"), TimedWord(2.4, 2.9, " you?"),
             TimedWord(3.0, 3.5, " Fine."), TimedWord(5.0, 5.5, " Later"), TimedWord(5.5, 6.0, " on.")]
    turns = [(0.0, 2.95, "SPEAKER_00"), (2.95, 3.6, "SPEAKER_01"), (4.9, 6.1, "SPEAKER_00")]
    utts = build(words, turns)
    assert [(u.speaker, u.text) for u in utts] == [
        ("SPEAKER_00", "Hello there, friend."), ("SPEAKER_00", "How are you?"),
        ("SPEAKER_01", "Fine."), ("SPEAKER_00", "Later on.")]


def test_long_turns_are_split_to_at_most_15_seconds():
    words = [TimedWord(i * 0.5, i * 0.5 + 0.4, f" w{i}") for i in range(80)]  # 40 s, no punctuation
    words[30] = TimedWord(15.0, 15.2, " w30")  # the longest pause is before w31 (0.3 s)
    utts = build(words, [(0.0, 40.0, "A")])
    assert len(utts) >= 3
    assert all(u.end - u.start <= 15.0 for u in utts)
    assert " ".join(u.text for u in utts).split() == [w.text.strip() for w in words]


def test_duck_envelope_is_local_with_ramps():
    sr = 1000
    g = mix.envelope(5000, sr, [(1.0, 2.0)], 0.1, 1.0)
    assert np.allclose(g[:900], 1.0) and np.allclose(g[1000:2000], 0.1) and np.allclose(g[2100:], 1.0)
    assert 0.1 < g[950] < 1.0 and 0.1 < g[2040] < 1.0


def test_subtitle_formats():
    cues = [(0.5, 2.25, "Hola a todos."), (3661.0, 3662.5, "x " * 40)]
    srt = subtitles.srt(cues)
    assert srt.startswith("1\n00:00:00,500 --> 00:00:02,250\nHola a todos.\n\n2\n01:01:01,000 --> 01:01:02,500\n")
    assert max(len(line) for line in srt.splitlines()) <= subtitles.LINE_CHARS
    vtt = subtitles.vtt(cues)
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:02.250\nHola a todos.\n")


def test_subtitle_text_with_markup_characters_reads_back_as_written(tmp_path):
    """ffmpeg's own SRT and WebVTT readers get back exactly the text, whatever characters it holds."""
    import subprocess

    import srt as srt_lib

    text = "Tom & Jerry <3 --> R&D &amp; <b>no</b>"  # one line (wrapping is tested above)
    cues = [(0.5, 2.0, text), (3.0, 4.0, "plain")]
    vtt = subtitles.vtt(cues)
    assert "\nTom &amp; Jerry &lt;3 --&gt; R&amp;D &amp;amp; &lt;b&gt;no&lt;/b&gt;\n" in vtt
    assert [sub.content for sub in srt_lib.parse(subtitles.srt(cues))] == [text, "plain"]
    for ext, body in (("vtt", vtt), ("srt", subtitles.srt(cues))):
        path = tmp_path / f"cues.{ext}"
        path.write_text(body)
        if ext == "vtt":  # decoded by ffmpeg's WebVTT reader, written back as SRT (which has no escapes)
            out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "srt", "-"], capture_output=True,
                                 text=True, check=True).stdout
            assert [sub.content for sub in srt_lib.parse(out)] == [text, "plain"]


def _doc(genders):
    spk = {f"S{i}": Speaker(gender=g, name=f"S{i}") for i, g in enumerate(genders)}
    utts = [Utterance(id=i, start=i, end=i + 0.8, speaker=f"S{i}", text="x", translated_text="y",
                      gender=g) for i, g in enumerate(genders)]
    return Document("en", "es", DubSettings(target_language="es"), speakers=spk, utterances=utts, duration=10)


def test_voices_are_distinct_gender_matched_and_deterministic():
    candidates = voices.candidate_voices(_ctx_for(None), "es")
    doc = _doc(["male", "female", "male"])
    voices.assign(doc, candidates)
    got = [doc.speakers[f"S{i}"].voice for i in range(3)]
    assert len(set(got)) == 3
    assert [voices.voice_gender(v, "es") for v in got] == ["male", "female", "male"]
    again = _doc(["male", "female", "male"])
    voices.assign(again, candidates)
    assert [again.speakers[f"S{i}"].voice for i in range(3)] == got


def test_gender_edit_on_a_line_gives_the_speaker_a_matching_voice():
    candidates = voices.candidate_voices(_ctx_for(None), "es")
    doc = _doc(["male"])
    voices.assign(doc, candidates)
    doc.utterances[0].gender = "female"  # a person corrects the line
    voices.assign(doc, candidates)
    assert doc.speakers["S0"].gender == "female"
    assert voices.voice_gender(doc.utterances[0].voice, "es") == "female"


def _ctx_for(tmp, **settings):
    return Context(tmp, DubSettings(target_language="es", tts="espeak", **settings))


@pytest.mark.parametrize("tts_seconds, window, expect_speed, expect_overrun", [
    (1.0, 2.0, 1.0, False),   # fits the slot: untouched
    (2.4, 2.0, 1.2, False),   # borrows nothing more, sped up 1.2x
    (3.0, 2.0, 1.3, True),    # capped at 1.3x: overrun flagged and cut at the next line
])
def test_fit_borrows_then_speeds_up_capped_then_flags_overrun(tmp_path, tts_seconds, window, expect_speed,
                                                              expect_overrun):
    sr = 16000
    t = np.arange(int(tts_seconds * sr)) / sr
    raw = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    orig = np.zeros(sr * 10, np.float32)
    ctx = _ctx_for(tmp_path)
    u = Utterance(id=0, start=1.0, end=2.0, speaker="A", text="x", translated_text="y")
    clip = synthesize.fit(ctx, u, raw, sr, 1.0 + window, orig, sr)
    assert u.speed == pytest.approx(expect_speed, abs=0.01)
    assert u.overrun is expect_overrun
    assert len(clip) / sr <= window + 1e-3  # never runs into the next utterance
    if not expect_overrun:
        assert len(clip) / sr == pytest.approx(tts_seconds / expect_speed, abs=0.05)
    else:
        assert u.overrun_seconds == pytest.approx(tts_seconds / 1.3 - window, abs=0.05)
    assert audio.rms(clip) > 0.01


def _doc_with_two_speakers() -> Document:
    return Document(source_language="en", target_language="es", settings=DubSettings(target_language="es"),
                    speakers={"A": Speaker(), "B": Speaker(voice="espeak:es")},
                    utterances=[Utterance(id=0, start=0.5, end=3.0, speaker="A", text="a"),
                                Utterance(id=1, start=3.5, end=5.0, speaker="B", text="b"),
                                Utterance(id=2, start=5.5, end=7.0, speaker="A", text="c")])


def test_voice_cloning_is_a_capability_of_the_tts_engine(tmp_path):
    from dubbing.errors import EngineUnavailableError

    sr = 16000
    (tmp_path / "work").mkdir()
    audio.write(tmp_path / "work" / "audio16k.wav",
                np.random.default_rng(0).uniform(-0.1, 0.1, 8 * sr).astype(np.float32), sr)
    doc = _doc_with_two_speakers()
    with pytest.raises(EngineUnavailableError, match="espeak engine cannot clone"):
        voices.clone_voices(_ctx_for(tmp_path / "other", clone_voices=True), doc)
    xtts_ctx = Context(tmp_path, DubSettings(target_language="es", tts="xtts", clone_voices=True))
    voices.clone_voices(xtts_ctx, doc)
    ref = tmp_path / "work" / "voices" / "A.wav"
    assert doc.speakers["A"].voice == f"xtts:clone:es:{ref.resolve()}"
    assert doc.speakers["B"].voice == "espeak:es"  # a voice already chosen is kept
    data, ref_sr = audio.read(ref, mono=True)
    assert ref_sr == sr and len(data) / sr == pytest.approx(2.5 + 1.5)  # A's own lines only


def test_a_decode_of_repeated_sentences_is_no_loop_but_one_sentence_over_and_over_is():
    """Jordi Mas says his three sentences again and again beside a French woman: his window decoded in
    French (a translation, as Whisper wrote it) and in English (his words, likelier; rebuilt from the
    logged start of Whisper's text and the same sentences). The English compresses a little more (3.71
    against 3.69): both repeat, as the speech does. The Greek decode of an accented speaker that was one
    sentence over and over is a loop."""
    from dubbing.engines.base import Segment, WindowTranscript, compression_ratio
    from dubbing.stages.transcribe import _loops_more

    def window(lang, *texts):
        return WindowTranscript(lang, 0.2, [Segment(i, i + 1.0, t, []) for i, t in enumerate(texts)], {})

    french = window("fr", "Je m'appelle From Barcelona et je m'aime la ville.", "Bonne journée. Mon nom est Jordi Mass.",
                    "Je m'aime From Barcelona", "et je m'aime la ville. Bonne journée.",
                    "Mon nom est Jordi Mass. Je m'aime From Barcelona", "et je m'aime la ville. Bonne journée.",
                    "Mon nom est Jordi Mass.", "Je m'aime From Barcelona et je m'aime la ville.", "Bonne journée.",
                    "Mon nom est Jordi Mass.")
    english = window("en", *["I am from Barcelona, and I love the city. Good morning, my name is Jordi Mass,"] * 3,
                     "I am from Barcelona, and I love the city. Good morning, my name is Jordi Mass.")
    ratio = [compression_ratio(" ".join(s.text for s in w.segments)) for w in (english, french)]
    assert ratio[1] < ratio[0] < 1.1 * ratio[1] and ratio[1] > 2.4  # the case: both over Whisper's limit
    assert not _loops_more(english, french)
    greek = window("el", *["Είμαι ο Ιορδημάς."] * 11)
    varied = window("en", "Good morning, my name is Jordi Mas.", "I am from Barcelona and I love the city.",
                    "We have been working on the new release for a while now.")
    assert _loops_more(greek, varied)
