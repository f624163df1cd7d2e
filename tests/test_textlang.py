"""The language of a transcript's text (lingua, packaged models): where the audio's language ID is unsure."""
import pytest

from dubbing import textlang
from dubbing.engines.base import Piece, Segment, WindowTranscript, Word

pytestmark = pytest.mark.skipif(not textlang.available(), reason="lingua-language-detector is not installed")

CANDIDATES = {"en", "es", "fr", "he", "ja"}  # as Whisper ranked a French speaker's window


def test_french_words_under_an_english_tag_are_french_and_english_ones_stay():
    texts = ["La Parole est un madame Annie Le Huerot.", "Ask not what your country can do for you",
             "Good morning, my name is Jordi Mas, I am from Barcelona"]
    conf = textlang.confidences(texts, [CANDIDATES] * 3)
    assert textlang.retag(texts[0], "en", conf[0]) == "fr"
    assert textlang.retag(texts[1], "en", conf[1]) is None
    assert textlang.retag(texts[2], "en", conf[2]) is None
    assert textlang.retag(texts[2], "es", conf[2]) == "en"  # Spanish names in English words


def test_short_texts_and_unknown_languages_say_nothing():
    conf = textlang.confidences(["Boom!", "La", "La parole est à madame"], [CANDIDATES, CANDIDATES, {"en", "haw"}])
    assert textlang.retag("Boom!", "de", conf[0]) is None  # too few letters to tell
    assert textlang.retag("La", "en", conf[1]) is None
    assert conf[2] == {}  # one language lingua knows is no choice


def test_an_unsure_window_whose_text_is_in_another_language_is_heard_again_in_it():
    from dubbing.stages.transcribe import _text_languages

    class Ctx:
        def check_cancel(self):
            pass

        def progress(self, *_):
            pass

    class Engine:  # decodes French words whatever the prompt, as Whisper did
        def __init__(self, words=1):
            self.calls, self.words = [], words

        def transcribe_windows(self, audio, sr, windows, *, language=None, **_):
            self.calls.append((language, len(windows)))
            words = [Word(1.0 + k, 2.0 + k, " La parole") for k in range(self.words)]
            segments = [Segment(1.0, 3.0, "La parole est à madame Annie Le Houerou.", words)] if words else []
            return [WindowTranscript(language, 1.0, segments) for _ in windows]

    def window(lang, prob, text, alternatives):
        return WindowTranscript(lang, prob, [Segment(1.0, 3.0, text, [Word(1.0, 3.0, " " + text)])], alternatives)

    plan = [("A", [Piece(0.0, 20.0)]), ("B", [Piece(20.0, 24.0)]), ("C", [Piece(24.0, 30.0)])]
    results = [window("en", 0.97, "Ask not what your country can do for you", {"en": 0.97}),
               # Heard as Spanish or Hebrew at 0.3-0.4, decoded in English, the language heard surely.
               window("en", 0.41, "la parole est à madame Annie Le Weirou", {"es": 0.41, "fr": 0.21, "he": 0.11}),
               window("en", 0.5, "and so my fellow Americans", {"en": 0.5, "fr": 0.3})]
    engine = Engine()
    out = _text_languages(Ctx(), engine, None, 16000, plan, results, [20.0, 4.0, 6.0])
    assert engine.calls == [("fr", 1)]  # only the French words' window, heard again in French
    assert [w.language for w in out] == ["en", "fr", "en"]
    assert out[1].language_probability == pytest.approx(0.21)  # the audio's own figure for French
    assert out[1].segments[0].text.endswith("Houerou.") and out[0] is results[0] and out[2] is results[2]
    # Heard again in French it got fewer words (Whisper stopped early): its first words stay, tagged French.
    out = _text_languages(Ctx(), Engine(words=0), None, 16000, plan, results, [20.0, 4.0, 6.0])
    assert out[1].language == "fr" and out[1].segments == results[1].segments
