"""The voice detector: regions drawn from Silero's probabilities as faster-whisper draws them, heard once."""
import numpy as np
import pytest
from faster_whisper.vad import VadOptions, get_speech_timestamps

from dubbing import vad
from tests.conftest import shared_media
from tests.conversations import load16k

SETTINGS = [(0.35, 300, 200), (0.4, 150, 100), (0.5, 300, 100), (0.5, 2000, 400)]


@pytest.mark.parametrize("name", ["multi2_ami_dev00.wav", "mp4_en_auto-editor_example.mp4", "en_jfk_inaugural.flac"])
def test_regions_are_faster_whispers_own(name):
    x = load16k(shared_media(name))
    for threshold, silence, pad in SETTINGS:
        theirs = [(s["start"], s["end"]) for s in get_speech_timestamps(
            x, VadOptions(threshold=threshold, min_silence_duration_ms=silence, speech_pad_ms=pad))]
        ours = vad.regions_from(vad.speech_probabilities(x), len(x), threshold=threshold,
                                min_silence_ms=silence, pad_ms=pad)
        assert ours == theirs and ours


def test_a_track_is_heard_once_however_many_kinds_of_regions_are_asked_for():
    x = load16k(shared_media("mp4_en_auto-editor_example.mp4"))
    first = vad.speech_probabilities(x)
    assert vad.speech_probabilities(x.copy()) is first  # the same track, another array: not heard again
    loud = x * 2
    assert vad.speech_probabilities(loud) is not first  # another track is
    tight, generous = vad.tight_regions(x, 16000), vad.speech_regions(x, 16000)
    assert len(tight) >= len(generous) and all(b > a for a, b in tight + generous)
    # Tight regions sit inside the generous ones (less padding, shorter pauses kept).
    assert all(any(c - 0.01 <= a and b <= d + 0.01 for c, d in generous) for a, b in tight)
