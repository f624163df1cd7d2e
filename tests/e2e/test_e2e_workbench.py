"""The Review page as a reviewer's workbench, in a real browser, on a real two-person recording
(AMI meeting, 30 s, muxed into an MP4 here): split a mixed line, move one half to a new speaker,
merge two fragments, delete a line, insert one, edit an original and see it translated again
before approval, a clash with someone else's save, approve, and the rendered result.

Screenshots of each state at 1280x800 and 1920x1080 go to test-output/screenshots/ (the
visible part as *_fold.png, the whole page beside it). A second job with 60 lines measures how
long page interactions take to settle; the figures are printed.

Run alone (CPU is scarce): `.venv/bin/python -m pytest tests/e2e/test_e2e_workbench.py -s -q`.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

pytest.importorskip("pytest_playwright", reason="pip install playwright pytest-playwright (never `playwright install`)")
from playwright.sync_api import Page, expect  # noqa: E402
from grid import edit_cell  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MEDIA = REPO.parent / "shared" / "media"
SCREENSHOTS = REPO / "test-output" / "screenshots"
SIZES = ((1280, 800), (1920, 1080))
# Data editor columns, left to right: #, pick, status, mute, speed, start, end, speaker, original, translation
ORIGINAL_COLUMN, TRANSLATION_COLUMN = 8, 9
NEW_ORIGINAL = "We are here because of a real reaction in the group."


@pytest.fixture(scope="module")
def call_mp4(tmp_path_factory) -> Path:
    wav = MEDIA / "multi2_ami_dev00.wav"
    if not wav.exists():
        pytest.skip(f"{wav} is absent (../shared/media is provided beside the repo in CI)")
    out = tmp_path_factory.mktemp("media") / "call.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=gray:s=320x240:r=25", "-i", str(wav), "-shortest", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)], check=True)
    return out


@pytest.fixture
def runner(app, monkeypatch):
    """The job runner's client on the app's own data folder (what a second tab would do)."""
    monkeypatch.setenv("DUBBING_DATA_DIR", str(app.data_dir))
    from dubbing.jobs import client
    return client


def turns() -> list[tuple[float, float, str]]:
    out = []
    for line in (MEDIA / "multi2_ami_dev00.rttm").read_text().splitlines():
        f = line.split()
        out.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return out


def shots(page: Page, shot, name: str) -> None:
    """The state at both sizes: what is above the fold, and the whole page."""
    first = page.viewport_size
    for w, h in SIZES:
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(700)
        wait_idle(page)
        page.locator("[data-testid=stDataFrame] canvas").first.wait_for(timeout=15_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOTS / f"{name}_{w}x{h}_fold.png"))
        shot(page, f"{name}_{w}x{h}")
    page.set_viewport_size(first)


def wait_idle(page: Page, timeout: float = 30) -> None:
    """Until the script has finished its run: no status widget ("Running…") and no stale elements left."""
    page.wait_for_timeout(150)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')"
                           " && !document.querySelector('[data-stale=true]')", timeout=timeout * 1000)


def wait_job(runner, job_id: str, status: str = "awaiting_review", timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        record = runner.get(job_id)
        if record["status"] == status:
            return record
        assert record["status"] != "failed", record.get("error")
        assert time.monotonic() < deadline, f"job still {record['status']}"
        time.sleep(0.3)


def line_box(page: Page):
    """The selected line's picker (a combobox whose value is the line, e.g. "#3 · 12.20–15.22 s · ...")."""
    return page.get_by_role("combobox", name="Line", exact=True)


def shows_line(uid: int):
    return re.compile(rf"^#{uid} ·")


def pick_option(page: Page, box, name, typed: str | None = None) -> None:
    """Open a select box (a click, or the arrow key when the click only focused it) and pick an option;
    `typed` filters a long list first (only the first options of a long list are drawn)."""
    box.click()
    if typed:
        box.fill(typed)
    option = page.get_by_role("option", name=name)
    try:
        option.wait_for(timeout=3_000)
    except Exception:
        box.press("ArrowDown")
    option.click()


def select_line(page: Page, uid: int) -> None:
    if re.match(shows_line(uid), line_box(page).input_value() or ""):
        return
    pick_option(page, line_box(page), re.compile(rf"^#{uid} ·"), typed=f"#{uid} ·")
    expect(line_box(page)).to_have_value(shows_line(uid))
    wait_idle(page)


def tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def fill(page: Page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    wait_idle(page)


def revision(runner, job_id: str) -> int:
    return document(runner, job_id).get("revision", 0)


def document(runner, job_id: str) -> dict:
    """The job's utterances.json as it is on disk now."""
    return json.loads((runner_dir(runner, job_id) / runner.DOCUMENT).read_text())


def after_edit(page: Page, runner, job_id: str, lines: int, before: int, timeout: float = 120,
               settled=None) -> dict:
    """The edit saved (a newer revision), any re-translation it queued done, and the page redrawn.

    `settled(doc)` says when the work the edit queued is in the file: the page saves first and queues
    the translation just after, so the job can still read "awaiting review" between the two."""
    deadline = time.monotonic() + timeout
    while revision(runner, job_id) <= before:
        assert time.monotonic() < deadline, "the edit never reached the file"
        time.sleep(0.2)
    while settled is not None and not settled(document(runner, job_id)):
        assert time.monotonic() < deadline, "the work the edit queued never reached the file"
        time.sleep(0.2)
    wait_job(runner, job_id)
    expect(page.get_by_role("heading", name=f"Lines ({lines})")).to_be_visible(timeout=60_000)
    wait_idle(page)
    return document(runner, job_id)


def runner_dir(runner, job_id: str) -> Path:
    return Path(runner.get(job_id)["job_dir"])


def lanes(page: Page) -> list[str]:
    label = page.locator("[aria-label^='Y-axis for a discrete scale']").first.get_attribute("aria-label")
    return [s.strip() for s in label.split(":", 1)[1].split(",")]


def speaker_name(doc: dict, key: str) -> str:
    return (doc["speakers"].get(key) or {}).get("name") or key


def overlap(a0, a1, b0, b1) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def mixed_line(doc: dict) -> tuple[dict, float]:
    """The line holding most speech of a second person, and where the speaker changes inside it."""
    best, best_share, cut = None, 0.0, None
    for u in doc["utterances"]:
        per = {}
        for s, e, who in turns():
            per[who] = per.get(who, 0.0) + overlap(u["start"], u["end"], s, e)
        if len(per) < 2:
            continue
        second = sorted(per.values())[-2]
        if second > best_share:
            inside = [t for s, e, _ in turns() for t in (s, e) if u["start"] + 0.3 < t < u["end"] - 0.3]
            if inside:
                best, best_share, cut = u, second, inside[0]
    assert best is not None, "no line holds two people's speech"
    return best, round(cut, 2)


def test_reviewer_workbench_on_a_two_person_call(app, page: Page, shot, call_mp4, runner):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{app.url}/new")  # a link straight to the New dub page
    expect(page.get_by_role("heading", name="New dub")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    page.get_by_test_id("stFileUploader").locator('input[type="file"]').set_input_files(str(call_mp4))
    expect(page.get_by_test_id("stAlertContentSuccess").filter(has_text="call.mp4")).to_be_visible(timeout=60_000)
    page.get_by_test_id("stSelectbox").filter(has_text="Target language").click()
    page.get_by_role("option", name="Spanish (es)", exact=True).click()
    page.get_by_role("button", name="Start dubbing").click()
    page.wait_for_url("**/review?job=*", timeout=60_000)
    job_id = parse_qs(urlparse(page.url).query)["job"][0]
    job_dir = runner_dir(runner, job_id)
    expect(page.get_by_text("Check the transcript and translation")).to_be_visible(timeout=300_000)
    doc = document(runner, job_id)
    n = len(doc["utterances"])
    wait_idle(page)
    shots(page, shot, "10_review_awaiting")

    # The timeline: one lane per speaker.
    speakers = list(dict.fromkeys(speaker_name(doc, u["speaker"]) for u in doc["utterances"]))
    assert len(speakers) == 2
    assert sorted(lanes(page)) == sorted(speakers)
    # A click on a bar opens that line below; the selected bar is outlined.
    last = doc["utterances"][-1]
    page.locator(f"path[aria-label*='; id: {last['id']};']").first.click()
    expect(line_box(page)).to_have_value(shows_line(last['id']), timeout=10_000)
    wait_idle(page)

    # 1. Split a mixed line where the speaker changes.
    mixed, cut = mixed_line(doc)
    select_line(page, mixed["id"])
    fill(page, "…or at a time (s)", f"{cut:.2f}")
    rev = revision(runner, job_id)
    page.get_by_role("button", name="Split at this time").click()
    doc = after_edit(page, runner, job_id, n + 1, rev)
    halves = sorted((u for u in doc["utterances"] if mixed["start"] <= u["start"] < mixed["end"]),
                    key=lambda u: u["start"])
    assert len(halves) == 2 and mixed["id"] not in {u["id"] for u in doc["utterances"]}
    assert " ".join(h["text"] for h in halves).split() == mixed["text"].split()
    assert all(h["translated_text"] for h in halves), "both halves translated before anything is voiced"
    shots(page, shot, "11_split")

    # 2. Move the half that is the other person's to a new speaker.
    def person(u):
        return max(turns(), key=lambda t: overlap(u["start"], u["end"], t[0], t[1]))[2]
    owner = person(mixed)
    other = next(h for h in halves if person(h) != owner) if any(person(h) != owner for h in halves) else halves[1]
    select_line(page, other["id"])
    tab(page, "Speaker")
    pick_option(page, page.get_by_role("combobox", name="Move this line to"), "A new speaker…")
    wait_idle(page)
    fill(page, "New speaker's name", "Guest")
    rev = revision(runner, job_id)
    page.get_by_role("button", name="Move", exact=True).click()
    doc = after_edit(page, runner, job_id, n + 1, rev)
    moved = {u["id"]: u for u in doc["utterances"]}[other["id"]]
    assert speaker_name(doc, moved["speaker"]) == "Guest"
    expect(page.locator("[aria-label^='Y-axis for a discrete scale with 3 values']")).to_have_count(1)
    assert "Guest" in lanes(page)
    shots(page, shot, "12_moved_to_new_speaker")

    # 3. Merge two fragments: a line that stops mid-sentence, with the next line.
    lines = doc["utterances"]
    frag = next(u for u, v in zip(lines, lines[1:])
                if not re.search(r"[.?!]$", u["text"].strip()) and u["id"] not in {h["id"] for h in halves}
                and v["id"] not in {h["id"] for h in halves})
    nxt = lines[lines.index(frag) + 1]
    select_line(page, frag["id"])
    tab(page, "Merge or delete")
    rev = revision(runner, job_id)
    page.get_by_role("button", name="Merge with the next line").click()
    doc = after_edit(page, runner, job_id, n, rev)
    merged = next(u for u in doc["utterances"] if u["start"] == frag["start"])
    assert merged["end"] == nxt["end"] and merged["text"].split() == (frag["text"] + " " + nxt["text"]).split()
    assert merged["translated_text"]
    shots(page, shot, "13_merged")

    # 4. Delete a line (the last one).
    gone = doc["utterances"][-1]
    select_line(page, gone["id"])
    tab(page, "Merge or delete")
    rev = revision(runner, job_id)
    page.get_by_role("button", name="Delete this line").click()
    doc = after_edit(page, runner, job_id, n - 1, rev)
    assert gone["id"] not in {u["id"] for u in doc["utterances"]}
    shots(page, shot, "14_deleted")

    # 5. Insert a line in the longest pause.
    lines = doc["utterances"]
    before_gap = max(zip(lines, lines[1:]), key=lambda p: p[1]["start"] - p[0]["end"])[0]
    gap_end = lines[lines.index(before_gap) + 1]["start"]
    ins_start, ins_end = round(before_gap["end"] + 0.2, 2), round(min(gap_end - 0.2, before_gap["end"] + 2.2), 2)
    select_line(page, before_gap["id"])
    tab(page, "Insert a line")
    fill(page, "New line ends at (s)", f"{ins_end:.2f}")  # first, so the start never passes the end
    fill(page, "New line starts at (s)", f"{ins_start:.2f}")
    fill(page, "Original text", "Thank you all for coming today.")
    rev = revision(runner, job_id)
    page.get_by_role("button", name="Insert line").click()
    doc = after_edit(page, runner, job_id, n, rev)
    inserted = next(u for u in doc["utterances"] if u["text"] == "Thank you all for coming today.")
    assert (inserted["start"], inserted["end"]) == (ins_start, ins_end)
    assert inserted["translated_text"], "the new line is translated before approval"
    shots(page, shot, "15_inserted")

    # 5b. A line the machine heard in the wrong language: the reviewer says which one (French, which has
    # a translator to Spanish here), and it is translated again from it.
    edited_ids = {h["id"] for h in halves} | {merged["id"], inserted["id"]}
    said = next(u for u in doc["utterances"] if u["id"] not in edited_ids)
    select_line(page, said["id"])
    tab(page, "Language")
    pick_option(page, page.get_by_role("combobox", name="Spoken in"), "French (fr)", typed="French")
    wait_idle(page)
    shots(page, shot, "15a_language_tab")
    rev = revision(runner, job_id)
    page.get_by_role("button", name="Set language").click()
    doc = after_edit(page, runner, job_id, n, rev, settled=lambda d: any(
        u["id"] == said["id"] and u.get("language") == "fr" and u.get("translation_source") == u["text"]
        for u in d["utterances"]))
    expect(page.get_by_text("(French)", exact=False).first).to_be_visible()  # the pane names the language
    shots(page, shot, "15b_language")

    # 6. Edit an original in the table: saved, translated again, shown before approval.
    touched = edited_ids | {said["id"]}
    row = next(i for i, u in enumerate(doc["utterances"]) if u["id"] not in touched)
    first = doc["utterances"][row]
    edit_cell(page, ORIGINAL_COLUMN, row, NEW_ORIGINAL)
    expect(page.get_by_text("Unsaved edits: save them before leaving")).to_be_visible(timeout=15_000)
    shots(page, shot, "16_unsaved_original")
    rev = revision(runner, job_id)
    page.get_by_role("button", name="Save edits").click()
    doc = after_edit(page, runner, job_id, n, rev, settled=lambda d: any(
        u["id"] == first["id"] and u.get("translation_source") == NEW_ORIGINAL for u in d["utterances"]))
    edited = {u["id"]: u for u in doc["utterances"]}[first["id"]]
    assert edited["text"] == NEW_ORIGINAL
    assert edited["translation_source"] == NEW_ORIGINAL and edited["translated_text"] != first["translated_text"]
    select_line(page, edited["id"])
    pane_text = page.get_by_test_id("stMarkdownContainer").filter(has_text=edited["translated_text"])
    expect(pane_text.first).to_be_visible()  # the whole new translation, in the selected line's pane
    shots(page, shot, "17_original_translated_again")

    # 7. Someone else saves the same line meanwhile: the page refuses to overwrite it.
    clash = next(i for i, u in enumerate(doc["utterances"]) if u["id"] not in touched | {first["id"]})
    edit_cell(page, TRANSLATION_COLUMN, clash, "Mi versión de esta línea.")
    expect(page.get_by_text("Unsaved edits: save them before leaving")).to_be_visible(timeout=15_000)
    theirs = runner.load_document(job_id)
    theirs.utterances[clash].translated_text = "La versión de otra pestaña."
    runner.save_document(job_id, theirs)
    page.get_by_role("button", name="Save edits").click()
    expect(page.get_by_text("Someone else changed this job: reload")).to_be_visible(timeout=15_000)
    shots(page, shot, "18_conflict")
    page.get_by_role("button", name="Reload", exact=True).click()
    expect(page.get_by_text("Someone else changed this job")).to_have_count(0, timeout=15_000)
    wait_idle(page)

    # 8. Approve and render.
    page.get_by_role("button", name="Approve and render").click()
    wait_job(runner, job_id, "completed", timeout=300)
    expect(page.get_by_text("Completed").first).to_be_visible(timeout=60_000)
    wait_idle(page)
    shots(page, shot, "19_completed")

    # The rendered document carries every edit, and every line was voiced from it.
    final = document(runner, job_id)
    by_id = {u["id"]: u for u in final["utterances"]}
    assert {h["id"] for h in halves} <= set(by_id)
    assert speaker_name(final, by_id[other["id"]]["speaker"]) == "Guest"
    assert merged["id"] in by_id and by_id[merged["id"]]["text"] == merged["text"]
    assert gone["id"] not in by_id and mixed["id"] not in by_id
    assert inserted["id"] in by_id
    assert by_id[said["id"]]["language"] == "fr" and by_id[said["id"]]["translated_text"]
    assert by_id[edited["id"]]["text"] == NEW_ORIGINAL
    assert by_id[theirs.utterances[clash].id]["translated_text"] == "La versión de otra pestaña."
    for u in final["utterances"]:
        assert u["clip"] and (job_dir / "work" / u["clip"]).is_file(), f"line {u['id']} was not voiced"
    guest_voice = final["speakers"][by_id[other["id"]]["speaker"]]["voice"]
    assert guest_voice and guest_voice not in {s["voice"] for k, s in final["speakers"].items()
                                                if k != by_id[other["id"]]["speaker"]}
    # The audio: the inserted line's speech is in the mix where the original had a pause.
    import soundfile as sf
    mix, sr = sf.read(str(job_dir / "dubbed_audio.wav"), always_2d=True)
    orig, osr = sf.read(str(job_dir / "work" / "audio_orig.wav"), always_2d=True)
    assert sr == osr and abs(len(mix) - len(orig)) < sr

    def rms(x, s, e):
        return float(np.sqrt(np.mean(x[int(s * sr):int(e * sr)] ** 2)))
    mono_mix, mono_orig = mix.mean(axis=1), orig.mean(axis=1)[:len(mix)]
    diff = mono_mix[:len(mono_orig)] - mono_orig
    lead = min(u["start"] for u in final["utterances"]) - 0.2  # before any line: the original as it was
    assert rms(diff, 0.0, lead) < 0.1 * rms(mono_orig, 0.0, lead) + 1e-3
    assert rms(diff, ins_start, ins_end) > 0.5 * rms(mono_orig, ins_start, ins_end), "the inserted line is heard"
    clip, _ = sf.read(str(job_dir / "work" / by_id[inserted["id"]]["clip"]), always_2d=True)
    assert len(clip) / sr > 0.5


def sixty_lines(runner, job_id: str):
    """The job's document as 60 short lines over its 30 s (texts from its own transcript)."""
    from dubbing.models import Utterance
    doc = runner.load_document(job_id)
    words = " ".join(u.text for u in doc.utterances).split()
    keys = list(doc.speakers)
    doc.utterances = [Utterance(id=i, start=round(i * 0.49, 3), end=round(i * 0.49 + 0.4, 3), speaker=keys[i % 2],
                                text=" ".join(words[(i * 3) % len(words):(i * 3) % len(words) + 3]) or "hello",
                                translated_text=f"línea {i}") for i in range(60)]
    if hasattr(doc, "next_id"):
        doc.next_id = 60
    runner.save_document(job_id, doc)


def test_page_interactions_settle_fast_on_60_lines(app, page: Page, shot, call_mp4, runner):
    from dubbing.models import DubSettings
    job_id = runner.submit(call_mp4, "sixty.mp4", DubSettings(target_language="es", review=True))
    wait_job(runner, job_id)
    sixty_lines(runner, job_id)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{app.url}/review?job={job_id}")
    expect(page.get_by_role("heading", name="Lines (60)")).to_be_visible(timeout=60_000)
    wait_idle(page)
    shots(page, shot, "20_sixty_lines")

    def timed(action, done) -> float:
        t = time.perf_counter()
        action()
        done()
        seconds = time.perf_counter() - t
        wait_idle(page)
        return seconds

    figures: dict[str, list[float]] = {"cell edit": [], "save": [], "select a line": [], "timeline click": [],
                                       "delete a line": []}
    for i in range(3):
        committed = edit_cell(page, TRANSLATION_COLUMN, i, f"editado {i}")  # timed from the Enter that commits it
        expect(page.get_by_text("Unsaved edits: save them before leaving")).to_be_visible()
        figures["cell edit"].append(time.perf_counter() - committed)
        wait_idle(page)
        figures["save"].append(timed(
            lambda: page.get_by_role("button", name="Save edits").click(),
            lambda: expect(page.get_by_text("No unsaved edits.")).to_be_visible()))
        uid = 30 + i
        figures["select a line"].append(timed(
            lambda: pick_option(page, line_box(page), re.compile(rf"^#{uid} ·"), typed=f"#{uid} ·"),
            lambda: expect(line_box(page)).to_have_value(shows_line(uid))))
        bar = 50 + i
        figures["timeline click"].append(timed(
            lambda: page.locator(f"path[aria-label*='; id: {bar};']").first.click(),
            lambda: expect(line_box(page)).to_have_value(shows_line(bar))))
        figures["delete a line"].append(timed(
            lambda: (tab(page, "Merge or delete"), page.get_by_role("button", name="Delete this line").click()),
            lambda: expect(page.get_by_role("heading", name=f"Lines ({59 - i})")).to_be_visible()))
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    print(f"\nReview page on a 60-line job, seconds until the page settled (3 tries each; "
          f"load average {load:.1f} on {cpus} CPUs):")
    for name, secs in figures.items():
        print(f"  {name:15s} median {statistics.median(secs):.2f}  max {max(secs):.2f}  {[round(s, 2) for s in secs]}")
    # The target is 1 s. On a machine running several times more work than it has CPUs (a shared CI
    # box), the browser and server share what is left, so there only a regression guard applies.
    limit = 1.0 if load <= cpus else 3.0
    slow = {k: round(statistics.median(v), 2) for k, v in figures.items() if statistics.median(v) >= limit}
    assert not slow, f"interactions slower than {limit} s: {slow}"
