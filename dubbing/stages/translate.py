"""Stage 5: build the utterance document and translate it.

The first run builds `utterances.json` from the transcript, the speaker turns and
the genders. Later runs keep a person's edits and translate only utterances whose
source text changed (unless a person also wrote their translation).
"""
from __future__ import annotations

from .. import segmentation
from ..engines import registry
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


def build_document(ctx: Context) -> Document:
    transcript = ctx.read_json("transcript.json")
    turns = [tuple(t) for t in ctx.read_json("diarization.json")["turns"]]
    genders = ctx.read_json("gender.json")["speakers"]
    media = ctx.read_json("media.json")
    rows = segmentation.build(segmentation.words_from_segments(transcript["segments"]), turns)
    speakers: dict[str, Speaker] = {}
    utterances = []
    for i, (start, end, spk, text) in enumerate(rows):
        g = genders.get(spk, {})
        speakers.setdefault(spk, Speaker(gender=g.get("gender", "unknown"), median_f0=g.get("median_f0"), name=spk))
        utterances.append(Utterance(id=i, start=start, end=end, speaker=spk, text=text,
                                    gender=speakers[spk].gender))
    s = ctx.settings
    return Document(source_language=transcript["language"], target_language=s.target_language, settings=s,
                    engines={"diarization": ctx.engine("diarization"), "stt": ctx.engine("stt"),
                             "gender": ctx.engine("gender")},
                    models={"stt": transcript.get("model", s.stt_model)},
                    speakers=speakers, utterances=utterances, duration=media["duration"])


def translate_utterances(ctx: Context, doc: Document, todo: list[Utterance]) -> None:
    source, target = doc.source_language, doc.target_language
    name = ctx.engine("translation", source=source, target=target)
    registry.check_pair(name, source, target)
    engine = registry.get_engine("translation", name, ctx.settings.translation_model)
    texts = [u.text for u in todo]
    out = engine.translate(texts, source, target, progress=ctx.progress) if texts else []
    for u, t in zip(todo, out):
        u.translation_source, u.machine_translation, u.translated_text = u.text, t, t
    doc.engines["translation"] = name
    doc.models["translation"] = engine.model or name
    doc.picks = ctx.engines()


def run(ctx: Context) -> dict:
    fresh = ctx.stored_key("translate") != key(ctx) or not ctx.doc_path.exists()
    doc = build_document(ctx) if fresh else ctx.load_doc()
    todo = doc.utterances if fresh else [u for u in doc.utterances if u.needs_translation]
    translate_utterances(ctx, doc, todo)
    ctx.save_doc(doc)
    return {"engine": doc.engines["translation"], "utterances": len(doc.utterances), "translated": len(todo)}
