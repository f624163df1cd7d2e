from dubbing.models import SCHEMA_VERSION, Document, DubSettings, Speaker, Utterance


def make_doc() -> Document:
    return Document(source_language="en", target_language="es", settings=DubSettings(target_language="es"),
                    speakers={"SPEAKER_00": Speaker(gender="male", voice="espeak:es+m3")},
                    utterances=[Utterance(id=0, start=0.5, end=2.0, speaker="SPEAKER_00", text="Hello."),
                                Utterance(id=1, start=3.0, end=4.0, speaker="SPEAKER_00", text="Bye.")],
                    duration=5.0)


def test_roundtrip_keeps_every_field(tmp_path):
    doc = make_doc()
    doc.utterances[0].translated_text = "Hola."
    doc.save(tmp_path / "u.json")
    again = Document.load(tmp_path / "u.json")
    assert again.to_dict() == doc.to_dict()
    assert again.to_dict()["schema_version"] == SCHEMA_VERSION


def test_unknown_schema_version_is_refused(tmp_path):
    data = make_doc().to_dict() | {"schema_version": 99}
    import json
    import pytest
    (tmp_path / "u.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="schema version 99"):
        Document.load(tmp_path / "u.json")


def test_needs_translation_follows_text_edits_but_keeps_a_persons_translation():
    u = Utterance(id=0, start=0, end=1, speaker="A", text="Hello.")
    assert u.needs_translation  # never translated
    u.translation_source, u.machine_translation, u.translated_text = "Hello.", "Hola.", "Hola."
    assert not u.needs_translation
    u.text = "Hello there."
    assert u.needs_translation  # source edited, translation is the machine's: translate again
    u.translated_text = "Hola a todos."
    assert not u.needs_translation  # a person wrote the translation too: keep it


def test_validate_reports_bad_times_and_duplicate_ids():
    doc = make_doc()
    doc.utterances[1].end = 2.5
    doc.utterances[1].start = 3.0
    doc.utterances.append(Utterance(id=0, start=4.0, end=9.0, speaker="A", text="x"))
    problems = " | ".join(doc.validate())
    assert "utterance 1: end" in problems and "unique" in problems and "within 0..5.00" in problems


def test_voice_of_falls_back_to_the_speaker():
    doc = make_doc()
    assert doc.voice_of(doc.utterances[0]) == "espeak:es+m3"
    doc.utterances[0].voice = "espeak:es+f2"
    assert doc.voice_of(doc.utterances[0]) == "espeak:es+f2"
