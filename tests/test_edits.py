"""Edit operations, strict reading, schema migration and revision-checked saves, on small documents."""
from __future__ import annotations

import copy
import json
import math

import pytest

from dubbing import edits, revisions
from dubbing.errors import RevisionConflict
from dubbing.models import Document, DubSettings, InvalidDocumentError, Speaker, Utterance


def words(*spec):
    return [{"start": s, "end": e, "text": t} for s, e, t in spec]


def make_doc() -> Document:
    a = Utterance(id=0, start=0.5, end=3.0, speaker="S0", text="Ten of clubs. Thank you.",
                  words=words((0.5, 0.8, " Ten"), (0.8, 1.0, " of"), (1.0, 1.5, " clubs."),
                              (2.0, 2.4, " Thank"), (2.4, 3.0, " you.")))
    b = Utterance(id=1, start=3.5, end=5.0, speaker="S1", text="Please hold the line.")
    c = Utterance(id=2, start=6.0, end=7.0, speaker="S1", text="Bye.")
    for u, t in ((a, "Diez de tréboles. Gracias."), (b, "Espere, por favor."), (c, "Adiós.")):
        u.translation_source, u.machine_translation, u.translated_text = u.text, t, t
    return Document(source_language="en", target_language="es", settings=DubSettings(target_language="es"),
                    speakers={"S0": Speaker(gender="male", voice="espeak:es+m3", name="Ann"),
                              "S1": Speaker(gender="female", voice="espeak:es+f2", name="S1")},
                    utterances=[a, b, c], duration=8.0)


# -- operations ------------------------------------------------------------------------------------

def test_split_at_a_time_snaps_to_the_nearest_word_boundary():
    doc = make_doc()
    result = edits.split(doc, 0, at=1.6)  # between "clubs." (ends 1.5) and "Thank" (starts 2.0)
    a, b = (doc.get(i) for i in result.created)
    assert result.removed == [0] and 0 not in [u.id for u in doc.utterances]
    assert (a.text, b.text) == ("Ten of clubs.", "Thank you.")
    assert (a.start, a.end, b.start, b.end) == (0.5, 1.5, 2.0, 3.0)
    assert [w["text"] for w in a.words] == [" Ten", " of", " clubs."] and len(b.words) == 2
    assert a.needs_translation and b.needs_translation  # the machine's translation: done again
    assert {1, 2} <= {u.id for u in doc.utterances} and doc.get(1).translated_text == "Espere, por favor."
    assert min(result.created) == 3  # new ids are new
    assert doc.validate() == []


def test_split_by_word_index_and_a_persons_translation_is_kept():
    doc = make_doc()
    doc.utterances[0].translated_text = "Diez de tréboles. Muchas gracias."  # a person's
    result = edits.split(doc, 0, word=3)
    a, b = (doc.get(i) for i in result.created)
    assert (a.text, b.text) == ("Ten of clubs.", "Thank you.")
    assert (a.translated_text, b.translated_text) == ("Diez de tréboles.", "Muchas gracias.")
    assert not a.needs_translation and not b.needs_translation and a.translation_edited


def test_split_without_words_cuts_the_text_at_whitespace_near_the_time():
    doc = make_doc()
    result = edits.split(doc, 1, at=4.3)
    a, b = (doc.get(i) for i in result.created)
    assert (a.end, b.start) == (4.3, 4.3)
    assert a.text + " " + b.text == "Please hold the line." and a.text and b.text


@pytest.mark.parametrize("kwargs, message", [
    ({"at": 9.0}, "not inside"), ({"word": 7}, "out of range"), ({}, "either a time"),
    ({"at": 3.55, "line": 1}, "shorter than")])
def test_bad_splits_are_refused(kwargs, message):
    doc = make_doc()
    before = doc.to_dict()
    line = kwargs.pop("line", 0)
    with pytest.raises(edits.EditError, match=message):
        edits.split(doc, line, **kwargs)
    assert doc.to_dict() == before


def test_merge_joins_texts_words_and_redoes_the_translation():
    doc = make_doc()
    result = edits.merge(doc, 1)
    (m,) = (doc.get(i) for i in result.created)
    assert result.removed == [1, 2]
    assert (m.start, m.end, m.text) == (3.5, 7.0, "Please hold the line. Bye.")
    assert m.needs_translation
    doc = make_doc()
    doc.utterances[0].words = words((0.5, 3.0, " Hi."))
    doc.utterances[1].words = words((3.5, 5.0, " Yes."))
    for u in doc.utterances[:2]:
        u.translated_text += "!"  # both written by a person: joined and kept
    (m,) = (doc.get(i) for i in edits.merge(doc, 0).created)
    assert m.translated_text == "Diez de tréboles. Gracias.! Espere, por favor.!" and not m.needs_translation
    assert [w["text"] for w in m.words] == [" Hi.", " Yes."] and m.speaker == "S0"
    with pytest.raises(edits.EditError, match="last line"):
        edits.merge(doc, 2)


def test_add_delete_move_and_nudge():
    doc = make_doc()
    added = edits.add(doc, start=5.2, end=5.8, speaker="Ann", text="Wait.")
    assert doc.get(added.created[0]).speaker == "S0" and added.new_speaker is None  # by display name
    with pytest.raises(edits.EditError, match="overlap utterance 1"):
        edits.add(doc, start=4.0, end=5.5, speaker="S0", text="x")
    moved = edits.move_to_speaker(doc, 2, "Carol", gender="female")
    assert moved.new_speaker == "Carol" and doc.get(2).speaker == "Carol" and doc.get(2).voice == ""
    assert doc.speakers["Carol"].gender == "female"
    edits.nudge(doc, 2, start=6.2, end=7.5)
    assert (doc.get(2).start, doc.get(2).end) == (6.2, 7.5)
    with pytest.raises(edits.EditError, match="overlap"):
        edits.nudge(doc, 2, start=5.5)
    with pytest.raises(edits.EditError, match="outside the video"):
        edits.nudge(doc, 2, end=9.0)
    edits.delete(doc, 1)
    assert 1 not in [u.id for u in doc.utterances]
    assert doc.new_id() > max(u.id for u in doc.utterances)
    assert doc.validate() == []


def test_ids_are_never_reused(tmp_path):
    doc = make_doc()
    edits.delete(doc, 2)
    new = edits.add(doc, start=6.0, end=7.0, speaker="S1", text="Bye.").created[0]
    assert new == 3
    doc.save(tmp_path / "u.json")
    again = Document.load(tmp_path / "u.json")
    edits.delete(again, new)
    assert edits.add(again, start=6.0, end=7.0, speaker="S1", text="Bye.").created == [4]


# -- strict reading ----------------------------------------------------------------------------------

def bad(change):
    data = make_doc().to_dict()
    change(data)
    return data


@pytest.mark.parametrize("change, message", [
    (lambda d: d["utterances"][1].update(muted="false"), "utterance 1: muted: input should be a valid boolean"),
    (lambda d: d["utterances"][0].update(translated_text=None), "utterance 0: translated_text: input should be a valid string"),
    (lambda d: d["utterances"][2].update(start=math.nan), "utterance 2: start: input should be a finite number"),
    (lambda d: d["utterances"][2].update(end=99.0), "utterance 2: start/end must lie within 0..8.00"),
    (lambda d: d["utterances"][2].update(start=4.0), "utterance 2: start (4.0) overlaps utterance 1"),
    (lambda d: d["utterances"][2].update(speaker="Nobody"), "utterance 2: speaker 'Nobody' is unknown"),
    (lambda d: d["utterances"][1].update(colour="red"), "utterance 1: unknown field 'colour'"),
    (lambda d: d.update(colour="red"), "unknown key 'colour'"),
    (lambda d: d["utterances"][1].update(text="x" * 50_000), "utterance 1: text has 50000 characters"),
    (lambda d: d["utterances"][1].update(words=[{"start": 1}]), "utterance 1: words.0.end is missing"),
    (lambda d: d["speakers"]["S0"].update(median_f0="high"), "speaker 'S0': median_f0"),
])
def test_each_bad_document_is_refused_naming_line_and_field(tmp_path, change, message):
    path = tmp_path / "utterances.json"
    good = make_doc()
    revisions.save_checked(path, good, 0)
    on_disk = path.read_bytes()
    data = bad(change)
    with pytest.raises(InvalidDocumentError) as info:
        doc = Document.from_dict(json.loads(json.dumps(data)))
        revisions.save_checked(path, doc, 1)
    assert message in str(info.value)
    assert path.read_bytes() == on_disk


def test_version_1_files_migrate_and_keep_what_the_old_reader_accepted(tmp_path):
    data = make_doc().to_dict()
    data["schema_version"] = 1
    for key in ("revision", "next_id"):
        del data[key]
    for u in data["utterances"]:
        del u["words"], u["language"]
    data["utterances"][1]["speaker"] = "Typed by hand"  # v1 let a person introduce a label
    data["utterances"][2]["muted"] = 0
    data["utterances"][2]["old_field"] = "ignored"
    doc = Document.from_dict(data)
    assert doc.schema_version == 2 and doc.revision == 0 and "Typed by hand" in doc.speakers
    assert doc.get(2).muted is False and doc.get(0).words == [] and doc.validate() == []
    assert doc.to_dict()["schema_version"] == 2


def test_an_import_without_bookkeeping_keeps_its_translations():
    data = make_doc().to_dict()
    for u in data["utterances"]:
        for key in ("translation_source", "machine_translation", "render_key", "clip", "speed"):
            del u[key]
    data["utterances"][0]["translated_text"] = "Traducción a mano."
    doc = Document.from_dict(data)
    assert not any(u.needs_translation for u in doc.utterances)
    assert doc.get(0).translation_edited
    doc.get(1).translated_text = ""  # an empty line is translated
    assert doc.get(1).needs_translation


# -- revisions ---------------------------------------------------------------------------------------

def test_a_stale_save_is_refused_and_the_file_is_unchanged(tmp_path):
    path = tmp_path / "utterances.json"
    revisions.save_checked(path, make_doc(), 0)
    mine, theirs = Document.load(path), Document.load(path)
    theirs.utterances[0].translated_text = "Otra pestaña."
    assert revisions.save_checked(path, theirs) == 2
    on_disk = path.read_bytes()
    mine.utterances[1].translated_text = "Mi cambio."
    with pytest.raises(RevisionConflict, match="someone else changed this job: reload"):
        revisions.save_checked(path, mine)
    assert path.read_bytes() == on_disk


def test_a_stage_save_merges_its_fields_into_a_persons_newer_edit(tmp_path):
    path = tmp_path / "utterances.json"
    revisions.save_checked(path, make_doc(), 0)
    stage = Document.load(path)
    base = stage.to_dict()
    person = Document.load(path)
    person.get(0).translated_text = "Escrito por una persona."
    edits.split(person, 1, at=4.3)
    revisions.save_checked(path, person)
    for u in stage.utterances:  # what synthesize does meanwhile, on the document it loaded
        u.render_key, u.clip, u.speed = f"k{u.id}", f"clips/k{u.id}.wav", 1.2
    stage.speakers["S1"].voice = "espeak:es+f4"
    saved = revisions.save_merged(path, stage, base)
    result = Document.load(path)
    assert result.revision == 3 and saved["revision"] == 3
    assert result.get(0).translated_text == "Escrito por una persona."  # the person's text
    assert result.get(0).render_key == "k0" and result.get(2).clip == "clips/k2.wav"  # the stage's output
    assert 1 not in [u.id for u in result.utterances] and len(result.utterances) == 4  # the split stays
    assert result.speakers["S1"].voice == "espeak:es+f4"
    # a second save of the stage (every 10 lines) keeps the person's edit too
    stage.get(2).speed = 1.3
    revisions.save_merged(path, stage, saved)
    again = Document.load(path)
    assert again.get(2).speed == 1.3 and again.get(0).translated_text == "Escrito por una persona."
    assert len(again.utterances) == 4


def test_a_lines_language_is_said_and_its_translation_made_again_from_it():
    """Whisper base can hear a speaker all in the wrong one of two close languages: a person says which
    language a line is in. The machine's translation is made again; a person's stays; a line the machine
    muted and flagged for want of a translator is unmuted for the new language's translation."""
    doc = make_doc()
    changed = edits.apply(doc, "language", utt_id=1, language="PL ")
    assert changed.changed == [1] and doc.get(1).language == "pl" and doc.get(1).needs_translation
    assert edits.set_language(doc, 1, "pl").changed == []  # already so: nothing to redo
    edits.set_language(doc, 1, "en")  # the document's own language is stored as ""
    assert doc.get(1).language == ""
    # A person's translation stays theirs.
    doc.get(2).translated_text = "Hasta luego."
    edits.set_language(doc, 2, "cs")
    assert doc.get(2).translated_text == "Hasta luego." and not doc.get(2).needs_translation
    # Flagged by the machine (no translator for Polish here): unmuted, the flag cleared, translated again.
    flagged = doc.get(0)
    flagged.language, flagged.muted, flagged.note = "pl", True, "no translator here for pl -> es"
    flagged.translated_text = flagged.machine_translation = ""
    edits.set_language(doc, 0, "cs")
    assert (flagged.language, flagged.muted, flagged.note, flagged.needs_translation) == ("cs", False, "", True)
    with pytest.raises(edits.EditError, match="unknown language 'klingon'"):
        edits.set_language(doc, 0, "klingon")
    assert doc.validate() == []


def test_the_apply_entry_point_names_operations():
    doc = make_doc()
    with pytest.raises(edits.EditError, match="unknown edit 'explode'"):
        edits.apply(doc, "explode", utt_id=0)
    with pytest.raises(edits.EditError, match="edit 'merge'"):
        edits.apply(doc, "merge", utt_id=0, at=3.0)
    assert edits.apply(copy.deepcopy(doc), "delete", utt_id=0).removed == [0]


def test_a_wrong_type_set_on_a_loaded_document_is_refused_before_writing(tmp_path):
    path = tmp_path / "utterances.json"
    revisions.save_checked(path, make_doc(), 0)
    on_disk = path.read_bytes()
    doc = Document.load(path)
    doc.get(1).muted = "false"
    with pytest.raises(InvalidDocumentError, match="utterance 1: muted"):
        revisions.save_checked(path, doc)
    assert path.read_bytes() == on_disk
