"""Stage 5: build the utterance document and translate it.

The first run builds `utterances.json` from the transcript, the speaker turns and
the genders. Later runs keep a person's edits and translate only utterances whose
source text changed (unless a person also wrote their translation).
"""
from __future__ import annotations

from dataclasses import replace

from .. import segmentation
from ..engines import registry
from ..errors import UnsupportedPairError
from ..models import Document, Speaker, Utterance, stable_hash
from .context import Context


def key(ctx: Context) -> str:
    s = ctx.settings
    return stable_hash("translate", ctx.stored_key("diarize"), ctx.stored_key("transcribe"),
                       ctx.stored_key("gender"), s.translator, s.translation_model, s.target_language, s.pause_split)


def outputs(ctx: Context):
    return [ctx.doc_path]


def current(ctx: Context) -> bool:
    return not any(u.needs_translation or _written_for_flagged(u) for u in ctx.load_doc().utterances)


def _written_for_flagged(u: Utterance) -> bool:
    """A person wrote the translation of a line the machine could not translate (and so muted)."""
    return bool(u.note) and u.muted and u.translation_edited


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
            # The main language too: transcription refused the dub when too little of it could be
            # translated (transcribe._check_translatable), and a source given by hand is checked at submit.
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
        if main or "translation" not in doc.engines:
            doc.engines["translation"] = name
            doc.models["translation"] = engine.model or name
    doc.picks = ctx.engines()


def rebuild_speakers(ctx: Context, old: Document) -> tuple[Document, int]:
    """The document after speakers were found again: lines whose words and speaker did not change
    are kept as they were (a person's edits included); the others get new ids and are translated.
    The caller saves it (a person's operation: revision-checked, not merged)."""
    fresh = build_document(ctx)
    rename = _match_speakers(old, fresh)
    for u in fresh.utterances:
        u.speaker = rename.get(u.speaker, u.speaker)
    speakers = {}
    for label, spk in fresh.speakers.items():
        name = rename.get(label, label)
        # A speaker that stays keeps a person's name, gender and voice choices.
        speakers[name] = old.speakers.get(name) or replace(spk, name=name)
    by_words = {(round(u.words[0]["start"], 2), round(u.words[-1]["end"], 2), u.speaker): u
                for u in old.utterances if u.words}
    old.reserve_ids()
    kept, out, todo = 0, [], []
    for u in fresh.utterances:
        same = by_words.get((round(u.words[0]["start"], 2), round(u.words[-1]["end"], 2), u.speaker)) if u.words else None
        if same is not None:
            out.append(same)
            kept += 1
        else:
            u.id = old.new_id()
            u.gender = speakers[u.speaker].gender
            out.append(u)
            todo.append(u)
    old.speakers = speakers
    old.utterances = sorted(out, key=lambda u: (u.start, u.id))
    translate_utterances(ctx, old, todo)
    return old, kept


def _match_speakers(old: Document, fresh: Document) -> dict[str, str]:
    """New speaker labels renamed to the old ones they share most speech with (one to one)."""
    from scipy.optimize import linear_sum_assignment
    import numpy as np
    new_names, old_names = sorted(fresh.speakers), sorted(old.speakers)
    overlap = np.zeros((len(new_names), len(old_names)))
    for a in fresh.utterances:
        for b in old.utterances:
            shared = min(a.end, b.end) - max(a.start, b.start)
            if shared > 0:
                overlap[new_names.index(a.speaker), old_names.index(b.speaker)] += shared
    rows, cols = linear_sum_assignment(-overlap)
    rename = {new_names[r]: old_names[c] for r, c in zip(rows, cols) if overlap[r, c] > 0}
    taken = set(rename.values()) | set(old_names)
    n = 0
    for name in new_names:
        if name not in rename:
            while f"SPEAKER_{n:02d}" in taken:
                n += 1
            rename[name] = f"SPEAKER_{n:02d}"
            taken.add(rename[name])
    return rename


def run(ctx: Context) -> dict:
    fresh = ctx.stored_key("translate") != key(ctx) or not ctx.doc_path.exists()
    doc = build_document(ctx) if fresh else ctx.load_doc()
    todo = doc.utterances if fresh else [u for u in doc.utterances if u.needs_translation]
    translate_utterances(ctx, doc, todo)
    for u in doc.utterances:
        if _written_for_flagged(u):  # now it can be dubbed: the original audio gives way
            u.muted, u.note = False, ""
    ctx.save_doc(doc)
    return {"engine": doc.engines.get("translation", ""), "utterances": len(doc.utterances), "translated": len(todo),
            "flagged": sum(1 for u in doc.utterances if u.note)}
