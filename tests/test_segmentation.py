"""Lines follow the speech: word times fitted to detected speech, breaks at pauses, no tiny lines, packing."""
import numpy as np
import pytest

from dubbing.engines.base import Piece, Segment, WindowTranscript, Word, pack, unpack_segment
from dubbing.segmentation import (MIN_LINE_S, TimedWord, build, coverage, plan_windows, refine, unloop,
                                  words_from_transcript)


class Ctx:
    """The stage context the transcribe stage's helpers report to, quiet."""

    def check_cancel(self):
        pass

    def progress(self, *_):
        pass


class Decodes:
    """An engine that gives each window's decode per language, by its first piece's start."""

    def __init__(self, decodes):
        self.decodes, self.calls = decodes, []

    def transcribe_windows(self, audio, sr, windows, *, language=None, gap=0.5, choose=None, progress=None):
        self.calls.append((language, [w[0].start for w in windows]))
        return [self.decodes[(w[0].start, language)] for w in windows]


def test_a_new_turns_first_word_that_swallowed_the_pause_goes_to_the_new_speaker():
    # Whisper stretches "Thank" back over the pause to where the first speaker stopped (2.0 s).
    words = [TimedWord(0.5, 1.2, " Ten"), TimedWord(1.2, 1.5, " of"), TimedWord(1.5, 2.0, " clubs."),
             TimedWord(2.0, 3.1, " Thank"), TimedWord(3.1, 3.4, " you.")]
    regions = [(0.45, 2.05), (2.8, 3.5)]
    turns = [(0.4, 2.1, "A"), (2.7, 3.6, "B")]
    lines = build(words, turns, regions)
    assert [(line.speaker, line.text) for line in lines] == [("A", "Ten of clubs."), ("B", "Thank you.")]
    assert lines[1].start >= 2.79
    assert lines[1].words[0].start >= 2.79


def test_a_first_word_spanning_two_regions_goes_to_the_one_its_speaker_speaks_in():
    # The diarization changed speaker at 8.5 s, 0.4 s early; the new speaker's window began there
    # and Whisper put "unless" at 8.50-9.34, most of it in the last speaker's region (to 9.00).
    words = [TimedWord(7.9, 8.3, " your"), TimedWord(8.3, 8.5, " country"),
             TimedWord(8.5, 9.34, " unless"), TimedWord(9.34, 9.6, " a"), TimedWord(9.6, 10.0, " system")]
    regions = [(6.43, 9.0), (9.05, 11.14)]
    turns = [(2.0, 8.5, "A"), (8.5, 15.3, "B")]
    lines = build(words, turns, regions)
    assert [(line.speaker, line.text, line.start, line.end) for line in lines] == [
        ("A", "your country", 6.43, 9.0), ("B", "unless a system", 9.05, 11.14)]


def test_words_heard_before_the_speech_keep_their_order_when_moved_into_it():
    """Whisper placed "T'es l'autre." at 1.40-1.76 s, where the detector heard speech only from 1.79 s:
    all four words moved to the region's start, and sorted by their ends they read "'es'autre. l T"."""
    words = [TimedWord(1.396, 1.636, " T"), TimedWord(1.636, 1.636, "'es"), TimedWord(1.636, 1.756, " l"),
             TimedWord(1.756, 1.756, "'autre.")]
    refine(words, [(1.788, 2.66)])
    assert "".join(w.text for w in words) == " T'es l'autre."
    assert all(1.788 <= w.start < w.end <= 2.66 for w in words)


def test_a_word_never_spans_a_detected_pause():
    words = [TimedWord(1.0, 2.5, " long")]
    refine(words, [(0.9, 1.3), (1.8, 2.6)])
    # Most of the word lies in the second region: it is fitted there.
    assert (words[0].start, words[0].end) == (1.8, 2.5)


def test_pauses_of_half_a_second_split_one_speakers_lines():
    words = [TimedWord(1.3, 1.8, " Hello"), TimedWord(1.8, 3.9, " everybody"),
             TimedWord(5.3, 6.6, " welcome"), TimedWord(7.7, 8.6, " here")]
    regions = [(1.26, 3.95), (5.25, 6.63), (7.61, 8.69)]
    lines = build(words, [(1.0, 9.0, "A")], regions)
    assert len(lines) == 3
    assert [(line.start, line.end) for line in lines] == [(1.26, 3.95), (5.25, 6.63), (7.61, 8.69)]
    # With a longer setting the same speech stays one line per sentence-less stretch.
    assert len(build([TimedWord(w.start, w.end, w.text) for w in words], [(1.0, 9.0, "A")], regions,
                     pause_split=2.0)) == 1


def test_no_line_is_shorter_than_the_minimum_and_fragments_join_their_speaker():
    words = [TimedWord(1.0, 1.5, " So"), TimedWord(1.5, 1.6, " uh"), TimedWord(4.0, 4.1, " yes")]
    lines = build(words, [(0.9, 1.7, "A"), (3.9, 4.2, "B")], [(0.95, 1.65), (3.95, 4.12)])
    assert [line.text for line in lines] == ["So uh", "yes"]
    assert all(line.end - line.start >= MIN_LINE_S - 1e-9 for line in lines)
    assert all(line.words for line in lines)


def test_lines_change_with_the_language():
    words = [TimedWord(0.0, 0.4, " Hello", language="en"), TimedWord(0.4, 0.9, " Bonjour", language="fr")]
    lines = build(words, [(0.0, 1.0, "A")])
    assert [(line.language, line.text) for line in lines] == [("en", "Hello"), ("fr", "Bonjour")]


def test_a_line_takes_the_wordless_speech_next_to_it_of_its_own_speaker():
    # Whisper placed no word in 2.33-2.79 (the end of "un" and a breath, as on an assembled
    # conversation), 0.12 s after the line's words: it belongs to the line. The speech at 3.0 is
    # another person's (a back-channel Whisper did not write): it stays out.
    words = [TimedWord(0.4, 1.2, " et"), TimedWord(1.2, 2.2, " numéro"), TimedWord(4.0, 4.6, " oui")]
    regions = [(0.35, 2.21), (2.33, 2.79), (2.95, 3.4), (3.95, 4.7)]
    turns = [(0.3, 2.85, "A"), (2.9, 3.5, "B"), (3.9, 4.8, "A")]
    lines = build(words, turns, regions)
    assert [(line.speaker, line.start, line.end) for line in lines] == [("A", 0.35, 2.79), ("A", 3.95, 4.7)]
    # Half a second of silence is a pause: speech after it is not taken.
    lines = build([TimedWord(0.4, 1.2, " et")], [(0.0, 3.0, "A")], [(0.35, 1.21), (1.75, 2.2)])
    assert [(line.start, line.end) for line in lines] == [(0.35, 1.21)]
    # A quick reply: the diarization changed speaker at 2.5 s, inside the first person's last syllable
    # (2.33-2.79); that region is not given to the second person's line just because most of it
    # falls in their turn.
    lines = build([TimedWord(0.4, 2.2, " numéro"), TimedWord(3.2, 4.0, " 扎自己的脚")],
                  [(0.2, 2.5, "A"), (2.5, 4.5, "B")], [(0.35, 2.21), (2.33, 2.79), (3.2, 4.26)])
    assert [(line.speaker, line.start, line.end) for line in lines] == [("A", 0.35, 2.21), ("B", 3.2, 4.26)]
    # Nor more than WORDLESS_MAX_S of it (laughter, music): the third region ends past 1.21 + 1.5.
    lines = build([TimedWord(0.4, 1.2, " et")], [(0.0, 9.0, "A")],
                  [(0.35, 1.21), (1.4, 2.0), (2.2, 2.9), (3.1, 5.0)])
    assert [(line.start, line.end) for line in lines] == [(0.35, 2.0)]


def test_a_decoding_loop_is_cut_to_one_round_and_a_word_heard_twice_is_kept_once():
    assert unloop("扎自己的腳" * 13, 0.84) == "扎自己的腳"
    assert unloop(" no, no, no", 1.0) == " no, no, no"  # said that fast: left alone
    assert unloop("哈哈哈", 0.05) == "哈哈哈"
    transcript = {"language": "zh", "segments": [
        {"start": 56.2, "end": 60.4, "text": "扎自己的腳", "words": [
            {"start": 59.25, "end": 60.42, "text": "扎自己的腳" * 13}]},
        {"start": 59.6, "end": 60.85, "text": "扎自己的腳", "words": []}]}
    words = words_from_transcript(transcript)
    assert [w.text.strip() for w in words] == ["扎自己的腳"]
    # A segment Whisper could not place the words of, spread over a packed window, where words
    # were heard: dropped. Where nothing else was heard (an engine without word times), kept.
    transcript["segments"].append({"start": 33.65, "end": 40.05, "text": "扎自己的腳", "words": []})
    transcript["segments"].append({"start": 36.7, "end": 37.6, "text": "扎自己的脚", "words": [
        {"start": 36.7, "end": 37.0, "text": "扎"}, {"start": 37.0, "end": 37.6, "text": "自己的脚"}]})
    assert [w.text.strip() for w in words_from_transcript(transcript)] == ["扎", "自己的脚", "扎自己的腳"]
    assert [w.text for w in words_from_transcript({"segments": [
        {"start": 1.0, "end": 2.0, "text": "hello", "words": []}]})] == [" hello"]


def test_coverage_is_the_share_of_detected_speech_inside_lines():
    lines = build([TimedWord(0.0, 1.0, " a")], [(0.0, 1.0, "A")])
    assert coverage(lines, [(0.0, 1.0), (2.0, 3.0)]) == 0.5


def test_windows_hold_one_speaker_at_most_28_seconds_and_never_reach_into_another_turn():
    turns = [(0.0, 10.0, "A"), (10.0, 12.0, "B"), (12.0, 30.0, "A"), (30.0, 31.0, "B"), (31.5, 70.0, "A")]
    plan = plan_windows(turns, 70.0)
    for spk, pieces in plan:
        assert sum(p.end - p.start for p in pieces) <= 28.0 + 1e-6
        for p in pieces:
            for t0, t1, other in turns:
                if other != spk:
                    assert min(p.end, t1) - max(p.start, t0) <= 1e-6
    assert {spk for spk, _ in plan} == {"A", "B"}
    # Every second of every turn is in some window.
    for t0, t1, spk in turns:
        held = sum(max(0.0, min(p.end, t1) - max(p.start, t0)) for s, ps in plan if s == spk for p in ps)
        assert held >= t1 - t0 - 1e-6


def test_packed_times_map_back_and_a_word_over_the_gap_stays_in_one_piece():
    audio = np.zeros(16000 * 40, np.float32)
    packed, mapping = pack(audio, 16000, [Piece(2.0, 4.0), Piece(30.0, 31.0)])
    assert len(packed) == int(16000 * 3.4)
    seg = Segment(0.5, 3.0, "a b", [Word(0.5, 1.0, " a"), Word(1.7, 2.3, " b"), Word(2.6, 3.0, " c")])
    out = unpack_segment(seg, mapping)
    assert [(w.start, w.end) for w in out.words] == [(2.5, 3.0), (3.7, 4.0), (30.2, 30.6)]


def test_speech_no_word_comes_near_is_found_for_a_second_look():
    from dubbing.stages.transcribe import unheard
    regions = [(0.0, 5.0), (6.0, 6.4), (7.0, 7.6), (8.0, 9.5)]
    words = [(0.2, 0.6), (0.6, 1.0), (8.1, 8.4)]
    # 1.25-5.0 of the first region, a one-word reply at 7.0-7.6 and 8.65-9.5 of the last were heard by
    # nobody; 6.0-6.4 is too short to be a word Whisper skipped.
    assert unheard(regions, words) == [(1.25, 5.0), (7.0, 7.6), (8.65, 9.5)]


def test_lines_never_overlap_and_words_far_from_speech_are_dropped():
    # A slip of another speaker's window puts a word inside A's line; a word in long silence is noise.
    words = [TimedWord(1.0, 1.5, " Ask", language="en"), TimedWord(1.6, 3.0, " what", language="en"),
             TimedWord(1.2, 1.4, " 噢", language="zh"), TimedWord(6.0, 6.3, " oh", language="en")]
    regions = [(0.9, 3.1)]
    lines = build(words, [(0.9, 3.1, "A")], regions)
    assert all(b.start >= a.end for a, b in zip(lines, lines[1:]))
    assert "oh" not in " ".join(line.text for line in lines)


def test_a_window_heard_whole_is_cut_back_into_its_pieces():
    from dubbing.stages.transcribe import per_piece
    pieces = [Piece(1.0, 3.0), Piece(10.0, 12.0), Piece(20.0, 21.0)]
    one = Segment(1.1, 2.5, "Hello there.", [Word(1.1, 1.6, " Hello"), Word(1.7, 2.5, " there.")])
    # Whisper ran one sentence over the silence between the second and third piece.
    two = Segment(10.2, 20.8, "Ask not what", [Word(10.2, 10.6, " Ask"), Word(10.7, 11.9, " not"),
                                              Word(20.1, 20.8, " what")])
    out = per_piece(WindowTranscript("en", 0.9, [one, two], {"en": 0.9}), pieces)
    assert [[s.text for s in w.segments] for w in out] == [["Hello there."], ["Ask not"], ["what"]]
    assert out[1].segments[0].start == 10.2 and out[1].segments[0].end == 11.9
    assert all(w.language == "en" and w.language_probability == 0.9 for w in out)


def test_missed_stretches_go_a_few_to_a_window_that_whisper_hears_whole():
    from dubbing.segmentation import WINDOW_S
    from dubbing.stages.transcribe import RETRY_GAP_S, RETRY_GROUP, _retry_groups
    items = [("A", Piece(i * 10.0, i * 10.0 + 2.0)) for i in range(9)] + [("B", Piece(100.0, 120.0)),
                                                                        ("B", Piece(130.0, 140.0))]
    groups = _retry_groups(items)
    assert [p for g in groups for p in g] == items  # all of them, in order
    assert all(len(g) <= RETRY_GROUP for g in groups)
    assert all(sum(p.end - p.start + RETRY_GAP_S for _, p in g) - RETRY_GAP_S <= WINDOW_S for g in groups)
    assert [len(g) for g in groups] == [8, 2, 1]  # eight of A's; its ninth beside B's 20 s; B's 10 s


def test_pieces_pack_with_the_gap_asked_for():
    audio = np.zeros(16000 * 40, np.float32)
    packed, mapping = pack(audio, 16000, [Piece(2.0, 4.0), Piece(30.0, 31.0)], 1.0)
    assert len(packed) == 16000 * 4 and mapping[1][0] == 3.0


def test_an_unsure_window_is_decoded_at_once_in_the_language_it_would_be_heard_again_in():
    from dubbing.engines.stt.faster_whisper_engine import _LanguageRecorder
    from dubbing.stages.transcribe import _language_for, _unsure

    class Inner:
        def detect_language(self, _):
            return [[("<|nn|>", 0.4), ("<|en|>", 0.3), ("<|fr|>", 0.2)], [("<|fr|>", 0.9), ("<|en|>", 0.05)]]

    recorder = _LanguageRecorder(Inner(), lambda found: [_language_for(*f, {"en", "fr"}, "en", 8.0) for f in found])
    ranked = recorder.detect_language(None)
    assert [r[0][0] for r in ranked] == ["<|en|>", "<|fr|>"]  # what the batched pipeline prompts with
    assert recorder.chosen == ["en", "fr"] and recorder.found[0][0] == "nn"
    # Decoded in English while unsure of French: heard again in French once French is heard surely.
    forced = WindowTranscript("en", 0.45, [], {"fr": 0.45, "en": 0.3})
    sure_fr = WindowTranscript("fr", 0.95, [], {"fr": 0.95})
    sure_en = WindowTranscript("en", 0.97, [], {"en": 0.97})
    assert _unsure([(forced, 8.0), (sure_en, 8.0)], "en") == {}
    assert _unsure([(forced, 8.0), (sure_en, 8.0), (sure_fr, 8.0)], "en") == {0: "fr"}
    # Unless French was heard surely in little speech, and not very surely.
    assert _unsure([(forced, 8.0), (sure_en, 8.0), (WindowTranscript("fr", 0.9, []), 4.0)], "en") == {}
    assert _unsure([(forced, 8.0), (sure_en, 8.0), (WindowTranscript("fr", 0.97, []), 2.0)], "en") == {0: "fr"}


def test_the_first_batch_chooses_from_the_languages_detected_with_it():
    """Before any window is decoded, the first batch's choice hears the batch's own detections: an
    accented speaker's window, detected Greek at 0.51 beside two English windows heard surely, is
    decoded in English at once, not in Greek and then again in English."""
    from dubbing.stages.transcribe import _choice_as_heard

    jordi = ("el", 0.51, {"el": 0.51, "en": 0.14, "es": 0.06})
    english = ("en", 0.96, {"en": 0.96, "la": 0.01})
    unsure_fr, sure_fr = ("fr", 0.55, {"fr": 0.55, "en": 0.3}), ("fr", 0.93, {"fr": 0.93})
    choose = _choice_as_heard([20.0, 25.0, 25.0, 3.0, 10.0])
    assert choose([jordi, english, english]) == ["en", "en", "en"]
    # The engine's next batch hears what came before it: a short window unsure of French goes to English...
    assert choose([unsure_fr]) == ["en"]
    # ...unless French is heard surely beside it.
    assert choose([sure_fr]) == ["fr"]
    assert _choice_as_heard([20.0, 3.0, 10.0])([english, unsure_fr, sure_fr]) == ["en", "fr", "fr"]
    # Alone, with nothing heard surely yet, a window keeps the language detected in it.
    assert _choice_as_heard([12.0])([jordi]) == ["el"]


def test_a_voice_whisper_cannot_place_takes_the_likeliest_of_its_guesses_that_can_be_dubbed():
    """Jordi Mas's accented English (Greek 0.22, English 0.19) and the French CommonVoice man (Hebrew
    0.43, Spanish 0.16, French 0.14) beside a Chinese woman, the only voice heard surely: their audio
    does not find Chinese among its five likeliest, and they were decoded in Chinese and refused. Among
    Whisper's guesses, the likeliest language with a translator to the target is taken."""
    from dubbing.stages.transcribe import _choose_from, _language_for

    dubbable = {"en", "fr", "ca", "it", "pt", "gl", "eo", "es"}.__contains__  # Apertium's to Spanish
    jordi = ("el", 0.22, {"el": 0.22, "en": 0.19, "es": 0.12, "la": 0.07, "gl": 0.04})
    cv_fr = ("he", 0.43, {"he": 0.43, "ja": 0.10, "fr": 0.14, "ar": 0.05, "yo": 0.03})
    assert _choose_from({"zh"}, "zh", [9.8, 12.0], [jordi, cv_fr], dubbable) == ["en", "fr"]
    assert _choose_from({"zh"}, "zh", [9.8, 12.0], [jordi, cv_fr]) == ["zh", "zh"]  # nothing known to dub
    # A sure language among its guesses still comes first (Spanish, at 0.12, over English's 0.19)...
    assert _language_for(*jordi, {"es", "zh"}, "zh", 9.8, dubbable) == "es"
    # ...a window of too little speech to judge its guesses goes to the main language, as before...
    assert _language_for(*jordi, {"zh"}, "zh", 1.2, dubbable) == "zh"
    # ...and so does every window where the main language can be dubbed: Whisper may write the
    # speaker's own words under its prompt, for the text check to place (`_text_languages`).
    assert _choose_from({"de"}, "de", [9.8, 12.0], [jordi, cv_fr], {"de", "en", "fr"}.__contains__) == ["de", "de"]


def test_a_one_word_window_takes_a_language_heard_nowhere_else_only_when_very_sure():
    """A far-field man's one word ("Monkey.", 0.8 s) was detected German at 0.77 and decoded as "und
    ich"; a window with under VOUCH_SPEECH_S of speech stands on its own language only at SWITCH_SURE
    (a short Chinese turn is 0.997 sure), and takes one heard surely elsewhere as before."""
    from dubbing.stages.transcribe import _choice_as_heard, _choose_from, _unsure

    monkey = ("de", 0.77, {"de": 0.77, "en": 0.08, "nl": 0.05})
    english, french = ("en", 0.96, {"en": 0.96}), ("fr", 0.99, {"fr": 0.99})
    assert _choice_as_heard([0.8, 20.0, 20.0])([monkey, english, french]) == ["en", "en", "fr"]
    assert _choice_as_heard([3.0, 20.0, 20.0])([monkey, english, french]) == ["de", "en", "fr"]
    zh = ("zh", 0.997, {"zh": 0.997})
    assert _choice_as_heard([0.86, 20.0])([zh, english]) == ["zh", "en"]
    # Later batches choose the same way, window by window.
    assert _choose_from({"en", "fr"}, "en", [0.8, 3.0], [monkey, monkey]) == ["en", "de"]
    assert _choose_from({"en", "de"}, "en", [0.8], [monkey]) == ["de"]
    # And a short window decoded in its unsure language is heard again in the main one.
    heard = WindowTranscript("de", 0.77, [], dict(monkey[2]))
    sure_en = WindowTranscript("en", 0.96, [], {"en": 0.96})
    assert _unsure([(heard, 0.8), (sure_en, 20.0)], "en") == {0: "en"}
    assert _unsure([(heard, 3.0), (sure_en, 20.0)], "en") == {}


def test_an_unsure_window_keeps_its_language_when_its_longest_regions_alone_are_sure_of_it():
    from dubbing.stages.transcribe import _unsure, _vouch

    class Engine:  # Whisper's language ID per region, as the real engine returns it
        def __init__(self, prob):
            self.prob, self.heard = prob, []

        def detect_languages(self, audio, sr, pieces):
            self.heard.append(pieces)
            return [("en", self.prob, {"en": self.prob, "fr": 0.01})] * len(pieces)

    # English one-word replies detected unsure as a window (0.5), decoded in French, the sure language.
    replies = WindowTranscript("fr", 0.5, [], {"en": 0.5, "ja": 0.2})
    hers = WindowTranscript("fr", 0.98, [], {"fr": 0.98})
    windows = [[Piece(0.0, 2.0), Piece(5.0, 7.0), Piece(10.0, 12.0), Piece(15.0, 17.0)], [Piece(2.0, 5.0)]]
    seconds = [8.0, 3.0]
    regions = [(0.3, 1.1), (5.2, 6.0), (10.1, 10.9), (15.4, 16.0), (2.1, 4.9)]

    def vouch(engine, results, regions=regions, checked=None):
        return _vouch(Ctx(), engine, None, 16000, windows, seconds, regions, set() if checked is None else checked,
                      results)

    sure = Engine(0.9)
    checked = set()
    results, again = vouch(sure, [replies, hers], checked=checked)
    assert again == {0: "en"} and results[0].language == "en"
    assert results[0].language_probability == pytest.approx(0.9)
    # The three longest regions, each alone, hers not at all.
    assert sorted((h[0].start, h[0].end) for h in sure.heard) == [(0.3, 1.1), (5.2, 6.0), (10.1, 10.9)]
    assert all(len(h) == 1 for h in sure.heard)
    assert vouch(sure, [replies, hers], checked=checked)[1] == {} and len(sure.heard) == 3  # heard once
    # Still to be heard in French: the regions alone are unsure too, or too little speech to tell.
    unsure = Engine(0.6)
    assert vouch(unsure, [replies, hers]) == ([replies, hers], {}) and len(unsure.heard) == 3
    # Plainly not English in the first region: sure of it (0.7) is out of reach, the rest are not heard.
    other = Engine(0.05)
    assert vouch(other, [replies, hers]) == ([replies, hers], {}) and len(other.heard) == 1
    short = [(0.3, 0.9), (5.2, 5.8), (10.1, 10.3)]  # 1.2 s in regions of 0.5 s or more
    assert vouch(Engine(0.9), [replies, hers], regions=short) == ([replies, hers], {})
    # Decoded in its detected language, due to be heard again in the sure one: now sure, it keeps it.
    decoded_en = WindowTranscript("en", 0.5, [], {"en": 0.5})
    assert _unsure([(decoded_en, 8.0), (hers, 3.0)], "fr") == {0: "fr"}
    results, again = vouch(sure, [decoded_en, hers])
    assert again == {} and _unsure(list(zip(results, seconds)), "fr") == {}


def test_a_missed_stretch_of_an_unsure_window_takes_another_language_only_when_very_sure():
    from dubbing.stages.transcribe import _retry_missed

    class Engine:  # Whisper's detection per window, then the language `choose` picks, as the real engine
        def __init__(self, detected):
            self.detected, self.calls = detected, []

        def transcribe_windows(self, audio, sr, windows, *, language=None, gap=0.5, choose=None, progress=None):
            self.calls.append(language)
            out = []
            for pieces in windows:
                lang = language or (choose([self.detected])[0] if choose else self.detected[0])
                words = [Word(p.start + 0.1, p.end - 0.1, " and I") for p in pieces]
                out.append(WindowTranscript(lang, self.detected[1], [Segment(words[0].start, words[-1].end, "and I",
                                                                             words)], self.detected[2]))
            return out

    # An accented English speaker's window, unsure (decoded in English, the language heard surely),
    # and a 0.8 s stretch in it that Whisper skipped.
    plan = [("A", [Piece(0.0, 6.0)])]
    first = WindowTranscript("en", 0.5, [Segment(0.2, 3.0, "so", [Word(0.2, 3.0, " so")])], {"en": 0.5, "de": 0.3})
    regions = [(0.2, 3.0), (4.0, 4.8)]

    def retried(detected, times=1):
        engine = Engine(detected)
        _, results = _retry_missed(Ctx(), engine, None, 16000, plan, [first], regions, None)
        assert engine.calls == [None] * times and len(results) == 2  # its language detected each time
        return results[1].language

    # German at 0.8, the one stretch heard alone: the window's own language.
    assert retried(("de", 0.8, {"de": 0.8, "en": 0.15})) == "en"
    assert retried(("de", 0.8, {"de": 0.8, "nl": 0.15})) == "en"
    assert retried(("de", 0.5, {"de": 0.5, "en": 0.3})) == "en"  # unsure: not heard again
    assert retried(("zh", 0.97, {"zh": 0.97, "en": 0.01})) == "zh"  # a switch heard surely stays
    # A language heard surely elsewhere in the file is taken as a region's of a switching speaker.
    sure_fr = WindowTranscript("fr", 0.98, [], {"fr": 0.98})
    engine = Engine(("fr", 0.6, {"fr": 0.6, "en": 0.2}))
    _, results = _retry_missed(Ctx(), engine, None, 16000, plan + [("B", [Piece(7.0, 9.0)])], [first, sure_fr],
                               regions, None)
    assert results[2].language == "fr"


def test_missed_stretches_given_the_same_sentence_together_are_heard_again_alone():
    """Whisper wrote the sentence of one missed stretch again over the next one, another speaker's
    turn it could not read. Such stretches are heard again alone; a short reply said twice is kept."""
    from dubbing.stages.transcribe import _retry_missed

    class Engine:  # heard together: the first stretch's sentence over each; alone: each its own words
        def __init__(self, together):
            self.together, self.calls = together, []

        def transcribe_windows(self, audio, sr, windows, *, language=None, gap=0.5, choose=None, progress=None):
            self.calls.append([len(w) for w in windows])
            out = []
            for pieces in windows:
                segs = []
                for k, p in enumerate(pieces):
                    text = self.together if len(pieces) > 1 else f"turn at {p.start:g}"
                    segs.append(Segment(p.start + 0.1, p.end - 0.1, text, [Word(p.start + 0.1, p.end - 0.1, " " + text)]))
                out.append(WindowTranscript(language or "en", 0.9, segs, {language or "en": 0.9}))
            return out

    plan = [("A", [Piece(0.0, 3.0)]), ("B", [Piece(3.5, 12.0)])]
    first = [WindowTranscript("en", 0.9, [], {"en": 0.9}), WindowTranscript("en", 0.9, [], {"en": 0.9})]
    regions = [(0.5, 1.8), (4.0, 5.5), (8.0, 9.6)]  # short stretches, heard together first
    engine = Engine("On the bottom right, you can see the time.")
    _, results = _retry_missed(Ctx(), engine, None, 16000, plan, first, regions, "en")
    assert engine.calls == [[3], [1, 1, 1]]
    assert sorted(s.text for w in results[2:] for s in w.segments) == ["turn at 0.4", "turn at 3.9", "turn at 7.9"]
    engine = Engine("扎自己的脚")  # a Chinese phrase, written without spaces, copied the same way
    _, results = _retry_missed(Ctx(), engine, None, 16000, plan, first, regions, "zh")
    assert engine.calls == [[3], [1, 1, 1]]
    engine = Engine("Yes.")  # a one-word reply said in two turns stands
    _, results = _retry_missed(Ctx(), engine, None, 16000, plan, first, regions, "en")
    assert engine.calls == [[3]] and [s.text for w in results[2:] for s in w.segments] == ["Yes."] * 3


def test_an_unsure_window_of_a_speaker_heard_in_two_languages_takes_the_likelier_of_them():
    """The French CommonVoice man: his window decoded in French, his missed turn (heard alone, Hebrew
    at 0.39 with English likelier than French) decoded in English as a translation. Decoded in French
    too, Whisper finds his own words likelier, and the turn is French. A decode that keeps the words
    of the window's language under the other prompt does not move it; a sure window is not decoded
    again; a speaker heard in one language costs nothing."""
    from dubbing import textlang
    from dubbing.stages import transcribe
    if not textlang.available():
        pytest.skip("lingua-language-detector is not installed")

    def heard(lang, text, logprob, start, prob=0.3):
        return WindowTranscript(lang, prob, [Segment(start, start + 2.0, text, [Word(start, start + 2.0, text)])],
                                {"he": 0.39}, logprob)

    french, english = "La parole est à madame Annie Loueroux.", "The word is in Adam, in the name of the Lord."
    plan = [("A", [Piece(0.0, 3.0)]), ("B", [Piece(4.0, 9.0)]), ("A", [Piece(10.0, 13.0)])]
    window = heard("fr", french, -0.35, 0.0)
    other = heard("en", "Good morning, everyone.", -0.2, 4.0, prob=0.98)
    missed = heard("en", english, None, 10.0, prob=0.39)  # a missed stretch heard with others: no likelihood
    decodes = {(0.0, "en"): heard("en", "The word is to madam Annie.", -0.8, 0.0),
               (10.0, "fr"): heard("fr", french, -0.3, 10.0), (10.0, "en"): heard("en", english, -0.7, 10.0)}
    engine = Decodes(decodes)
    out = transcribe._speaker_languages(Ctx(), engine, None, 16000, plan, [window, other, missed])
    assert sorted(engine.calls) == [("en", [0.0, 10.0]), ("fr", [10.0])]  # B, sure and of one language: not heard
    assert [w.language for w in out] == ["fr", "en", "fr"] and out[2].segments == decodes[(10.0, "fr")].segments
    assert out[0] is window  # the translation of his French is less likely: his window stays
    # Likelier in French, but still English words: Whisper kept them under the French prompt.
    decodes[(10.0, "fr")] = heard("fr", "The word is in Adam, in the name of the Lord.", -0.3, 10.0)
    out = transcribe._speaker_languages(Ctx(), Decodes(decodes), None, 16000, plan, [window, other, missed])
    assert out[2] is missed
    # Less likely than its own language: kept.
    decodes[(10.0, "fr")] = heard("fr", french, -0.75, 10.0)
    out = transcribe._speaker_languages(Ctx(), Decodes(decodes), None, 16000, plan, [window, other, missed])
    assert out[2] is missed
    # A speaker heard in one language only is never decoded again.
    engine = Decodes(decodes)
    alone = heard("fr", french, None, 10.0)
    out = transcribe._speaker_languages(Ctx(), engine, None, 16000, plan, [window, other, alone])
    assert out == [window, other, alone]
    assert engine.calls == []


def test_a_speaker_heard_in_two_close_languages_is_given_the_one_likeliest_over_all_their_windows():
    """A Czech voice actress (Fish Fillets, Debian's fillets-ng-data-cs): Whisper base heard one of her
    windows as Czech at 0.95 and another as Polish at 0.95, and wrote that one in Polish. Sure or not,
    between close languages (`langcodes.siblings`) each window is decoded in her other one too, and
    over both her windows Whisper finds her likelier in Czech: the Polish one goes to Czech, though
    its Polish words under the Polish prompt are likely too. Window by window it is a coin toss: a
    Russian voice's windows were likelier in Belarusian in 16 of 37, so one window tagged Belarusian
    must not take the others there. A speaker heard surely in two languages that are not close is not
    decoded again."""
    from dubbing.stages import transcribe

    def heard(lang, text, logprob, start, prob=0.95):
        return WindowTranscript(lang, prob, [Segment(start, start + 2.0, text, [Word(start, start + 2.0, text)])],
                                {lang: prob}, logprob)

    plan = [("A", [Piece(0.0, 3.0)]), ("B", [Piece(4.0, 9.0)]), ("A", [Piece(10.0, 13.0)])]
    czech = heard("cs", "Mohlo by stát před kontrolkou hard disku.", -0.47, 0.0)
    other = heard("en", "Good morning, everyone.", -0.2, 4.0, prob=0.98)
    polish = heard("pl", "Walka pokracuje i grubyna. To jest wlażki.", -0.623, 10.0)
    decodes = {(0.0, "pl"): heard("pl", "Mogę by stać przed kontrolku harddysku.", -0.92, 0.0),
               (10.0, "cs"): heard("cs", "Válka pokračuje i dlubyna. To je zvláštní.", -0.7, 10.0)}
    engine = Decodes(decodes)
    out = transcribe._speaker_languages(Ctx(), engine, None, 16000, plan, [czech, other, polish])
    assert sorted(engine.calls) == [("cs", [10.0]), ("pl", [0.0])]  # B, of one language: not heard again
    # Less likely in Czech than in Polish (-0.70 against -0.623), the window still goes with her Czech.
    assert [w.language for w in out] == ["cs", "en", "cs"] and out[2].segments == decodes[(10.0, "cs")].segments
    assert out[2].language_probability == 0.95  # the audio was sure of the two; it still counts whole
    assert out[0] is czech
    # Likelier in Polish over both windows: both go to Polish.
    decodes[(0.0, "pl")] = heard("pl", "Mogła by stać przed kontrolką twardego dysku.", -0.45, 0.0)
    out = transcribe._speaker_languages(Ctx(), Decodes(decodes), None, 16000, plan, [czech, other, polish])
    assert [w.language for w in out] == ["pl", "en", "pl"] and out[2] is polish
    # A Russian speaker, one of whose windows was tagged Belarusian: two of her Russian windows are a
    # little likelier in Belarusian (measured: -0.387 against -0.389, -0.333 against -0.351), the third
    # and the Belarusian one much likelier in Russian. All four are Russian.
    plan = [("R", [Piece(t, t + 3.0)]) for t in (0.0, 4.0, 8.0, 12.0)]
    russian = [heard("ru", "Набранный вами номер", -0.389, 0.0), heard("ru", "не обслуживается", -0.351, 4.0),
               heard("ru", "Пожалуйста, перезвоните", -0.372, 8.0)]
    belarusian = heard("be", "Калі ласка, паўтарыце", -0.52, 12.0, prob=0.8)
    decodes = {(0.0, "be"): heard("be", "Набраны вамі нумар", -0.387, 0.0),
               (4.0, "be"): heard("be", "не абслугоўваецца", -0.333, 4.0),
               (8.0, "be"): heard("be", "Калі ласка, перазваніце", -0.470, 8.0),
               (12.0, "ru"): heard("ru", "Пожалуйста, повторите", -0.30, 12.0)}
    out = transcribe._speaker_languages(Ctx(), Decodes(decodes), None, 16000, plan, [*russian, belarusian])
    assert [w.language for w in out] == ["ru"] * 4
    assert out[:3] == russian and out[3].segments == decodes[(12.0, "ru")].segments
    # An actress heard surely in Spanish and in English: not close languages, nothing decoded again.
    plan = [("A", [Piece(0.0, 3.0)]), ("B", [Piece(4.0, 9.0)]), ("A", [Piece(10.0, 13.0)])]
    engine = Decodes(decodes)
    spanish, english = heard("es", "Hola a todos.", -0.3, 0.0), heard("en", "Hello everyone.", -0.3, 10.0)
    assert transcribe._speaker_languages(Ctx(), engine, None, 16000, plan, [spanish, other, english]) \
        == [spanish, other, english]
    assert engine.calls == []


def test_an_unsure_window_decoded_again_takes_the_likeliest_of_the_close_languages_that_does_not_loop():
    """An accented English speaker among French women, detected Greek at 0.20 and English at 0.18, was
    decoded in French (the language heard surely) as a French translation of his words. Decoded again
    in Greek alone, Whisper said one Greek sentence eleven times, at a likelier -0.20 per token than his
    English (-0.39): both close languages are decoded, and a decode that loops is not taken."""
    from dubbing.stages import transcribe

    def heard(lang, text, logprob, times=1):
        segments = [Segment(i * 2.0, i * 2.0 + 1.5, text, [Word(i * 2.0, i * 2.0 + 1.5, text)]) for i in range(times)]
        return WindowTranscript(lang, 1.0, segments, {}, logprob)

    class Engine:
        def __init__(self, decodes):
            self.decodes, self.calls = decodes, []

        def transcribe_windows(self, audio, sr, windows, *, language=None, gap=0.5, choose=None, progress=None):
            self.calls.append(language)
            return [self.decodes[language]] * len(windows)

    french = "Je suis de Barcelone et j'adore la ville. Bonne journée, je m'appelle Jordi."
    his = WindowTranscript("fr", 0.20, heard("fr", french, -0.55).segments, {"el": 0.20, "en": 0.18, "bn": 0.09},
                           -0.55)
    greek = heard("el", "Υπάρχει από τον Βαρσελόνα.", -0.20, times=11)
    english = heard("en", "I am from Barcelona and I love the city. Good morning, my name is Jordi.", -0.39)
    windows, seconds = [[Piece(0.0, 12.0)]], [10.0]
    engine = Engine({"el": greek, "en": english})
    (chosen,) = transcribe._decode_choice(Ctx(), engine, None, 16000, windows, seconds, [his])
    assert sorted(engine.calls) == ["el", "en"]  # bn (0.09) is not close to Greek's 0.20
    assert chosen.language == "en" and chosen.segments == english.segments
    # Where the detected language's decode does not loop, the likeliest wins as before.
    engine = Engine({"el": heard("el", "Είμαι από τη Βαρκελώνη και αγαπώ την πόλη.", -0.20), "en": english})
    assert transcribe._decode_choice(Ctx(), engine, None, 16000, windows, seconds, [his])[0].language == "el"
    # Neither likelier by the margin: the window keeps its first decode.
    engine = Engine({"el": greek, "en": heard("en", english.segments[0].text, -0.50)})
    assert transcribe._decode_choice(Ctx(), engine, None, 16000, windows, seconds, [his]) == [his]
    # English far behind Greek (0.14 against 0.27) is still the next likeliest, and decoded too.
    engine = Engine({"el": greek, "en": english})
    far = WindowTranscript("fr", 0.27, his.segments, {"el": 0.27, "en": 0.14, "bn": 0.11}, -0.55)
    assert transcribe._decode_choice(Ctx(), engine, None, 16000, windows, seconds, [far])[0].language == "en"
    assert sorted(engine.calls) == ["el", "en"]
