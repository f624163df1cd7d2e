"""Stage 3: speech to text, each speaker's turns in their own language, with word times.

Each speaker's turns are packed into windows of up to 28 s (one encoder pass each);
the engine detects each window's language from that window's audio and transcribes it
in that language. A window whose language is unsure, and not one heard with confidence
elsewhere in the video, is transcribed in the likeliest confident language instead (a 2 s
French turn once came out as Hebrew): at once, as the languages heard so far show it (in the
first batch, those of the windows detected with it), and by hearing it again where the confident
languages grew since; heard again in its detected language when its longest speech regions,
heard one by one, are sure of it: a speaker's short replies packed with
their pauses can be unsure as a window and sure alone. After the first batch of windows the main
language's pair is checked, so an unsupported pair is refused before the whole file is
transcribed. A speaker heard surely in two languages or more switches language: their
windows are heard again region by region, and transcribed once per language they hold.
Last, a window whose text is surely in another language than its tag, where the audio found
that one likely too, takes it (Whisper writes a French speaker's words under an English prompt),
and so does each sentence of a window on its own (one person's English sentences in a window of
hers heard, not surely, as Spanish).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import lru_cache, partial

from .. import audio, segmentation, textlang, vad
from ..engines import langcodes, registry
from ..engines.base import LOOP_RATIO, Detection, LanguageChoice, Piece, Segment, WindowTranscript, compression_ratio
from ..errors import SilentInputError, UnsupportedPairError
from ..models import stable_hash
from .context import Context

SURE = 0.7  # language probability from which a window's language stands on its own; with under
# VOUCH_SPEECH_S of speech only from SWITCH_SURE, as a region's does: a far-field man's one word
# ("Monkey.", 0.8 s) was German at 0.77 and came out as "und ich", for a German translator. Of 1124
# windows in 206 fresh conversations, one short window was heard rightly in a language not heard
# surely elsewhere, at 0.997 (Chinese); the two short ones heard wrongly at SURE or more, at 0.77 and
# 0.89 (English as French, the main language: this leaves it so).
BATCH = 8


def key(ctx: Context) -> str:
    s = ctx.settings
    return stable_hash("transcribe", ctx.stored_key("diarize"), ctx.engine("stt"), s.stt_model, s.source_language)


def outputs(ctx: Context):
    return [ctx.path("transcript.json")]


def _found(plan, results) -> list[tuple[WindowTranscript, float]]:
    """Each window's transcript with the seconds of audio its pieces hold."""
    return [(w, sum(p.end - p.start for p in pieces)) for (_, pieces), w in zip(plan, results)]


def _heard(found: list[tuple[WindowTranscript, float]]) -> Counter:
    """Seconds of speech per language, a window heard unsurely counting a tenth."""
    sure = Counter()
    for w, seconds in found:
        sure[w.language] += seconds * (1.0 if w.language_probability >= SURE else 0.1)
    return sure


def _spoken(found: list[tuple[WindowTranscript, float]]) -> Counter:
    """Seconds of speech per language the windows are decoded in."""
    out = Counter()
    for w, seconds in found:
        out[w.language] += seconds
    return out


def _main_language(found: list[tuple[WindowTranscript, float]]) -> str:
    return _heard(found).most_common(1)[0][0]


TRANSLATABLE_SHARE = 1 / 3  # below this share of speech with a translator, a dub is refused


def _has_pair(translator: str, source: str, target: str) -> bool:
    try:
        registry.check_pair(translator, source, target)
    except UnsupportedPairError:
        return source == target
    return True


def _check_translatable(translator: str, heard: Counter, target: str, spoken: Counter) -> None:
    """Refuse when the main language has no translator to the target and the languages that have one
    hold under TRANSLATABLE_SHARE of the speech (`spoken`: seconds per language each window is
    decoded in, unsure ones in full): a dub of a few lines is no dub. Otherwise the job goes on and
    the lines no translator takes are flagged (a French and Chinese call under music was heard as
    50.1% Chinese, and refused, with its French half translatable). The main language is the one
    `heard` leads with, where unsure windows count a tenth; the share counts what will be dubbed: a
    Chinese woman's 4.5 s, heard surely, led a 33 s talk whose accented English and French turns
    were all unsure, and it was refused."""
    main = heard.most_common(1)[0][0]
    if main == target:
        return
    try:
        registry.check_pair(translator, main, target)
        return
    except UnsupportedPairError as exc:
        refusal = exc
    if sum(sec for lang, sec in spoken.items() if _has_pair(translator, lang, target)) \
            >= TRANSLATABLE_SHARE * sum(spoken.values()):
        return
    raise UnsupportedPairError(
        f"the speech was detected as {langcodes.name(main)} ({main}) and {refusal.message}. If the video is in "
        "another language, choose it as the spoken language and dub again; otherwise choose a target "
        "language from those pairs") from refusal


def warm(ctx: Context) -> None:
    """Load Whisper while the speakers are found (0.4 s of a one-minute dub otherwise spent waiting)."""
    registry.get_engine("stt", ctx.engine("stt", record=False), ctx.settings.stt_model).warm()


def run(ctx: Context) -> dict:
    s = ctx.settings
    name = ctx.engine("stt")
    engine = registry.get_engine("stt", name, s.stt_model)
    samples, sr = audio.read(ctx.path("audio16k.wav"), mono=True)
    duration = len(samples) / sr
    turns = [tuple(t) for t in ctx.read_json("diarization.json")["turns"]]
    regions = vad.tight_regions(samples, sr)
    plan = segmentation.plan_windows(turns, duration)
    if not plan:
        raise SilentInputError("no speech was found in the audio; nothing to dub")
    language = None if s.source_language in ("", "auto") else s.source_language
    windows = [pieces for _, pieces in plan]
    seconds = [sum(p.end - p.start for p in w) for w in windows]
    results: list[WindowTranscript] = []
    # Languages with a translator to the target (or the target itself): where Whisper cannot place a
    # voice, the likeliest of them among its guesses (`_language_for`).
    dubbable = lru_cache(maxsize=None)(partial(_has_pair, s.translator, target=s.target_language))
    choose = _choice_as_heard(seconds, dubbable) if language is None else None
    vouched: dict[int, str] = {}
    vouch = partial(_vouch, ctx, engine, samples, sr, windows, seconds, regions, set(), dubbable=dubbable)
    for b in range(0, len(windows), BATCH):
        ctx.check_cancel()
        done = len(results)
        results += engine.transcribe_windows(
            samples, sr, windows[b:b + BATCH], language=language, choose=choose,
            progress=lambda f, m="": ctx.progress(min(0.95, (done + f * len(windows[b:b + BATCH])) / len(windows)),
                                                  f"transcribed {done + round(f * len(windows[b:b + BATCH]))}"
                                                  f" of {len(windows)} windows"))
        if b == 0 and language is None:
            # Fail now, not after the whole file, when the main language cannot be translated; with
            # no window sure, an English and French talk was once heard as Greek, all of it.
            results, vouched = vouch(results)
            found = list(zip(results, seconds))
            heard = _heard(found)
            main = heard.most_common(1)[0][0]
            _check_translatable(s.translator, heard, s.target_language, _spoken(found))
            # From now on an unsure window is decoded at once in the language it would be heard
            # again in (3.7 s of 50 at 10 minutes went to hearing such windows twice).
            sure = _sure_languages(found, main)
        if language is None:
            choose = partial(_choose_from, sure, main, seconds[b + BATCH:b + 2 * BATCH], dubbable=dubbable)
    main, redo = language, {}
    if language is None:
        results, again = vouch(results)
        found = list(zip(results, seconds))
        main = _main_language(found)
        redo = {**_unsure(found, main, dubbable), **vouched, **again}
    for lang in sorted(set(redo.values())):
        idx = [i for i, lg in redo.items() if lg == lang]
        ctx.progress(0.96, f"transcribing {len(idx)} unsure window(s) again in '{lang}'")
        for i, again in zip(idx, engine.transcribe_windows(samples, sr, [windows[i] for i in idx], language=lang)):
            prob = results[i].language_probability
            results[i] = WindowTranscript(lang, prob, again.segments, results[i].alternatives, again.logprob)
    if language is None:
        results = _decode_choice(ctx, engine, samples, sr, windows, seconds, results)
        results = _accent_check(ctx, engine, samples, sr, plan, seconds, results)
    plan, results = _retry_missed(ctx, engine, samples, sr, plan, results, regions, language)
    if language is None:
        plan, results = _split_languages(ctx, engine, samples, sr, plan, results, regions)
        retagged = _text_languages(plan, results)
        results = _decode_retagged(ctx, engine, samples, sr, plan, results, retagged)
        results = _speaker_languages(ctx, engine, samples, sr, plan, results)
        plan, results = _sentence_languages(plan, results, regions)
    found = _found(plan, results)
    segments = []
    for (spk, pieces), w in zip(plan, results):
        for seg in w.segments:
            segments.append({"start": seg.start, "end": seg.end, "text": seg.text, "speaker": spk,
                             "language": w.language, "language_probability": round(w.language_probability, 3),
                             "words": [{"start": x.start, "end": x.end, "text": x.text} for x in seg.words]})
    segments.sort(key=lambda g: g["start"])
    if not any(g["text"].strip() for g in segments):
        raise SilentInputError("no speech was recognised in the audio; nothing to dub")
    languages = _spoken(found)
    if language is None:
        # Counted again after the second hearings: the main language and the last check of the pair
        # rest on the same figures as "languages" (a retried window can change which language leads).
        heard = _heard(found)
        main = heard.most_common(1)[0][0]
    ctx.write_json("transcript.json", {
        "engine": name, "model": engine.model, "language": main,
        "language_probability": round(max((w.language_probability for w in results if w.language == main),
                                          default=0.0), 3),
        "languages": {k: round(v, 2) for k, v in languages.most_common()},
        "speech": regions,
        "windows": [{"speaker": spk, "pieces": [[p.start, p.end] for p in pieces], "language": w.language,
                     "language_probability": round(w.language_probability, 3)} for (spk, pieces), w in zip(plan, results)],
        "segments": segments})
    if language is None:
        _check_translatable(s.translator, heard, s.target_language, languages)
    return {"engine": name, "model": engine.model, "language": main,
            "languages": {k: round(v, 1) for k, v in languages.items()}, "windows": len(windows),
            "segments": len(segments)}


SURE_LANGUAGE_S = 5.0  # speech a language is heard surely in before unsure windows may take it, unless
# one window is SWITCH_SURE of it: an accented English speaker's "And I", three regions of 4.1 s, was
# German at p=0.72, and his unsure 24 s window (German 0.42) was then decoded in German, in loops.


def _sure_languages(found: list[tuple[WindowTranscript, float]], main: str | None) -> set[str]:
    """The languages heard surely: in windows of SURE holding SURE_LANGUAGE_S of speech, or in one of
    SWITCH_SURE (a few short Chinese turns are)."""
    speech: Counter = Counter()
    best: dict[str, float] = {}
    for w, seconds in found:
        if w.language_probability >= SURE:
            speech[w.language] += seconds
            best[w.language] = max(best.get(w.language, 0.0), w.language_probability)
    sure = {lang for lang in speech if speech[lang] >= SURE_LANGUAGE_S or best[lang] >= SWITCH_SURE}
    return sure or ({main} if main else set())


def _choice_as_heard(seconds: list[float], dubbable: Callable[[str], bool] = lambda lang: False) -> LanguageChoice:
    """The first batch's choice: each window's language as `_language_for` gives it from the languages
    heard in the windows detected so far, its own batch's included (the engine detects a batch's
    languages before it decodes any). An accented speaker's window, detected Greek at 0.51 beside two
    English windows at 0.96, was decoded in Greek and then again in English: 1.6 s of a 61 s dub.
    Where the first batch's end shows another choice right, the window is heard again (`_unsure`)."""
    heard: list[tuple[WindowTranscript, float]] = []

    def choose(found: list[Detection]) -> list[str]:
        start = len(heard)
        heard.extend((WindowTranscript(lang, p, [], alternatives), sec)
                     for (lang, p, alternatives), sec in zip(found, seconds[start:]))
        main = _main_language(heard)
        sure = _sure_languages(heard, main)
        return _choose_from(sure, main, seconds[start:], found, dubbable)
    return choose


def _choose_from(sure: set[str], main: str, seconds: list[float], found: list[Detection],
                 dubbable: Callable[[str], bool] = lambda lang: False) -> list[str]:
    """Each window's language as `_language_for` gives it (`seconds`: the speech of each, in order)."""
    return [_language_for(*f, sure, main, sec, dubbable) for f, sec in zip(found, seconds)]


def _language_for(detected: str, p: float, alternatives: dict[str, float], sure: set[str], main: str,
                  seconds: float, dubbable: Callable[[str], bool] = lambda lang: False) -> str:
    """The language to transcribe a window of `seconds` of speech in: its own when sure (see SURE) or
    heard surely elsewhere, else the likeliest of those heard surely among the languages its audio
    found likeliest, else the main one; unless the main one cannot be dubbed (not `dubbable`), where a
    window with VOUCH_SPEECH_S of speech takes the likeliest of its languages that can.

    Whisper base cannot place some voices: Jordi Mas's accented English came out as Greek 0.22,
    English 0.19, Spanish 0.12, the French CommonVoice man as Hebrew 0.43, French 0.14. With a
    Chinese woman the only voice heard surely, both were decoded in Chinese, the main language, which
    their audio did not find among its five likeliest, and the talk was refused as Chinese; now they
    are English and French. Where the main language can be dubbed it stays the choice: decoded in
    English, Whisper wrote the French man's own words, and the text check (`_text_languages`) made
    them French; decoded in Spanish, his likeliest language that can be dubbed, they came out as
    Spanish ("La parrole está madame a Nile Huero").
    """
    if p >= (SURE if seconds >= VOUCH_SPEECH_S else SWITCH_SURE) or detected in sure:
        return detected
    ranked = [(q, lang) for lang, q in alternatives.items() if lang in sure]
    if not ranked and seconds >= VOUCH_SPEECH_S and not dubbable(main):
        ranked = [(q, lang) for lang, q in alternatives.items() if dubbable(lang)]
    return max(ranked)[1] if ranked else main


def _detected(w: WindowTranscript) -> str:
    """The language Whisper detected in a window (it may have been decoded in another since)."""
    return max(w.alternatives, key=w.alternatives.get) if w.alternatives else w.language


def _unsure(found: list[tuple[WindowTranscript, float]], main: str,
            dubbable: Callable[[str], bool] = lambda lang: False) -> dict[int, str]:
    """Windows whose detected language is unsure and heard nowhere else with confidence: which language
    instead. A window already decoded in another language than it was detected in is checked against
    its detection too (the languages heard surely may have grown since)."""
    sure = _sure_languages(found, main)
    redo = {}
    for i, (w, seconds) in enumerate(found):
        detected = _detected(w)
        lang = _language_for(detected, w.language_probability, w.alternatives, sure, main, seconds, dubbable)
        if lang != w.language:
            redo[i] = lang
    return redo


REGION_LID_S = 0.5  # regions shorter than this are not heard alone for their language (a switching
# speaker's go with their nearest neighbour's)
VOUCH_REGIONS = 3  # an unsure window's longest speech regions heard on their own
VOUCH_SPEECH_S = 1.5  # and at least this much speech in them: on two 0.55 s regions an accented
# English speaker's "And I" was German at 0.75-0.80


def _vouch(ctx, engine, samples, sr, windows, seconds, regions, checked: set[int],
           results: list[WindowTranscript], dubbable: Callable[[str], bool] = lambda lang: False
           ) -> tuple[list[WindowTranscript], dict[int, str]]:
    """`results` with the windows about to be heard in another language than the one detected in
    them made sure of it when their longest speech regions, heard one by one, are sure of it; and
    those of them already decoded in another language, with the language to hear them again in.

    A window is one speaker's turns packed with pauses, and Whisper's language ID on it can be unsure
    where each turn on its own is not: nine one-word English replies between a French woman's lines
    were detected English at p=0.39-0.56 as a window, and decoded in French (the sure language) they
    came out as "3 3" or nothing. Their three longest regions alone gave English 0.91-0.94 as made,
    with quick replies, under noise and under music; the same regions joined end to end 0.62-0.83.
    Windows rightly heard in another language gave their detected one 0.09-0.26 this way (a French
    turn heard as Spanish or Hebrew, English heard as Greek). Each region is one encoder pass (0.5 s
    when the encoder heard 30 s, 0.07-0.15 s on the 10 s it hears now), so only VOUCH_REGIONS are
    heard, each window once (`checked`), and only for windows about to change language. Less than
    VOUCH_SPEECH_S of speech vouches for nothing.
    """
    results, again = list(results), {}
    found = list(zip(results, seconds))
    redo = _unsure(found, _main_language(found), dubbable)
    for i, w in enumerate(results):
        detected = _detected(w)
        if i in checked or redo.get(i, w.language) == detected:
            continue
        checked.add(i)
        parts = sorted((q for q in _speech_in(windows[i], regions) if q.end - q.start >= REGION_LID_S),
                       key=lambda q: q.start - q.end)[:VOUCH_REGIONS]
        if sum(q.end - q.start for q in parts) < VOUCH_SPEECH_S:
            continue
        ctx.check_cancel()
        prob = _vouched_probability(engine, samples, sr, parts, detected)
        if prob is None:
            break
        if prob >= SURE:
            # Counted as heard surely in `detected` from now on; its words come when heard again in it.
            results[i] = WindowTranscript(detected, prob, w.segments, w.alternatives)
            if w.language != detected:
                again[i] = detected
    return results, again


def _vouched_probability(engine, samples, sr, parts: list[Piece], detected: str) -> float | None:
    """The probability of `detected` over `parts` (longest first), weighted by their length, each heard
    on its own: one encoder pass each, so they are heard one at a time, and the rest are left once
    SURE is out of reach (an accented English speaker's window detected as Greek was after the
    first). None where the engine cannot detect languages."""
    total = left = sum(q.end - q.start for q in parts)
    weighed = 0.0
    for q in parts:
        found = engine.detect_languages(samples, sr, [q])
        if not found:
            return None
        weighed += (q.end - q.start) * found[0][2].get(detected, 0.0)
        left -= q.end - q.start
        if weighed + left < SURE * total:
            break  # even sure of it in all the rest, not sure of it: a lower bound is all that is used
    return weighed / total


DECODE_MARGIN = 0.1  # nats per token by which a window's decode in its detected language must be likelier


def _text(w: WindowTranscript) -> str:
    return " ".join(seg.text for seg in w.segments)


def _has_words(w: WindowTranscript) -> bool:
    return any(seg.words for seg in w.segments)


def _keeps_words(again: WindowTranscript, first: WindowTranscript, pieces: list[Piece]) -> bool:
    """A second decode gives words to every piece of the window the first gave words to (Whisper,
    prompted in another language, can stop early: a second hearing once lost five of six turns)."""
    return all(has or not had for had, has in zip((_has_words(p) for p in per_piece(first, pieces)),
                                                 (_has_words(p) for p in per_piece(again, pieces))))


# A person who says the same words again, turn after turn, makes a window whose every decode repeats
# itself: Jordi Mas's three sentences over a minute beside a French woman compressed by 3.69 decoded in
# French (a translation, "Je m'appelle From Barcelona") and 3.75 in English, his own words, likelier by
# 0.11 per token; the English was taken for a loop. Two languages' texts of one speech compress a few
# percent apart; a loop repeats far more (8.2 against about 2).
LOOP_SLACK = 1.1


def _loops_more(again: WindowTranscript, first: WindowTranscript) -> bool:
    """A decode in another language that repeats itself clearly more than the first one did (LOOP_SLACK)
    and more than Whisper's own limit is a loop, however likely its tokens: the Greek decode of an
    accented English speaker was one sentence eleven times (ratio 8.2), at -0.20 per token against his
    English -0.39."""
    return compression_ratio(_text(again)) > max(LOOP_RATIO, LOOP_SLACK * compression_ratio(_text(first)))


def _holds_up(again: WindowTranscript, first: WindowTranscript, pieces: list[Piece]) -> bool:
    """A second decode that may replace the first: it keeps every piece's words and loops no more."""
    return _keeps_words(again, first, pieces) and not _loops_more(again, first)


def _decode_choice(ctx, engine, samples, sr, windows, seconds, results: list[WindowTranscript]) -> list[WindowTranscript]:
    """Unsure windows decoded in a language not among the five their audio found likeliest (the main
    one, where no language heard surely was among them), whose text is in the language they were decoded
    in, decoded in the detected language too, and in those its audio found nearly as likely
    (`_close_languages`): the likeliest decode wins where Whisper finds its own text there likelier
    by DECODE_MARGIN per token, unless it loops.

    An unsure window goes to a language heard surely in the video, or to the main one: right for a
    turn Whisper cannot place (a 2 s French turn detected as Hebrew), but an accented speaker of
    another language than the rest is then translated. Under music, Jordi Mas between two French
    women was detected English at 0.28, decoded in French, and came out as "et j'adore cette
    situation" (-0.59 per token, his English -0.31). Where Whisper kept the speaker's words under the
    prompt (the French CommonVoice man in English: his French text), the text check
    (`_text_languages`) is the judge, and no second decode is made: his window detected as Hebrew,
    decoded in Hebrew, came out as a transliteration Whisper finds likelier (-0.24) than his French.
    Windows with under VOUCH_SPEECH_S of speech, or whose text is too short to weigh, stay as they are;
    so do those decoded in a language their audio found likely too: an accented English AMI speaker,
    detected German at 0.42 and English at 0.24, came out in German likelier (-0.29) than in English
    (-0.39), his words translated ("Ich bin die Marketinggext").
    """
    todo = [i for i, (w, sec) in enumerate(zip(results, seconds))
            if w.language_probability < SURE and w.logprob is not None and sec >= VOUCH_SPEECH_S
            and w.alternatives and w.language not in w.alternatives]
    if not todo or not textlang.available():
        return results
    texts = [_text(results[i]) for i in todo]
    codes = [{results[i].language, *(lang for lang, p in results[i].alternatives.items() if p >= TEXT_ALTERNATIVE)}
             for i in todo]
    by_language: dict[str, list[int]] = {}
    for i, text, conf in zip(todo, texts, textlang.confidences(texts, codes)):
        if conf and textlang.long_enough(text) and textlang.retag(text, results[i].language, conf) is None:
            for lang in _close_languages(results[i]):
                by_language.setdefault(lang, []).append(i)
    best: dict[int, WindowTranscript] = {}
    for lang, idx in sorted(by_language.items()):
        ctx.check_cancel()
        ctx.progress(0.96, f"decoding {len(idx)} unsure window(s) in '{lang}' too")
        for i, w in zip(idx, engine.transcribe_windows(samples, sr, [windows[i] for i in idx], language=lang)):
            old = results[i]
            likelier = w.logprob is not None and w.logprob >= old.logprob + DECODE_MARGIN
            if likelier and _has_words(w) and (i not in best or w.logprob > best[i].logprob) \
                    and not _loops_more(w, old):
                best[i] = WindowTranscript(lang, old.alternatives.get(lang, 0.0), w.segments, old.alternatives,
                                           w.logprob)
    return [best.get(i, w) for i, w in enumerate(results)]


ACCENT_BELOW = 0.9  # a window heard in a language less surely than this is checked for an accent
ACCENT_FLUENT = 0.9  # lingua's confidence that its decode in another language is in that language
ACCENT_MARGIN = 0.07  # nats per token that decode may be less likely and still be taken


def _accent_check(ctx, engine, samples, sr, plan, seconds, results: list[WindowTranscript]) -> list[WindowTranscript]:
    """Windows heard in a language at under ACCENT_BELOW that no other speaker is heard in surely, where
    another language is heard surely in the video, decoded in that one too (the likeliest of them for
    the window's audio); where that text is fluently in it (ACCENT_FLUENT) and Whisper finds it about as
    likely per token (ACCENT_MARGIN), does not loop and leaves no words out, the window is in that
    language: an accent, not a switch.
    So is a window whose every segment looped in its own language (none is left to weigh).

    Whisper base hears Jordi Mas's Catalan-accented English as Greek: his windows at 0.3-0.8, and
    his three longest regions vouched for Greek at 0.71 (one of them Greek at 0.97). Decoded in Greek
    he says "Είμαι ο Ιορδημάς" (a translation) or a transliteration, and the line went to a Greek
    translator; decoded in English, "Good morning, my name is Jordi Mas", at -0.06 to +0.25 nats per
    token against the Greek on 14 of his windows. Speakers of another language keep theirs: decoded
    in English, the windows of theirs heard under 0.9 came out in their own words (a French man's
    "La parole est à madame..."; lingua's English confidence 0.0-0.3) or as a translation that
    Whisper finds 0.27-0.34 per token less likely than their own words (a Spanish actress at
    0.43-0.57); at 0.96 or more, where this check does not look, a Spanish voice's English
    translation was likelier than its Spanish (+0.09). On 465 windows of 180 conversations. A language
    another speaker is heard in surely is no accent: a muffled English voice heard as English at 0.38
    beside a sure English talker and a Spanish one, decoded in Spanish, became a fluent translation
    ("Hola, este es Cristóf"). Nor is a language the same speaker is heard in at ACCENT_BELOW or more in
    another window: an American actress's Spanish prompts, Spanish at 0.96-0.97 in two windows and at
    0.87 in a third, decoded in English there, became its fluent translation ("...to record this
    conference, or eight to get out of this menu"), 0.07 per token less likely.
    """
    if not textlang.available():
        return results
    sure = _sure_languages(list(zip(results, seconds)), None)
    heard = heard_surely(plan, results)
    settled = heard_surely(plan, results, at=ACCENT_BELOW)
    windows = [pieces for _, pieces in plan]
    todo: dict[str, list[int]] = {}
    for i, ((spk, _), w, sec) in enumerate(zip(plan, results, seconds)):
        others = [lang for lang in sure if lang != w.language]
        alone = not any(w.language in langs for other, langs in heard.items() if other != spk)
        own = w.language in settled.get(spk, set())  # heard in it this surely in another window: no accent
        if others and alone and not own and w.language_probability < ACCENT_BELOW and sec >= VOUCH_SPEECH_S:
            todo.setdefault(max(others, key=lambda lang: w.alternatives.get(lang, 0.0)), []).append(i)
    out = list(results)
    for lang, idx in sorted(todo.items()):
        ctx.check_cancel()
        ctx.progress(0.96, f"checking {len(idx)} window(s) for an accent: decoding in '{lang}' too")
        decoded = engine.transcribe_windows(samples, sr, [windows[i] for i in idx], language=lang)
        texts = [_text(w) for w in decoded]
        codes = [{lang, results[i].language, *(q for q, p in results[i].alternatives.items() if p >= TEXT_ALTERNATIVE)}
                 for i in idx]
        for i, w, text, conf in zip(idx, decoded, texts, textlang.confidences(texts, codes)):
            old = results[i]
            # A window whose every segment looped in its own language has no words and no likelihood.
            likely = w.logprob is not None and (old.logprob is None or w.logprob >= old.logprob - ACCENT_MARGIN)
            if textlang.long_enough(text) and conf.get(lang, 0.0) >= ACCENT_FLUENT and likely \
                    and _holds_up(w, old, windows[i]):
                out[i] = WindowTranscript(lang, old.alternatives.get(lang, 0.0), w.segments, old.alternatives, w.logprob)
    return out


CLOSE_ALTERNATIVE = 0.7  # a language the audio found this much as likely as the detected one is decoded too


def _close_languages(w: WindowTranscript) -> list[str]:
    """The detected language of an unsure window, the next likeliest, and any other its audio found nearly
    as likely: an accented English speaker among French women, detected Greek at 0.20 and English at
    0.18, decoded in French came out as a French translation of his words, and decoded in Greek as one
    Greek sentence eleven times, likelier than the French (a loop, not taken). The next likeliest is
    decoded however far behind: with his turn's last 0.1 s in his window he was Greek at 0.27 and English
    at 0.14, and only the French translation and the Greek loop were weighed."""
    detected = _detected(w)
    top = w.alternatives.get(detected, 0.0)
    others = sorted((lang for lang in w.alternatives if lang not in (detected, w.language)),
                    key=w.alternatives.get, reverse=True)
    return [detected] + [lang for n, lang in enumerate(others)
                         if n == 0 or w.alternatives[lang] >= CLOSE_ALTERNATIVE * top]


def _speech_in(pieces: list[Piece], regions: list[tuple[float, float]]) -> list[Piece]:
    """The detected speech regions inside a window's pieces."""
    return [Piece(round(max(a, p.start), 3), round(min(b, p.end), 3)) for p in pieces for a, b in regions
            if min(b, p.end) - max(a, p.start) > 0.05]


SWITCH_SURE = 0.95  # a region takes a language its speaker was not heard in elsewhere only this sure


TEXT_ALTERNATIVE = 0.05  # a language the audio found this likely is weighed against the text


def _text_languages(plan, results) -> list[WindowTranscript]:
    """Windows tagged with the language their text is surely in, where the audio was torn.

    Whisper may write a language's words under another's prompt: a French speaker heard as
    Spanish or Hebrew at 0.3-0.5 was decoded under the English prompt (the language heard surely)
    and got his French words tagged English; some of his turns heard alone were even English at
    0.78. Those lines went to the English translator. Lingua weighs each window's text against the
    languages its audio found at least TEXT_ALTERNATIVE likely and those heard surely in the file;
    a window whose text is surely in another is tagged with it. Its words stay here: they are
    often in that language already; `_decode_retagged` hears it again in it and keeps the better.
    A video heard surely in one language checks nothing.

    Then the languages a speaker's windows were given are weighed for their other windows too: the
    same man's missed turns, heard alone at English 0.37-0.43 with French under 5%, kept their French
    words tagged English where his first window had become French.
    """
    if not textlang.available():
        return results
    sure = _sure_languages(_found(plan, results), None)
    results = _retag_by_text(list(results), sure, {i: frozenset() for i in range(len(results))})
    own: dict[str, frozenset[str]] = {}
    for (spk, _), w in zip(plan, results):
        own[spk] = own.get(spk, frozenset()) | {w.language}
    # A second look for the windows of a speaker whose other windows are in another language.
    again = {i: own[spk] for i, ((spk, _), w) in enumerate(zip(plan, results)) if own[spk] - {w.language}}
    return _retag_by_text(results, sure, again) if again else results


def _decode_retagged(ctx, engine, samples, sr, plan, decoded: list[WindowTranscript],
                     retagged: list[WindowTranscript]) -> list[WindowTranscript]:
    """Windows the text check tagged with another language than they were decoded in, decoded again
    in it: kept where Whisper finds that decode likelier per token, it gives every piece that had
    words some again, and it does not loop; otherwise the first decode's words stay, newly tagged.

    Whisper under another language's prompt may write the speaker's own words (the French man of
    `_text_languages`) or a half-translation: Jordi Mas, detected Greek at 0.37 among French women,
    decoded in French, said "Je m'appelle From Barcelona et je l'ai Love the City", English by its
    text, and went to the English translator as that. Decoded in English, he says "My name is
    Jordi Mas. I am from Barcelona. And I love this city." The guards keep what made the words stay:
    a second hearing once lost five of six turns, Whisper stopping early.
    """
    todo: dict[str, list[int]] = {}
    for i, (before, after) in enumerate(zip(decoded, retagged)):
        if after.language != before.language and before.logprob is not None:
            todo.setdefault(after.language, []).append(i)
    out = list(retagged)
    for lang, idx in sorted(todo.items()):
        ctx.check_cancel()
        ctx.progress(0.97, f"transcribing {len(idx)} window(s) again in '{lang}', the language of their text")
        for i, w in zip(idx, engine.transcribe_windows(samples, sr, [plan[i][1] for i in idx], language=lang)):
            before = decoded[i]
            if w.logprob is not None and w.logprob >= before.logprob and _holds_up(w, before, plan[i][1]):
                out[i] = WindowTranscript(lang, retagged[i].language_probability, w.segments, before.alternatives,
                                          w.logprob)
    return out


def _speaker_languages(ctx, engine, samples, sr, plan, results: list[WindowTranscript]) -> list[WindowTranscript]:
    """Windows heard unsurely (under SURE) in one of the languages their speaker is heard in, decoded in
    the speaker's other languages too: the decode Whisper finds likeliest per token wins, under the
    guards of `_decode_retagged` (`_holds_up`), unless its text is surely still in the window's language.
    Between close languages (`langcodes.siblings`) the speaker decides, not the window
    (`_close_choices`): a window heard surely is decoded again in its speaker's languages close to
    its own, and all the speaker's windows in those go to the one likeliest over all of them.

    A missed turn heard again alone is detected on its own, and a voice Whisper cannot place goes to
    the language likeliest among those heard surely: the French CommonVoice man's window was French,
    and his missed turn, detected as Hebrew with English likelier than French, was decoded in English
    as a translation ("The word is in Adam, in the name of the Lord.") and went to the English
    translator. Whisper finds its own words likelier than a translation of them, so the turn decoded
    in French too is taken in French. It works both ways: where the speaker's first window was the
    one decoded in the wrong language, the turns heard right bring theirs to it. A missed stretch
    heard with others has no likelihood of its own, so it is decoded in its own language again too.
    """
    spoken: dict[str, set[str]] = {}
    for (spk, _), w in zip(plan, results):
        if _has_words(w):
            spoken.setdefault(spk, set()).add(w.language)
    todo: dict[str, list[int]] = {}
    for i, ((spk, _), w) in enumerate(zip(plan, results)):
        others = spoken.get(spk, set()) - {w.language}
        if w.language_probability >= SURE:
            # Sure of a language, Whisper can still be wrong between close ones (`langcodes.siblings`).
            others &= langcodes.siblings(w.language)
        if others and _has_words(w):
            for lang in others | ({w.language} if w.logprob is None else set()):
                todo.setdefault(lang, []).append(i)
    decoded: dict[tuple[int, str], WindowTranscript] = {}
    for lang, idx in sorted(todo.items()):
        ctx.check_cancel()
        ctx.progress(0.97, f"decoding {len(idx)} window(s) in '{lang}', a language of their speaker")
        decoded.update(((i, lang), w) for i, w in
                       zip(idx, engine.transcribe_windows(samples, sr, [plan[i][1] for i in idx], language=lang)))
    # Close languages are left to the speaker's choice below.
    candidates = [(i, lang, w) for (i, lang), w in decoded.items()
                  if lang != results[i].language and lang not in langcodes.siblings(results[i].language)]
    texts = [_text(w) for _, _, w in candidates]
    confs = textlang.confidences(texts, [{lang, results[i].language} for i, lang, _ in candidates]) \
        if candidates and textlang.available() else [{} for _ in candidates]
    out = list(results)
    best: dict[int, float] = {}
    for (i, lang, w), text, conf in zip(candidates, texts, confs):
        old = results[i]
        own = decoded.get((i, old.language), old).logprob
        # Whisper may keep the speaker's words under the other prompt ("A gente desconectado" in
        # Italian, likelier than in Spanish): a text surely in the window's language stays there.
        kept_words = textlang.retag(text, lang, conf, frozenset({old.language})) == old.language
        # Against the likeliest decode so far: the window's own, or another of its speaker's languages.
        if w.logprob is not None and own is not None and w.logprob > best.get(i, own) and not kept_words \
                and _holds_up(w, old, plan[i][1]):
            best[i] = w.logprob
            out[i] = WindowTranscript(lang, old.alternatives.get(lang, 0.0), w.segments, old.alternatives, w.logprob)
    chosen = _close_choices(plan, results, decoded, spoken)
    for i, w in enumerate(results):
        lang = chosen.get((plan[i][0], w.language), w.language)
        again = decoded.get((i, lang))
        if out[i] is w and lang != w.language and again is not None and _holds_up(again, w, plan[i][1]):
            # The audio's sureness stands for the language chosen (Czech was 0.03 where Polish was
            # 0.96): a window made unsure would count a tenth towards the main language.
            out[i] = WindowTranscript(lang, max(w.alternatives.get(lang, 0.0), w.language_probability),
                                      again.segments, w.alternatives, again.logprob)
    return out


def _close_choices(plan, results: list[WindowTranscript], decoded: dict,
                   spoken: dict[str, set[str]]) -> dict[tuple[str, str], str]:
    """(speaker, language): the speaker's close language (`langcodes.siblings`) their windows in any of
    those are likeliest in per token, over all those windows (weighed by speech). Only for speakers
    heard in two or more close languages.

    Window by window, the likelier of two close decodes is a coin toss. Of the 22-37 windows of each
    of six voices heard in its language or a close one (recordings no conversation of ours uses),
    Whisper base found a Russian woman's likelier in Belarusian in 16, a Colombian Spanish voice's in
    Galician in 5, the Czech and Dutch actors' in Polish (2-6), Slovak (2-3) or Afrikaans (6). Over all
    of a voice's windows its own language was the likeliest for each of the six (Russian -0.280 per
    token against Belarusian -0.287).
    """
    chosen: dict[tuple[str, str], str] = {}
    for speaker, heard_in in spoken.items():
        for group in langcodes.SIBLINGS:
            langs = heard_in & group
            if len(langs) < 2:
                continue
            total, weight = dict.fromkeys(langs, 0.0), 0.0
            for i, (spk, pieces) in enumerate(plan):
                own = results[i]
                if spk != speaker or own.language not in langs:
                    continue
                heard = {lang: decoded.get((i, lang), own if own.language == lang else None) for lang in langs}
                if all(w is not None and w.logprob is not None for w in heard.values()):
                    seconds = sum(p.end - p.start for p in pieces)
                    weight += seconds
                    for lang, w in heard.items():
                        total[lang] += w.logprob * seconds
            if weight:
                best = max(sorted(total), key=total.get)
                chosen.update(((speaker, lang), best) for lang in langs)
    return chosen


def _retag_by_text(results: list[WindowTranscript], sure: set[str],
                   windows: dict[int, frozenset[str]]) -> list[WindowTranscript]:
    """`windows` (index: the speaker's own languages, weighed too) tagged by lingua where their text
    is surely in another candidate language (`_text_languages`); `results` changed in place."""
    todo, texts, candidates = [], [], []
    for i, own in windows.items():
        w = results[i]
        text = _text(w)
        codes = {w.language, *sure, *own, *(lang for lang, p in w.alternatives.items() if p >= TEXT_ALTERNATIVE)}
        if len(codes) > 1 and textlang.long_enough(text):
            todo.append(i)
            texts.append(text)
            candidates.append(codes)
    for i, text, conf in zip(todo, texts, textlang.confidences(texts, candidates) if todo else []):
        w = results[i]
        lang = textlang.retag(text, w.language, conf, windows[i])
        if lang:
            results[i] = WindowTranscript(lang, w.alternatives.get(lang, 0.0), w.segments, w.alternatives)
    return results


def _sentence_languages(plan, results, regions):
    """Sentences of a window whose text is surely in another language move to a window of their own,
    tagged with it.

    One person who switches language can have a window heard as one language at under SURE (Spanish
    0.66 for an actress's Spanish and English prompts), so she is not heard region by region
    (`_split_languages`), and her text is in two languages, so the window's text is surely in
    neither. Whisper still wrote her English sentences in English: "Your temporary greeting is
    currently active." was tagged Spanish. Each sentence (`_sentences`) is weighed on its own, at
    TEXT_MARGIN, against the languages heard surely in the video.
    """
    if not textlang.available():
        return plan, results
    sure = _sure_languages(_found(plan, results), None)
    split, todo, texts, candidates = {}, [], [], []
    for i, w in enumerate(results):
        # Only languages heard surely: with those the audio found likely too, Jordi Mas's "I am from
        # Barcelona" (Spanish 0.06 in his window) went to Spanish.
        codes = {w.language, *sure}
        if len(codes) < 2:
            continue
        split[i] = [part for seg in w.segments for part in _sentences(seg, regions)]
        if len(split[i]) < 2:
            continue
        for k, part in enumerate(split[i]):
            if textlang.long_enough(part.text):
                todo.append((i, k))
                texts.append(part.text)
                candidates.append(codes)
    moved: dict[int, dict[int, str]] = {}
    for (i, k), text, conf in zip(todo, texts, textlang.confidences(texts, candidates) if todo else []):
        if lang := textlang.retag(text, results[i].language, conf):
            moved.setdefault(i, {})[k] = lang
    plan, results = list(plan), list(results)
    for i, langs in moved.items():
        (spk, pieces), w, parts = plan[i], results[i], split[i]
        for lang in sorted(set(langs.values())):
            segs = [part for k, part in enumerate(parts) if langs.get(k) == lang]
            plan.append((spk, [Piece(seg.start, seg.end) for seg in segs]))
            results.append(WindowTranscript(lang, w.alternatives.get(lang, 0.0), segs, w.alternatives))
        plan[i] = (spk, _without(pieces, [(part.start, part.end) for k, part in enumerate(parts) if k in langs]))
        results[i] = WindowTranscript(w.language, w.language_probability,
                                      [part for k, part in enumerate(parts) if k not in langs], w.alternatives)
    return plan, results


def _sentences(seg: Segment, regions: list[tuple[float, float]]) -> list[Segment]:
    """`seg` cut where its words lie in speech regions a pause (PAUSE_SPLIT_S) apart: Whisper wrote
    one person's English turn and her Spanish one, a second apart, as one segment. Only where both
    words lie in a region: Whisper's own word times, not yet fitted to the speech, often stray into
    a pause."""
    runs = [seg.words[:1]] if seg.words else []
    for a, b in zip(seg.words, seg.words[1:]):
        ra, rb = segmentation.region_index(a, regions), segmentation.region_index(b, regions)
        if ra is not None and rb is not None and regions[rb][0] - regions[ra][1] >= segmentation.PAUSE_SPLIT_S:
            runs.append([b])
        else:
            runs[-1].append(b)
    if len(runs) < 2:
        return [seg]
    return [Segment(run[0].start, run[-1].end, "".join(w.text for w in run), run) for run in runs]


def _without(pieces: list[Piece], spans: list[tuple[float, float]]) -> list[Piece]:
    """`pieces` less `spans`."""
    out = []
    for p in pieces:
        parts = [(p.start, p.end)]
        for a, b in spans:
            parts = [q for s, e in parts for q in ((s, min(e, a)), (max(s, b), e)) if q[1] > q[0]]
        out += [Piece(s, e) for s, e in parts]
    return out


def heard_surely(plan, results, at: float = SURE) -> dict[str, set[str]]:
    """Per speaker, the languages of their windows heard at `at` or more."""
    heard: dict[str, set[str]] = {}
    for (spk, _), w in zip(plan, results):
        if w.language_probability >= at:
            heard.setdefault(spk, set()).add(w.language)
    return heard


def switching_speakers(plan, results) -> dict[str, set[str]]:
    """Speakers heard surely in more than one language, with those languages."""
    return {spk: langs for spk, langs in heard_surely(plan, results).items() if len(langs) > 1}


def _split_languages(ctx, engine, samples, sr, plan, results, regions):
    """Language per speech region for a person who switches language.

    A window holds one speaker's turns and gets one language. A speaker whose windows are
    surely in two languages or more switches language, so each of their windows is heard
    again region by region, and one that holds several languages is transcribed again, once
    per language. Only such speakers: detecting the language of every region cost 50 s on a
    10-minute English conversation (a 30 s encoder pass per region) and heard an accented
    speaker as German (p=0.94). A region takes another of its speaker's languages when that
    is detected surely, a language the speaker was not heard in only at SWITCH_SURE.
    """
    switching = switching_speakers(plan, results)
    plan, results = list(plan), list(results)
    for i in range(len(plan)):
        spk, pieces = plan[i]
        if spk not in switching:
            continue
        w = results[i]
        # Stretches that a later window of their own transcribed again (Whisper skipped them here) stay out.
        own = [q for s2, ps in plan[i + 1:] if s2 == spk for q in ps]
        parts = [q for q in _speech_in(pieces, regions)
                 if not any(min(q.end, o.end) - max(q.start, o.start) > 0.5 * (q.end - q.start) for o in own)]
        heard = [k for k, part in enumerate(parts) if part.end - part.start >= REGION_LID_S]
        if len(heard) < 2:
            continue
        ctx.check_cancel()
        found = engine.detect_languages(samples, sr, [parts[k] for k in heard])
        if not found:
            return plan, results  # the engine cannot tell languages apart piece by piece
        detected = {k: _region_language(heard_as, switching[spk], (w.language, w.language_probability))
                    for k, heard_as in zip(heard, found)}
        if len({lang for lang, _ in detected.values()}) < 2:
            continue
        langs = [detected[k][0] if k in detected else detected[min(detected, key=lambda j: abs(j - k))][0]
                 for k in range(len(parts))]
        ctx.progress(0.96, f"{spk} speaks {', '.join(sorted(set(langs)))} in one window: transcribing each on its own")
        groups: dict[str, list[Piece]] = {}
        for part, lang in zip(parts, langs):
            groups.setdefault(lang, []).append(part)
        for n, lang in enumerate(sorted(groups)):
            again = engine.transcribe_windows(samples, sr, [groups[lang]], language=lang)[0]
            prob = max((p for lg, p in detected.values() if lg == lang), default=w.language_probability)
            entry = ((spk, groups[lang]), WindowTranscript(lang, prob, again.segments))
            if n == 0:
                plan[i], results[i] = entry
            else:
                plan.append(entry[0])
                results.append(entry[1])
    return plan, results


def _region_language(heard_as: tuple[str, float, dict[str, float]], own: set[str],
                     otherwise: tuple[str, float]) -> tuple[str, float]:
    """A region's language: as detected when sure enough, else the likeliest of its speaker's own."""
    lang, prob, alternatives = heard_as
    if prob >= SWITCH_SURE or (prob >= SURE and lang in own):
        return lang, prob
    ranked = [(p, lg) for lg, p in alternatives.items() if lg in own]
    return (max(ranked)[1], max(ranked)[0]) if ranked else otherwise


MISSED_SPEECH_S = 0.5  # a one-word reply is 0.6-0.8 s (Whisper skipped a 0.72 s "one" that began a window)
HEARD_MARGIN_S = 0.25  # speech this close to a recognised word counts as heard


def unheard(regions: list[tuple[float, float]], words: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Stretches of detected speech, at least MISSED_SPEECH_S long, that no recognised word comes near."""
    words = sorted(words)
    out = []
    for r0, r1 in regions:
        t = r0
        for w0, w1 in words:
            if w1 + HEARD_MARGIN_S < t or w0 - HEARD_MARGIN_S > r1:
                continue
            if w0 - HEARD_MARGIN_S - t >= MISSED_SPEECH_S:
                out.append((t, w0 - HEARD_MARGIN_S))
            t = max(t, w1 + HEARD_MARGIN_S)
        if r1 - t >= MISSED_SPEECH_S:
            out.append((t, r1))
    return out


def _retry_missed(ctx, engine, samples, sr, plan, results, regions, language):
    """Whisper sometimes stops before the end of a packed window: each stretch of detected speech that
    got no word is transcribed again on its own. Unless the source language is given, its language is
    detected and taken as a region's is (`_region_language`), the languages heard surely in the file
    and its window's counting as the speaker's own. Whisper skips speech in another language than
    the one it decodes (French turns in a window heard surely as English), and a short stretch alone
    is not to be trusted far: an accented English speaker's missed 0.5-1 s "And I" was German at
    p=0.8, and had made a German line. Regions of a stretch still unheard after that are heard one by one."""
    heard = _word_times(results)
    missed: list[tuple[str, Piece, WindowTranscript]] = []
    for r0, r1 in unheard(regions, heard):
        for (spk, pieces), w in zip(plan, results):
            if any(p.start <= (r0 + r1) / 2 <= p.end for p in pieces):
                piece = Piece(round(max(0.0, r0 - 0.1), 3), round(r1 + 0.1, 3))
                if missed and missed[-1][0] == spk and piece.start - missed[-1][1].end < 1.0 \
                        and piece.end - missed[-1][1].start < segmentation.WINDOW_S:
                    piece = Piece(missed[-1][1].start, piece.end)
                    missed[-1] = (spk, piece, w)
                else:
                    missed.append((spk, piece, w))
                break
    if not missed:
        return plan, results
    ctx.progress(0.97, f"transcribing {len(missed)} missed stretch(es) of speech on their own")
    plan, results = list(plan), list(results)
    by_language: dict[str, list[tuple[str, Piece]]] = {}  # by the language of their window
    for spk, piece, w in missed:
        by_language.setdefault(w.language, []).append((spk, piece))
    # Short stretches are heard a few to a window, with a long pause between (one window each cost a
    # 30 s encoder pass: 23 s for 31 stretches of a 10-minute conversation, against 6 s four to a
    # window, which heard 29 of them). With the usual short pause Whisper skipped most of them
    # again. One that got no word is heard again alone: eight to a window skip more than four, yet
    # cost fewer windows in all (see RETRY_GROUP). Long ones are heard alone (RETRY_ALONE_S).
    sure = _sure_languages(_found(plan, results), None)

    def keep(items: list[tuple[str, Piece]], heard: list[WindowTranscript]) -> None:
        """Stretches heard alone that got words join the plan, but not one of several regions whose text
        says the same again and again: the Chinese woman's phrase said 13 times, a 17 s stretch heard
        alone, came out as the phrase 13 times with word times drifting a second from hers. Its regions
        are heard apart below."""
        for (spk, piece), w in zip(items, heard):
            if _has_words(w) and not (compression_ratio(_text(w)) > LOOP_RATIO
                                      and len(_speech_in([piece], regions)) >= 2):
                plan.append((spk, [piece]))
                results.append(w)

    for own, items in by_language.items():
        ctx.check_cancel()
        choose = None if language else (
            lambda found, own=own: [_region_language(f, sure | {own}, (own, 0.0))[0] for f in found])
        groups = _retry_groups([(spk, p) for spk, p in items if p.end - p.start < RETRY_ALONE_S])
        alone = [(spk, p) for spk, p in items if p.end - p.start >= RETRY_ALONE_S] + \
            [g[0] for g in groups if len(g) == 1]
        groups = [g for g in groups if len(g) > 1]
        heard_together = engine.transcribe_windows(samples, sr, [[p for _, p in g] for g in groups],
                                                   language=language, gap=RETRY_GAP_S, choose=choose) if groups else []
        for group, w in zip(groups, heard_together):
            if choose and _detected(w) != w.language and w.language_probability >= SURE:
                # Likely another language, not surely: stretches heard together may mix languages
                # (French, Chinese and English ones as French at 0.81), so each is heard alone.
                alone += group
                continue
            parts = per_piece(w, [p for _, p in group])
            copied = _copied(parts)
            for (spk, piece), part, copy in zip(group, parts, copied):
                if _has_words(part) and not copy:
                    plan.append((spk, [piece]))
                    results.append(part)
                else:
                    alone.append((spk, piece))
        if alone:
            ctx.check_cancel()
            keep(alone, engine.transcribe_windows(samples, sr, [[piece] for _, piece in alone], language=language,
                                                  choose=choose))
        # A stretch with regions still unheard after that was most often one loop: a talker who says
        # the same sentences again and again came out as one 28 s segment of them (compression ratio 6)
        # that `looped` drops, or as a few words and then the loop. Each region heard alone has
        # nothing to repeat.
        heard = _word_times(results)
        apart = [(spk, p) for spk, piece in items for p in _regions_apart(piece, regions, heard)]
        if apart:
            ctx.check_cancel()
            keep(apart, engine.transcribe_windows(samples, sr, [[piece] for _, piece in apart], language=language,
                                                  choose=choose))
    return plan, results


def _word_times(results: list[WindowTranscript]) -> list[tuple[float, float]]:
    return [(x.start, x.end) for w in results for seg in w.segments for x in seg.words]


def _regions_apart(piece: Piece, regions: list[tuple[float, float]], heard: list[tuple[float, float]]) -> list[Piece]:
    """The detected regions of a missed stretch that no word is near yet, each with a little margin,
    where there are two or more."""
    inside = unheard([(p.start, p.end) for p in _speech_in([piece], regions)], heard)
    if len(inside) < 2:
        return []
    return [Piece(round(max(piece.start, a - 0.1), 3), round(min(piece.end, b + 0.1), 3)) for a, b in inside]


# Missed stretches heard together in one window. Over the 40 fresh conversations and the 10-minute
# benchmark (182 stretches that got words), 8 to a window took 84 s against 98 s with 4 and 131 s
# each alone (15.0 -> 10.1 s at 10 minutes), and got words for the same stretches; their words
# differ from those heard alone as much with 8 as with 4 (WER 0.27 against 0.27; 6 with 1.5 s
# gaps: 0.23 but 112 s, its longer windows looping more often).
RETRY_GROUP = 8
RETRY_GAP_S = 1.0  # the silence between them
# Stretches this long or longer are heard alone, four to a batch, not together. Since the encoder
# hears only a batch's longest clip (10 s at least), alone costs less than together, and a long
# stretch needs no neighbours to be heard whole. Heard together, a talker who says the same sentence
# again and again looped, and the loop was dropped: 5.7 s of decoding for no word, before the same
# stretches were heard alone (f20124). On 58 fresh conversations the retries took 95.5 -> 44.3 s,
# with the same counts, mixed lines, tags and coverage (one conversation's DER 0.002 -> 0.009), on 46
# digit repliers 127.9 -> 88.9 s (DER summed 0.731 -> 0.753); all of them alone, 46.3 s on the fresh
# ones, but short stretches alone lose words their neighbours gave them.
RETRY_ALONE_S = 2.0


COPIED_WORDS = 3  # stretches heard together that get the same text of this many words or more are heard alone
COPIED_CHARACTERS = 4  # ... or of this many characters in a language written without spaces (Chinese, Japanese)


def _copied(parts: list[WindowTranscript]) -> list[bool]:
    """Which stretches of one retry window got the same text as another one of them.

    Whisper writes a phrase again over the next stretch it cannot read: a French man's missed turn,
    heard with other missed stretches in English, got the sentence another speaker said in the
    stretch before ("On the bottom right, you can see the time.", twice). Such stretches are heard
    again alone. Said twice, a one- or two-word reply ("Yes.", "Thank you.", "好的") is no sign of that.
    """
    def words(part: WindowTranscript) -> str:
        return " ".join("".join(ch for ch in seg.text.lower() if ch.isalnum() or ch.isspace())
                        for seg in part.segments).strip()

    def long(text: str, language: str) -> bool:
        if language in langcodes.NO_SPACE_SCRIPTS:
            return sum(ch.isalnum() for ch in text) >= COPIED_CHARACTERS
        return len(text.split()) >= COPIED_WORDS

    texts = [words(p) for p in parts]
    return [long(t, p.language) and texts.count(t) > 1 for t, p in zip(texts, parts)]


def _retry_groups(items: list[tuple[str, Piece]]) -> list[list[tuple[str, Piece]]]:
    """Consecutive missed stretches, up to RETRY_GROUP to a window that Whisper hears whole."""
    groups: list[list[tuple[str, Piece]]] = []
    for spk, piece in items:
        last = groups[-1] if groups else None
        if last and len(last) < RETRY_GROUP and sum(p.end - p.start + RETRY_GAP_S for _, p in last) \
                + piece.end - piece.start <= segmentation.WINDOW_S:
            last.append((spk, piece))
        else:
            groups.append([(spk, piece)])
    return groups


def per_piece(w: WindowTranscript, pieces: list[Piece]) -> list[WindowTranscript]:
    """One window's transcript cut into one per piece: each word goes with the piece that holds it
    (or the nearest), and a segment whose words fall in two pieces becomes one in each."""
    def nearest(t: float) -> int:
        return min(range(len(pieces)), key=lambda k: max(pieces[k].start - t, t - pieces[k].end, 0.0))

    parts: list[list[Segment]] = [[] for _ in pieces]
    for seg in w.segments:
        if not seg.words:
            parts[nearest((seg.start + seg.end) / 2)].append(seg)
            continue
        by_piece: dict[int, list] = {}
        for x in seg.words:
            by_piece.setdefault(nearest((x.start + x.end) / 2), []).append(x)
        if len(by_piece) == 1:
            parts[next(iter(by_piece))].append(seg)
            continue
        for k, words in by_piece.items():
            parts[k].append(Segment(words[0].start, words[-1].end, "".join(x.text for x in words).strip(), words))
    return [WindowTranscript(w.language, w.language_probability, segs, w.alternatives) for segs in parts]
