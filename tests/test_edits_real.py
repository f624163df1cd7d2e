"""Structural edits on a real two-speaker meeting (AMI, ../shared/media): through the command line and
through the job runner's client; `update` re-makes only the touched lines and leaves the audio outside
them identical; saves that race a running render lose nothing and a stale save is refused."""
from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.conftest import ffmpeg, run_cli, shared_media  # noqa: E402
from test_jobs_support import real_runner, wait_for  # noqa: E402

from dubbing import pipeline, revisions  # noqa: E402
from dubbing.errors import ExitCode, RevisionConflict  # noqa: E402
from dubbing.jobs import client  # noqa: E402
from dubbing.models import Document, DubSettings  # noqa: E402
from dubbing.stages import synthesize, voices  # noqa: E402
from dubbing.stages.mix import RAMP_S  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def meeting_mp4(tmp_path_factory) -> Path:
    wav = shared_media("multi2_ami_dev00.wav")
    out = tmp_path_factory.mktemp("meeting") / "meeting.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=320x240:r=25", "-i", wav, "-shortest", "-c:v", "libx264",
           "-c:a", "aac", out)
    return out


@pytest.fixture(scope="module")
def dubbed(meeting_mp4, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dubbed") / "out"
    result = run_cli("dub", meeting_mp4, "-o", out, "-t", "es", "-s", "en")
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.fixture
def folder(dubbed, tmp_path) -> Path:
    target = tmp_path / "job"
    shutil.copytree(dubbed, target)
    return target


def load(folder: Path) -> Document:
    return Document.load(folder / "utterances.json")


def plan(doc: Document) -> dict:
    """Which existing lines each operation touches, chosen from the document (whisper decides the lines)."""
    lines = sorted(doc.utterances, key=lambda u: u.start)
    assert len(lines) >= 7, [u.text for u in lines]
    longest = max(lines[:-4], key=lambda u: u.duration)
    rest = [u for u in lines if u is not longest]
    gaps = [(b.start - a.end, a, b) for a, b in zip(lines, lines[1:]) if a is not longest and b is not longest]
    gap, before_gap, after_gap = max(gaps, key=lambda g: g[0])
    assert gap >= 0.8, "the meeting has a pause to add a line in"
    used = {longest.id, before_gap.id, after_gap.id}
    pair = next((a, b) for a, b in zip(lines[-2::-1], lines[:0:-1]) if not {a.id, b.id} & used)
    used |= {pair[0].id, pair[1].id}
    free = [u for u in rest if u.id not in used]
    return {"split": longest, "add_at": (before_gap.end + 0.2, min(after_gap.start - 0.2, before_gap.end + 1.5)),
            "merge": pair[0], "merge_next": pair[1], "delete": free[0], "move": free[1], "nudge": free[2]}


def windows(doc: Document) -> dict[int, tuple]:
    """What a line's dub is made from: voice, words, slot (start, end, window end)."""
    lines = sorted(doc.utterances, key=lambda u: (u.start, u.id))
    out = {}
    for i, u in enumerate(lines):
        nxt = next((v.start for v in lines[i + 1:] if v.start > u.start), doc.duration)
        out[u.id] = (doc.voice_of(u), u.translated_text.strip(), u.start, u.end, round(nxt, 3))
    return out


def assert_audio_same_outside(before: Path, after: Path, spans: list[tuple[float, float]]) -> float:
    """The dubbed audio is sample-identical outside the spans (widened by the mix's ramps); the share compared."""
    a, sr = sf.read(str(before / "dubbed_audio.wav"), dtype="int16")
    b, sr_b = sf.read(str(after / "dubbed_audio.wav"), dtype="int16")
    assert sr == sr_b and a.shape == b.shape
    keep = np.ones(len(a), bool)
    for start, end in spans:
        keep[max(0, int((start - RAMP_S - 0.02) * sr)):int((end + RAMP_S + 0.02) * sr)] = False
    assert keep.mean() > 0.2, "something is left to compare"
    differing = np.flatnonzero(np.any(a[keep] != b[keep], axis=-1) if a.ndim > 1 else a[keep] != b[keep])
    assert differing.size == 0, f"{differing.size} samples differ outside the edited lines"
    return float(keep.mean())


def touched_spans(old: Document, new: Document, remade: set[int]) -> list[tuple[float, float]]:
    wo, wn = windows(old), windows(new)
    spans = [(wn[i][2], wn[i][4]) for i in remade]
    spans += [(wo[i][2], wo[i][4]) for i in wo if i not in wn or wo[i] != wn.get(i)]
    return spans


def test_each_operation_through_the_command_line_then_update(folder):
    before_dir = folder.parent / "before"
    shutil.copytree(folder, before_dir)
    doc = load(folder)
    p = plan(doc)

    def edit(*args):
        result = run_cli("edit", folder, *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    s = p["split"]
    out = edit("split", s.id, "--at", f"{s.start + s.duration * 0.45:.2f}")
    created = [int(x) for x in re.search(r"created (\d+) (\d+)", out).groups()]
    assert "removed " + str(s.id) in out
    out = edit("merge", p["merge"].id)
    merged = int(re.search(r"created (\d+)", out).group(1))
    start, end = p["add_at"]
    out = edit("add", "--start", f"{start:.2f}", "--end", f"{end:.2f}", "--speaker", p["move"].speaker,
               "--text", "Sorry, one more thing.")
    added = int(re.search(r"created (\d+)", out).group(1))
    edit("delete", p["delete"].id)
    out = edit("speaker", p["move"].id, "Carol")
    assert "new speaker Carol" in out
    n = p["nudge"]
    edit("times", n.id, "--end", f"{n.end - 0.2:.2f}")

    doc = load(folder)
    assert doc.revision == load(before_dir).revision + 6
    ids = {u.id for u in doc.utterances}
    assert set(created) | {merged, added} <= ids and not {s.id, p["delete"].id, p["merge"].id} & ids
    untouched = {u.id for u in load(before_dir).utterances} - {s.id, p["merge"].id, p["merge_next"].id,
                                                                 p["delete"].id}
    assert untouched <= ids  # lines no edit removed keep their ids
    halves = [doc.get(i) for i in created]
    assert " ".join(h.text for h in halves).split() == s.text.split()
    carol = doc.speakers["Carol"]
    others = {k: v.voice for k, v in doc.speakers.items() if k != "Carol"}
    assert carol.voice and carol.voice not in others.values()  # a voice of its own
    assert carol.gender in ("male", "female")  # from the audio of the line
    assert voices.voice_gender(carol.voice, "es") in (carol.gender, "unknown")
    assert doc.get(p["move"].id).voice == carol.voice

    # A bad edit and a stale one are refused; the file stays as it was.
    on_disk = (folder / "utterances.json").read_bytes()
    bad = run_cli("edit", folder, "split", doc.utterances[0].id, "--at", "999")
    assert bad.returncode == ExitCode.USAGE and "not inside the line" in bad.stderr
    stale = run_cli("edit", folder, "--revision", str(doc.revision - 1), "delete", doc.utterances[0].id)
    assert stale.returncode == ExitCode.CONFLICT and "someone else changed this job: reload" in stale.stderr
    assert (folder / "utterances.json").read_bytes() == on_disk

    result = run_cli("update", folder)
    assert result.returncode == 0, result.stderr
    report = json.loads((folder / "report.json").read_text())
    new = load(folder)
    assert all(not u.needs_translation for u in new.utterances)  # the new lines were translated
    old_w, new_w = windows(load(before_dir)), windows(new)
    expected = {i for i, w in new_w.items() if old_w.get(i) != w}
    assert set(report["remade_ids"]) == expected and report["utterances_remade"] == len(expected)
    assert len(expected) < len(new.utterances)  # lines no edit touched were not re-made
    compared = assert_audio_same_outside(before_dir, folder, touched_spans(load(before_dir), new, expected))
    print(f"re-made {len(expected)} of {len(new.utterances)} lines; audio identical on {compared:.0%} compared")


def test_a_line_said_to_be_in_another_language_is_translated_from_it_on_update(folder):
    """A line put in Russian (no translator here takes it to Spanish) is flagged on update and keeps the
    original audio; put back in English it is translated and dubbed again. Only that line is re-made."""
    before_dir = folder.parent / "before"
    shutil.copytree(folder, before_dir)
    doc = load(folder)
    line = max(doc.utterances, key=lambda u: len(u.text.split()))
    translation = line.translated_text
    span = [(line.start, windows(doc)[line.id][4])]

    def edit_then_update(language):
        result = run_cli("edit", folder, "language", line.id, language)
        assert result.returncode == 0 and f"changed {line.id}" in result.stdout, result.stderr
        result = run_cli("update", folder)
        assert result.returncode == 0, result.stderr
        return load(folder).get(line.id), json.loads((folder / "report.json").read_text())

    russian, report = edit_then_update("ru")
    assert russian.language == "ru" and russian.muted and russian.translated_text == ""
    assert "no translator here for ru -> es" in russian.note
    assert report["remade_ids"] == []  # nothing to voice: the original plays there
    assert_audio_same_outside(before_dir, folder, span)
    a, _ = sf.read(str(before_dir / "dubbed_audio.wav"), dtype="int16")
    b, sr = sf.read(str(folder / "dubbed_audio.wav"), dtype="int16")
    inside = slice(int(line.start * sr), int(line.end * sr))
    assert np.any(a[inside] != b[inside])  # its dub gave way to the original
    english, report = edit_then_update("en")
    assert english.language == "" and not english.muted and english.note == ""
    # The same translator from the same words (alone it may word the start differently: "El nombre" for "nombre").
    assert len(set(english.translated_text.split()) & set(translation.split())) >= 0.7 * len(translation.split())
    assert report["remade_ids"] == [line.id]
    assert_audio_same_outside(before_dir, folder, span)
    bad = run_cli("edit", folder, "language", line.id, "klingon")
    assert bad.returncode == ExitCode.USAGE and "unknown language 'klingon'" in bad.stderr


@pytest.mark.parametrize("field, value, message", [
    ("muted", "false", "muted: input should be a valid boolean"),
    ("translated_text", None, "translated_text: input should be a valid string"),
    ("speaker", "Nobody", "speaker 'Nobody' is unknown"),
])
def test_update_refuses_a_bad_document_naming_line_and_field(folder, field, value, message):
    data = json.loads((folder / "utterances.json").read_text())
    line = data["utterances"][2]
    line[field] = value
    (folder / "utterances.json").write_text(json.dumps(data))
    on_disk = (folder / "utterances.json").read_bytes()
    result = run_cli("update", folder)
    assert result.returncode == ExitCode.USAGE and f"utterance {line['id']}" in result.stderr, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert (folder / "utterances.json").read_bytes() == on_disk


def test_a_save_during_synthesis_and_between_stages_loses_nothing(folder):
    """Deterministic races on the real stages: the person's save lands inside synthesize (from its progress
    callback, after it loaded the document) and between voices and synthesize."""
    path = folder / "utterances.json"
    doc = load(folder)
    lines = sorted(doc.utterances, key=lambda u: u.start)
    worker_lines, person_line, later_line = lines[:3], lines[4], lines[6]
    for u in worker_lines:  # give synthesize work to do
        u.translated_text = u.translated_text.rstrip(".") + ", claro."
    revisions.save_checked(path, doc)
    stale = load(folder)

    landed = []

    def progress(stage, fraction, message):
        if message.startswith("speech for line") and not landed:
            mine = load(folder)  # a page that loaded the document now
            mine.get(person_line.id).translated_text = "Lo escribió una persona durante la síntesis."
            landed.append(revisions.save_checked(path, mine))
            stale.get(later_line.id).translated_text = "Basado en una versión vieja."
            with pytest.raises(RevisionConflict, match="someone else changed this job: reload"):
                revisions.save_checked(path, stale)

    result = pipeline.run_stage(folder, "synthesize", progress=progress)
    assert landed and sorted(result.detail["remade_ids"]) == sorted(u.id for u in worker_lines)
    after = load(folder)
    assert after.get(person_line.id).translated_text == "Lo escribió una persona durante la síntesis."
    assert after.get(later_line.id).translated_text == later_line.translated_text  # stale save refused
    ctx = pipeline.context(folder)
    plan_ = dict((u.id, w) for u, w in synthesize._plan(ctx, after))
    for u in worker_lines:  # the worker's output is in the file, and current
        got = after.get(u.id)
        assert got.render_key == synthesize.render_key(ctx, after, got, plan_[u.id])
        assert (folder / "work" / got.clip).exists()
    assert after.get(person_line.id).render_key != synthesize.render_key(
        ctx, after, after.get(person_line.id), plan_[person_line.id])  # seen as stale, so re-made next

    # Between stages: voices has run; the save lands before synthesize loads the document.
    pipeline.run_stage(folder, "voices")
    mine = load(folder)
    mine.get(later_line.id).translated_text = "Escrito entre dos etapas."
    revisions.save_checked(path, mine)
    result = pipeline.run_stage(folder, "synthesize")
    assert sorted(result.detail["remade_ids"]) == sorted([person_line.id, later_line.id])
    final = load(folder)
    assert final.get(later_line.id).translated_text == "Escrito entre dos etapas."
    assert final.get(person_line.id).translated_text.startswith("Lo escribió una persona")
    assert synthesize.current(pipeline.context(folder))


# -- through the job runner ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data = tmp_path_factory.mktemp("edits-runner") / "data"
    with real_runner(data) as env:
        yield env


def test_each_operation_through_the_runner_client_and_a_save_racing_the_render(env, meeting_mp4):
    job = client.submit(meeting_mp4, "meeting.mp4", DubSettings(target_language="es", source_language="en",
                                                                 review=True))
    record = client.wait(job, timeout=600)
    assert record["status"] == "awaiting_review", record
    doc = client.load_document(job)
    p = plan(doc)
    rev = doc.revision

    s = p["split"]
    result = client.edit(job, "split", utt_id=s.id, at=s.start + s.duration * 0.45, base_revision=rev)
    assert len(result.created) == 2 and result.removed == [s.id]
    with pytest.raises(RevisionConflict, match="someone else changed this job: reload"):
        client.edit(job, "delete", utt_id=p["delete"].id, base_revision=rev)  # based on the old revision
    record = client.wait(job, timeout=300)  # the halves were queued for translation
    assert record["status"] == "awaiting_review", record
    doc = client.load_document(job)
    assert all(doc.get(i).translation_source == doc.get(i).text for i in result.created)

    merged = client.edit(job, "merge", utt_id=p["merge"].id).created
    client.wait(job, timeout=300)
    start, end = p["add_at"]
    added = client.edit(job, "add", start=start, end=end, speaker=p["move"].speaker, text="One more thing.").created
    client.wait(job, timeout=300)
    assert client.edit(job, "delete", utt_id=p["delete"].id).removed == [p["delete"].id]
    moved = client.edit(job, "speaker", utt_id=p["move"].id, speaker="Carol", gender="female")
    assert moved.new_speaker == "Carol"
    client.edit(job, "times", utt_id=p["nudge"].id, end=p["nudge"].end - 0.2)
    with pytest.raises(client.EditError, match="outside the video"):
        client.edit(job, "times", utt_id=p["nudge"].id, end=p["nudge"].end + 30)
    record = client.wait(job, timeout=300)
    assert record["status"] == "awaiting_review"
    doc = client.load_document(job)
    assert {*merged, *added} <= {u.id for u in doc.utterances}
    assert doc.speakers["Carol"].gender == "female" and doc.get(p["move"].id).speaker == "Carol"

    # An imported file without our bookkeeping keeps its translations through approve.
    data = doc.to_dict()
    for u in data["utterances"]:
        for key in ("translation_source", "machine_translation", "render_key", "clip"):
            u.pop(key)
    data["utterances"][0]["translated_text"] = "Traducido a mano en otro programa."
    client.save_document(job, Document.from_dict(data), base_revision=doc.revision)

    client.approve(job)
    record = client.wait(job, timeout=600)
    assert record["status"] == "completed", record
    report = json.loads(Path(record["outputs"]["report"]).read_text())
    assert report["utterances"] == len(doc.utterances)
    kept = client.load_document(job)
    assert kept.utterances[0].translated_text == "Traducido a mano en otro programa."
    assert [u.translated_text for u in kept.utterances[1:]] == [u.translated_text for u in doc.utterances[1:]]
    doc = client.load_document(job)
    assert doc.speakers["Carol"].voice and doc.speakers["Carol"].voice not in {
        v.voice for k, v in doc.speakers.items() if k != "Carol"}

    # A save that lands while the worker renders: kept, and the worker renders the edited line again.
    target = sorted(doc.utterances, key=lambda u: u.start)[-1]
    landed = False
    for attempt in range(4):
        mine = client.load_document(job)
        mine.get(target.id).translated_text = f"Cambiado durante el render {attempt}."
        first = sorted(mine.utterances, key=lambda u: u.start)[0]
        first.translated_text = first.translated_text.rstrip(".") + f" {attempt}."  # work for the render
        client.save_document(job, mine)
        client.rerender(job)
        wait_for(lambda: client.get(job)["status"] == "running", 120, interval=0.01, what="the render")
        racing = client.load_document(job)
        racing.get(target.id).translated_text = f"Guardado mientras renderizaba {attempt}."
        try:
            client.save_document(job, racing)
        except RevisionConflict:
            continue  # the worker saved between our load and save: that save was refused, as it must be
        landed = client.get(job)["status"] == "running"
        record = client.wait(job, timeout=600)
        assert record["status"] == "completed", record
        if landed:
            break
    assert landed, "no save landed during a render"
    assert "saved during the render; rendering again" in (Path(env["DUBBING_DATA_DIR"]) / "worker.log").read_text()
    final = client.load_document(job)
    assert final.get(target.id).translated_text == f"Guardado mientras renderizaba {attempt}."
    assert synthesize.current(pipeline.context(Path(record["job_dir"])))  # the edit is in the output
    stale = racing
    stale.get(target.id).translated_text = "Otra vez, sobre una versión vieja."
    with pytest.raises(RevisionConflict):
        client.save_document(job, stale)
    assert client.load_document(job).get(target.id).translated_text == final.get(target.id).translated_text
