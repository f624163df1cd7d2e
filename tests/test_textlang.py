"""The language of a transcript's text (lingua, packaged models): where the audio's language ID is unsure."""
import re

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


def test_a_window_whose_text_is_surely_in_another_likely_language_takes_it():
    from dubbing.stages.transcribe import _text_languages

    def window(lang, prob, text, alternatives):
        return WindowTranscript(lang, prob, [Segment(1.0, 3.0, text, [Word(1.0, 3.0, " " + text)])], alternatives)

    french = "la parole est à madame Annie Le Weirou"
    results = [window("en", 0.97, "Ask not what your country can do for you", {"en": 0.97, "de": 0.01}),
               # Heard as Spanish or Hebrew at 0.3-0.4, decoded in English, the language heard surely.
               window("en", 0.41, french, {"es": 0.41, "fr": 0.21, "he": 0.11}),
               # Heard alone as English at 0.78: French was still likely enough to weigh.
               window("en", 0.78, french, {"en": 0.78, "fr": 0.12}),
               window("en", 0.5, "and so my fellow Americans", {"en": 0.5, "fr": 0.3})]
    plan = [("A", [Piece(0.0, 20.0)]), ("B", [Piece(20.0, 24.0)]), ("B", [Piece(24.0, 26.0)]),
            ("A", [Piece(26.0, 32.0)])]
    out = _text_languages(plan, results)
    assert [w.language for w in out] == ["en", "fr", "fr", "en"]
    assert out[1].language_probability == pytest.approx(0.21)  # the audio's own figure for French
    assert out[1].segments == results[1].segments  # the words stay: they are French already
    assert out[0] is results[0] and out[3] is results[3]
    # French the audio did not find likely (under 0.05) is not weighed: nothing to choose from.
    unlikely = [window("en", 0.99, french, {"en": 0.99, "fr": 0.01})]
    assert _text_languages(plan[:1], unlikely) == unlikely


def test_a_speakers_other_windows_weigh_the_language_their_text_gave_him():
    """A French man's missed turns, heard alone at English 0.37-0.43 with French under 5%, kept his
    French words tagged English where his first window had become French by its text. His other
    windows now weigh French too, at a margin of two; an English speaker's windows are left alone."""
    from dubbing.stages.transcribe import _text_languages

    def window(lang, prob, text, alternatives):
        return WindowTranscript(lang, prob, [Segment(1.0, 3.0, text, [Word(1.0, 3.0, " " + text)])], alternatives)

    results = [window("en", 0.34, "La parole est à madame Annie Louerro.", {"es": 0.34, "fr": 0.2, "en": 0.1}),
               window("en", 0.98, "On the bottom right, you can see the time.", {"en": 0.98}),
               # French 0.72 against English 0.28 here: under TEXT_MARGIN, over OWN_MARGIN.
               window("en", 0.4, "La Parole est à madame Annie Le Wehrou.", {"en": 0.4, "es": 0.02}),
               window("en", 0.43, "I am Adam Anil Huero.", {"en": 0.43, "es": 0.02})]
    plan = [("A", [Piece(0.0, 3.0)]), ("B", [Piece(4.0, 9.0)]), ("A", [Piece(20.0, 22.5)]), ("A", [Piece(30.0, 32.0)])]
    out = _text_languages(plan, results)
    assert [w.language for w in out] == ["fr", "en", "fr", "en"]
    assert out[1] is results[1] and out[3] is results[3]
    conf = textlang.confidences([results[2].segments[0].text], [{"en", "fr"}])[0]
    assert textlang.retag(results[2].segments[0].text, "en", conf) is None  # alone it is not sure enough


def test_sentences_in_another_language_than_their_window_move_to_a_window_of_their_own():
    """An actress who recorded both the Spanish and the English prompts: her window was heard as Spanish
    at 0.66 (not sure), and Whisper wrote her English sentences in English. Each sentence is weighed
    alone; a segment holding two of her turns a second apart is first cut at that pause."""
    from dubbing.stages.transcribe import _sentence_languages

    def segment(start, *words):
        out, t = [], start
        for w in words:
            out.append(Word(t, t + 0.3, " " + w))
            t += 0.3 if w != "|" else 1.2
        out = [w for w in out if w.text != " |"]
        return Segment(out[0].start, out[-1].end, "".join(w.text for w in out), out)

    spanish = segment(1.0, *"Por favor, espere mientras le comunico con esa extensión.".split())
    english = segment(6.0, *"Your temporary greeting is currently active.".split())
    # "Thank you for your patience." then, after a pause of 1.2 s, "Mensaje del número de teléfono."
    mixed = segment(10.0, *"Thank you for your patience. | Mensaje del número de teléfono.".split())
    regions = [(0.9, 4.2), (5.9, 7.9), (9.9, 11.6), (12.7, 14.6)]
    window = WindowTranscript("es", 0.66, [spanish, english, mixed], {"es": 0.66, "en": 0.3})
    # Another speaker's English, heard surely: English is a language of the video.
    other = WindowTranscript("en", 0.98, [segment(20.0, *"Ask not what your country can do for you".split())],
                             {"en": 0.98})
    plan, results = _sentence_languages([("A", [Piece(0.8, 15.0)]), ("B", [Piece(19.5, 30.0)])], [window, other],
                                        regions)
    assert [w.language for w in results] == ["es", "en", "en"]
    assert results[1] is other
    assert [s.text.strip() for s in results[0].segments] == [
        "Por favor, espere mientras le comunico con esa extensión.", "Mensaje del número de teléfono."]
    assert [s.text.strip() for s in results[2].segments] == [
        "Your temporary greeting is currently active.", "Thank you for your patience."]
    assert results[2].language_probability == 0.3  # the audio's own figure for English
    # The English sentences' time left the Spanish window's pieces.
    assert plan[2] == ("A", [Piece(s.start, s.end) for s in results[2].segments])
    assert sum(p.end - p.start for p in plan[0][1]) == pytest.approx(14.2 - sum(s.end - s.start for s in results[2].segments))
    # English only likely (not heard surely anywhere): nothing is weighed, as "I am from Barcelona" in
    # an English window where Spanish was likely is not Spanish.
    assert _sentence_languages([("A", [Piece(0.8, 15.0)])], [window], regions)[1] == [window]


class _Stage:  # what `_decode_retagged` asks of the stage's context
    def check_cancel(self):
        pass

    def progress(self, *_):
        pass


@pytest.mark.parametrize("name, decoded_in, text_says, kept", [
    # Jordi Mas, decoded in French (as among French women, detected Greek at 0.37): Whisper half-translates
    # him; decoded again in English, the language of such text, he is likelier and takes it.
    ("mp4_en_jordimas_selfie.mp4", "fr", "en", "new"),
    # Tagged with a language their speaker did not speak: the first decode is likelier and stays.
    ("en_ljspeech_LJ050-0131.wav", "en", "fr", "old"),
    ("fr_commonvoice_17299458_UNVERIFIED.wav", "fr", "en", "old")])
def test_a_window_retagged_by_its_text_is_decoded_again_in_that_language_where_likelier(
        name, decoded_in, text_says, kept):
    from dubbing import media, vad
    from dubbing.engines import registry
    from dubbing.stages.transcribe import _decode_retagged
    from tests.conftest import shared_media

    x = media.decode_mono16k(shared_media(name))
    pieces = [Piece(a, b) for a, b in vad.tight_regions(x, 16000)]
    engine = registry.get_engine("stt", "faster-whisper")
    [first] = engine.transcribe_windows(x, 16000, [pieces], language=decoded_in)
    retagged = WindowTranscript(text_says, 0.1, first.segments, first.alternatives)  # as the text check tags it
    [out] = _decode_retagged(_Stage(), engine, x, 16000, [("A", pieces)], [first], [retagged])
    assert out.language == text_says
    text = " ".join(seg.text for seg in out.segments)
    if kept == "new":
        assert out.logprob > first.logprob
        assert re.search(r"my name is jordi", text.lower()) and "love" in text.lower(), text
    else:
        assert out.segments == first.segments, text
