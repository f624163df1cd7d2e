"""Stage 6: a distinct voice per speaker, matched to gender where the engine has both.

Deterministic: speakers are served in order of first appearance from a fixed
voice list. A person's choices (a speaker's voice, an utterance's voice) are kept;
changing a speaker's gender gives that speaker a matching voice, unless the voice is
pinned (`pin_voice`): a pinned voice stays through gender edits and re-renders, and is
remembered for the same video (by content) and target language in DATA_DIR/voice_pins.json,
so a later job of that video starts with it.

`audition_sample(voice_id, language, cache_dir)` makes (once) a short sample of a voice
for a person to listen to before choosing it.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from .. import audio
from ..engines import registry
from ..engines.base import TTSEngine, Voice
from ..errors import DubbingError, EngineUnavailableError
from ..fsutil import atomic_write_text
from ..models import FEMALE, MALE, UNKNOWN, Document, Speaker, stable_hash
from .context import Context

PINS_FILE = "voice_pins.json"
AUDITION_LUFS = -20.0
AUDITION_TEXT = {
    "en": "Hello! This is how I sound. I will read your lines in this voice.",
    "es": "¡Hola! Así suena mi voz. Leeré tus líneas con esta voz.",
    "ca": "Hola! Així sona la meva veu. Llegiré les teves línies amb aquesta veu.",
    "fr": "Bonjour ! Voici ma voix. Je lirai vos répliques avec cette voix.",
    "de": "Hallo! So klingt meine Stimme. Ich lese Ihre Texte mit dieser Stimme.",
    "it": "Ciao! Questa è la mia voce. Leggerò le tue battute con questa voce.",
    "pt": "Olá! Esta é a minha voz. Vou ler as suas falas com esta voz.",
    "gl": "Ola! Así soa a miña voz. Lerei as túas liñas con esta voz.",
    "eo": "Saluton! Jen mia voĉo. Mi legos viajn liniojn per ĉi tiu voĉo.",
}


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
    return doc.to_dict() == before and _pins_recorded(ctx, doc)


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
    if info.pinned:
        return True
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


def pin_voice(doc: Document, speaker: str, voice: str) -> None:
    """A person's choice of voice for all of a speaker's lines, kept from now on (empty: unpin,
    the voice is matched to the speaker's gender again at the next render)."""
    info = doc.speakers.setdefault(speaker, Speaker(name=speaker))
    info.voice, info.pinned = voice, bool(voice)
    for u in doc.utterances:
        if u.speaker == speaker:
            u.voice = ""


def pins_path() -> Path:
    from ..jobs.store import data_dir
    return data_dir() / PINS_FILE


def _project(ctx: Context, doc: Document) -> str:
    return f"{ctx.input_digest()}:{doc.target_language}"


def _load_pins() -> dict:
    path = pins_path()
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        return {}  # an unreadable pin file must not stop a dub; it is rewritten at the next pin


def _pins_recorded(ctx: Context, doc: Document) -> bool:
    project = _load_pins().get(_project(ctx, doc), {})
    return all(project.get(spk) == info.voice for spk, info in doc.speakers.items() if info.pinned and info.voice)


def apply_project_pins(ctx: Context, doc: Document) -> None:
    """Record this job's pinned voices for its video, and give speakers that have no voice yet
    the voice pinned for them in an earlier job of the same video."""
    pins = _load_pins()
    project = pins.setdefault(_project(ctx, doc), {})
    for spk, info in doc.speakers.items():
        if info.pinned and info.voice:
            project[spk] = info.voice
        elif not info.voice and project.get(spk):
            info.voice, info.pinned = project[spk], True
    if project:
        atomic_write_text(pins_path(), json.dumps(pins, indent=1))


def audition_file(cache_dir: Path, voice_id: str, language: str) -> Path:
    """Where the audition sample of a voice lives (made or not)."""
    text = AUDITION_TEXT.get(language, AUDITION_TEXT["en"])
    return Path(cache_dir) / "auditions" / f"{stable_hash('audition', voice_id, language, text)}.wav"


def audition_sample(voice_id: str, language: str, cache_dir: Path) -> Path:
    """A WAV of `voice_id` ("engine:voice") reading a short sentence in `language`, at a fixed
    loudness; made once and cached in `cache_dir`. Raises EngineUnavailableError / DubbingError."""
    out = audition_file(cache_dir, voice_id, language)
    text = AUDITION_TEXT.get(language, AUDITION_TEXT["en"])
    if out.exists():
        return out
    name, _, vid = voice_id.partition(":")
    engine = registry.get_engine("tts", name)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        try:
            engine.synthesize(text, vid, raw)  # type: ignore[attr-defined]
        except ValueError as exc:
            raise DubbingError(f"cannot audition voice '{voice_id}': {exc}") from exc
        x, sr = audio.read(raw, mono=True)
    level = audio.loudness(x, sr)
    if level > audio.SILENCE_LUFS:
        x = x * audio.db_to_gain(AUDITION_LUFS - level)
    audio.write(out, audio.limit(x, sr), sr, subtype="PCM_16")
    return out


def run(ctx: Context) -> dict:
    doc = ctx.load_doc()
    candidates = candidate_voices(ctx, doc.target_language)
    if not candidates:
        raise EngineUnavailableError(f"no text-to-speech voice speaks '{doc.target_language}' here; "
                                     "pick another target language or install a voice (see `python -m dubbing engines`)")
    if ctx.settings.clone_voices:
        clone_voices(ctx, doc)
    apply_project_pins(ctx, doc)
    changed = assign(doc, candidates)
    doc.engines["tts"] = ctx.settings.tts if ctx.settings.tts != "auto" else ctx.engine("tts", target=doc.target_language)
    doc.picks = ctx.engines()
    ctx.save_doc(doc)
    return {"speakers": {k: v.voice for k, v in doc.speakers.items()}, "reassigned": changed,
            "pinned": sorted(k for k, v in doc.speakers.items() if v.pinned)}
