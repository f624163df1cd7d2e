"""Stage 6: a distinct voice per speaker, matched to gender where the engine has both.

Deterministic: speakers are served in order of first appearance from a fixed
voice list. A person's choices (a speaker's voice, an utterance's voice) are kept;
changing a speaker's gender gives that speaker a matching voice.
"""
from __future__ import annotations

from ..engines import registry
from ..engines.base import TTSEngine, Voice
from ..errors import EngineUnavailableError
from ..models import FEMALE, MALE, UNKNOWN, Document, Speaker, stable_hash
from .context import Context


def key(ctx: Context) -> str:
    return stable_hash("voices", ctx.stored_key("translate"), ctx.settings.tts)


def outputs(ctx: Context):
    return [ctx.doc_path]


def candidate_voices(ctx: Context, language: str) -> dict[str, str]:
    """Voice ids ("engine:voice") in order of preference for this job, each with its gender."""
    if ctx.settings.tts == "auto":
        first = ctx.engine("tts", target=language)
        names = [first] + [n for n in registry.ENGINES["tts"] if n != first]
    else:
        names = [ctx.settings.tts]
    out: dict[str, str] = {}
    for name in names:
        try:
            cls = registry.engine_class("tts", name)
        except EngineUnavailableError:
            continue
        assert issubclass(cls, TTSEngine)
        if cls.availability().ok:
            out.update((f"{name}:{v.id}", v.gender) for v in cls.voices(language))
    return out


def voice_gender(voice_id: str, language: str) -> str:
    name, _, vid = voice_id.partition(":")
    try:
        cls = registry.engine_class("tts", name)
    except Exception:
        return UNKNOWN
    voices: list[Voice] = cls.voices(language)  # type: ignore[attr-defined]
    return next((v.gender for v in voices if v.id == vid), UNKNOWN)


def current(ctx: Context) -> bool:
    doc = ctx.load_doc()
    before = doc.to_dict()
    assign(doc, candidate_voices(ctx, doc.target_language))
    return doc.to_dict() == before


def _sync_genders(doc: Document) -> None:
    """Gender belongs to a speaker. A person may edit it on the speaker or on any of its lines: the edit wins."""
    for spk, info in doc.speakers.items():
        applied = info.applied_gender if info.applied_gender is not None else info.gender
        if info.gender == applied:
            edited = {u.gender for u in doc.utterances
                      if u.speaker == spk and u.gender != applied and u.gender in (MALE, FEMALE)}
            if len(edited) == 1:
                info.gender = edited.pop()
        info.applied_gender = info.gender


def _fits(info: Speaker, genders: dict[str, str]) -> bool:
    if not info.voice:
        return False
    if info.voice not in genders:
        return True  # chosen by a person from outside the list (a local model, another engine)
    if info.gender not in (MALE, FEMALE) or info.gender not in genders.values():
        return True  # nothing to match, or the engine has no voice of that gender
    return genders[info.voice] in (info.gender, UNKNOWN)


def assign(doc: Document, genders: dict[str, str]) -> int:
    """Give every speaker (and utterance) a voice from `genders` (voice id -> gender, in order of
    preference); returns how many speakers got a new one."""
    candidates = list(genders)
    order = []
    for u in doc.utterances:
        if u.speaker not in order:
            order.append(u.speaker)
        if u.speaker not in doc.speakers:  # a person introduced a new speaker label
            doc.speakers[u.speaker] = Speaker(gender=u.gender, name=u.speaker)
    _sync_genders(doc)
    used = {s.voice for s in doc.speakers.values() if s.voice}
    changed = 0
    for spk in order:
        info = doc.speakers[spk]
        if _fits(info, genders):
            continue
        old = info.voice
        used.discard(old)
        # A voice of unknown gender (e.g. one MMS voice per language) may serve anyone.
        matching = [v for v in candidates
                    if info.gender not in (MALE, FEMALE) or genders[v] in (info.gender, UNKNOWN)] or candidates
        fresh = [v for v in matching if v not in used]
        info.voice = (fresh or matching)[0] if matching else ""
        used.add(info.voice)
        for u in doc.utterances:
            if u.speaker == spk and (not u.voice or u.voice == old):
                u.voice = info.voice
        changed += 1
    for u in doc.utterances:
        u.gender = doc.speakers[u.speaker].gender
        if not u.voice:
            u.voice = doc.speakers[u.speaker].voice
    return changed


def clone_voices(ctx: Context, doc: Document) -> None:
    """Give each speaker that has no voice yet one cloned from their own original lines."""
    name = ctx.engine("tts", target=doc.target_language)
    engine = registry.engine_class("tts", name)
    assert issubclass(engine, TTSEngine)
    if not engine.can_clone:
        raise EngineUnavailableError(f"the {name} engine cannot clone voices; choose one that can "
                                     "(such as --tts xtts) or turn cloning off")
    from .. import audio
    samples, sr = audio.read(ctx.path("audio16k.wav"), mono=True)
    for spk in {u.speaker for u in doc.utterances}:
        info = doc.speakers.setdefault(spk, Speaker(name=spk))
        if info.voice:
            continue
        spans = [(u.start, u.end) for u in doc.utterances if u.speaker == spk]
        info.voice = f"{name}:" + engine.clone_voice(samples, sr, spans, ctx.path(f"voices/{spk}.wav"),
                                                     doc.target_language)


def run(ctx: Context) -> dict:
    doc = ctx.load_doc()
    candidates = candidate_voices(ctx, doc.target_language)
    if not candidates:
        raise EngineUnavailableError(f"no text-to-speech voice speaks '{doc.target_language}' here; "
                                     "pick another target language or install a voice (see `python -m dubbing engines`)")
    if ctx.settings.clone_voices:
        clone_voices(ctx, doc)
    changed = assign(doc, candidates)
    doc.engines["tts"] = ctx.settings.tts if ctx.settings.tts != "auto" else ctx.engine("tts", target=doc.target_language)
    doc.picks = ctx.engines()
    ctx.save_doc(doc)
    return {"speakers": {k: v.voice for k, v in doc.speakers.items()}, "reassigned": changed}
