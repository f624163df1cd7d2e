"""Stage 5: build the utterance document and translate it.

The first run builds `utterances.json` from the transcript, the speaker turns and
the genders. Later runs keep a person's edits and translate only utterances whose
source text changed (unless a person also wrote their translation).
"""
from __future__ import annotations

from .. import segmentation
from ..engines import registry
from ..errors import UnsupportedPairError
from ..models import Document, Speaker, Utterance, stable_hash
from .context import Context


def key(ctx: Context) -> str:
    s = ctx.settings
    return stable_hash("translate", ctx.stored_key("diarize"), ctx.stored_key("transcribe"),
                       ctx.stored_key("gender"), s.translator, s.translation_model, s.target_language)


def outputs(ctx: Context):
    return [ctx.doc_path]


def current(ctx: Context) -> bool:
    return not any(u.needs_translation for u in ctx.load_doc().utterances)


def build_lines(ctx: Context) -> list[segmentation.Line]:
    transcript = ctx.read_json("transcript.json")
    turns = [tuple(t) for t in ctx.read_json("diarization.json")["turns"]]
    media = ctx.read_json("media.json")
    return segmentation.build(segmentation.words_from_transcript(transcript), turns, transcript.get("speech"),
                              pause_split=ctx.settings.pause_split, duration=media["duration"])


def utterance_from_line(i: int, line: segmentation.Line, gender: str, main_language: str) -> Utterance:
    return Utterance(id=i, start=line.start, end=line.end, speaker=line.speaker, text=line.text, gender=gender,
                     language=line.language if line.language != main_language else "",
                     words=[{"start": w.start, "end": w.end, "text": w.text} for w in line.words])


def build_document(ctx: Context) -> Document:
    transcript = ctx.read_json("transcript.json")
    genders = ctx.read_json("gender.json")["speakers"]
    media = ctx.read_json("media.json")
    speakers: dict[str, Speaker] = {}
    utterances = []
    for i, line in enumerate(build_lines(ctx)):
        g = genders.get(line.speaker, {})
        spk = speakers.setdefault(line.speaker, Speaker(gender=g.get("gender", "unknown"),
                                                        median_f0=g.get("median_f0"), name=line.speaker))
        utterances.append(utterance_from_line(i, line, spk.gender, transcript["language"]))
    s = ctx.settings
    return Document(source_language=transcript["language"], target_language=s.target_language, settings=s,
                    engines={"diarization": ctx.engine("diarization"), "stt": ctx.engine("stt"),
                             "gender": ctx.engine("gender")},
                    models={"stt": transcript.get("model", s.stt_model)},
                    speakers=speakers, utterances=utterances, duration=media["duration"])


def translate_utterances(ctx: Context, doc: Document, todo: list[Utterance]) -> None:
    """Translate each line from its own language; keep lines already in the target language;
    flag (and leave the original audio for) lines whose pair no translator here has."""
    target = doc.target_language
    by_language: dict[str, list[Utterance]] = {}
    for u in todo:
        by_language.setdefault(u.language or doc.source_language, []).append(u)
    for source, utts in by_language.items():
        if source == target:
            for u in utts:
                u.translation_source, u.machine_translation, u.translated_text, u.note = u.text, u.text, u.text, ""
            continue
        main = source == doc.source_language
        try:
            name = ctx.engine("translation", record_as=None if main else f"translation:{source}",
                              source=source, target=target)
            registry.check_pair(name, source, target)
        except UnsupportedPairError as exc:
            if main:
                raise
            for u in utts:
                # Nothing is dropped: the line keeps its words and the original audio plays there
                # until a person writes a translation (and unmutes it).
                u.translation_source, u.machine_translation, u.translated_text = u.text, "", ""
                u.muted, u.note = True, f"no translator here for {source} -> {target}: {exc}"
            continue
        engine = registry.get_engine("translation", name, ctx.settings.translation_model)
        texts = [u.text for u in utts]
        out = engine.translate(texts, source, target, progress=ctx.progress) if texts else []
        for u, t in zip(utts, out):
            u.translation_source, u.machine_translation, u.translated_text, u.note = u.text, t, t, ""
        if main:
            doc.engines["translation"] = name
            doc.models["translation"] = engine.model or name
    doc.picks = ctx.engines()


def run(ctx: Context) -> dict:
    fresh = ctx.stored_key("translate") != key(ctx) or not ctx.doc_path.exists()
    doc = build_document(ctx) if fresh else ctx.load_doc()
    todo = doc.utterances if fresh else [u for u in doc.utterances if u.needs_translation]
    translate_utterances(ctx, doc, todo)
    ctx.save_doc(doc)
    return {"engine": doc.engines.get("translation", ""), "utterances": len(doc.utterances), "translated": len(todo),
            "flagged": sum(1 for u in doc.utterances if u.note)}
