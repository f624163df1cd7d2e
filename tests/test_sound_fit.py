"""Fitting speech into its slot, line loudness, the limiter, the duck and the mix level: real DSP on real arrays."""
import subprocess
import sys

import numpy as np
import pytest

from dubbing import audio
from dubbing.models import Document, DubSettings, Utterance
from dubbing.stages import mix, synthesize
from dubbing.stages.context import Context

SR = 16000


def tone(seconds: float, amp: float = 0.3, sr: int = SR, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    # A tone with a syllable-like envelope, so stretching and loudness see something speech-like.
    return (amp * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


@pytest.mark.parametrize("length, slot, window, expect", [
    (2.0, 2.0, 3.0, 1.0),     # fills its slot: untouched
    (1.9, 2.0, 3.0, 0.95),    # a little short: slowed to fill it
    (1.0, 2.0, 3.0, 0.9),     # far too short: slowed only to the floor
    (2.5, 2.0, 3.0, 1.0),     # longer than the slot: borrows the gap before speeding up
    (3.6, 2.0, 3.0, 1.2),     # longer than the window: sped up
    (6.0, 2.0, 3.0, 1.3),     # capped
])
def test_speed_fills_the_slot_within_floor_and_cap(length, slot, window, expect):
    assert synthesize.speed_for(length, slot, window, 0.9, 1.3) == pytest.approx(expect, abs=1e-3)


def test_a_short_line_is_slowed_to_fill_its_slot(tmp_path):
    ctx = Context(tmp_path, DubSettings(target_language="es"))
    u = Utterance(id=0, start=1.0, end=3.0, speaker="A", text="x", translated_text="y")
    clip = synthesize.fit(ctx, u, tone(1.9), SR, 4.0, np.zeros(SR * 6, np.float32), SR)
    assert u.speed == pytest.approx(0.95, abs=0.01)
    assert len(clip) / SR == pytest.approx(2.0, abs=0.03) and u.fill == pytest.approx(1.0, abs=0.02)
    ctx.settings.min_speed = 1.0  # the setting: never slow down
    clip = synthesize.fit(ctx, u, tone(1.0), SR, 4.0, np.zeros(SR * 6, np.float32), SR)
    assert u.speed == 1.0 and u.fill == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("orig_amp", [0.01, 0.05, 0.3])
def test_line_loudness_follows_the_original_and_never_clips(orig_amp):
    orig = tone(2.0, orig_amp, freq=150.0)
    loud = tone(2.0, 2.5)  # eSpeak-like overshoot beyond full scale
    out = synthesize.match_loudness(loud, SR, orig)
    target = np.clip(audio.loudness(orig, SR), *synthesize.LINE_LUFS_RANGE)
    assert audio.true_peak(out) <= audio.db_to_gain(synthesize.LINE_PEAK_DB) + 1e-3
    assert np.max(np.abs(out)) < 1.0
    # The limiter may take a little off the top of a line that was at the ceiling.
    assert audio.loudness(out, SR) == pytest.approx(target, abs=1.5)


def test_limiter_keeps_true_peak_under_the_ceiling_and_leaves_the_rest_alone():
    x = tone(3.0, 0.2)
    x[SR: SR + 800] *= 8.0  # a burst at 1.6 x full scale
    y = audio.limit(x, SR, -1.0)
    assert audio.true_peak(y) <= audio.db_to_gain(-1.0)
    assert np.array_equal(y[: SR - 1000], x[: SR - 1000]) and np.array_equal(y[SR + 2000:], x[SR + 2000:])
    stereo = np.stack([x, 0.5 * x], axis=1)
    assert audio.true_peak(audio.limit(stereo, SR, -1.0)) <= audio.db_to_gain(-1.0)


def test_true_peak_sees_peaks_between_samples():
    # A sine at a quarter of the rate, sampled 45 degrees off its peaks: samples at 0.707, true peak 1.0.
    n = np.arange(4000)
    x = np.sin(np.pi / 2 * n + np.pi / 4).astype(np.float32)
    assert np.max(np.abs(x)) == pytest.approx(0.707, abs=0.01)
    assert audio.true_peak(x) == pytest.approx(1.0, abs=0.03)


def test_loudness_of_a_line_shorter_than_one_block():
    x = tone(0.2, 0.1)
    assert audio.loudness(x, SR) == pytest.approx(audio.loudness(np.tile(x, 10), SR), abs=1.0)
    assert audio.loudness(np.zeros(100, np.float32), SR) == audio.SILENCE_LUFS


@pytest.mark.parametrize("sr,shape", [(16000, (48000,)), (22050, (154350, 2)), (48000, (2928000, 2)),
                                      (44100, (3000,)), (48000, (480000, 5))])
def test_loudness_measures_as_pyloudnorm_does_in_pieces(sr, shape):
    import pyloudnorm
    rng = np.random.default_rng(3)
    swell = np.sin(np.linspace(0, 20, shape[0])) ** 2  # quiet and loud stretches, so both gates act
    x = (0.2 * rng.standard_normal(shape) * (swell if len(shape) == 1 else swell[:, None])).astype(np.float32)
    ours = audio.loudness(x, sr)
    reference = np.concatenate([x] * (int(0.4 * sr) // len(x) + 1)) if len(x) <= 0.4 * sr else x
    assert ours == pytest.approx(pyloudnorm.Meter(sr).integrated_loudness(reference.astype(np.float64)), abs=1e-3)
    # In pieces: the answer does not depend on where the chunks fall.
    assert audio._block_energy(x if x.ndim == 2 else x[:, None], sr, chunk=12345) == \
        pytest.approx(audio._block_energy(x if x.ndim == 2 else x[:, None], sr), rel=1e-9)


def test_true_peak_envelope_is_scipys_four_times_oversampling():
    from scipy.signal import resample_poly
    rng = np.random.default_rng(5)
    x = (0.3 * rng.standard_normal((5000, 2))).astype(np.float32)
    reference = np.abs(resample_poly(x, 4, 1, axis=0)).reshape(len(x), 4, 2).max(axis=(1, 2))
    assert np.max(np.abs(audio.peak_envelope(x) - reference)) < 1e-5


def test_loudness_limiter_and_duck_do_not_import_scipy_signal_or_ndimage():
    # Importing scipy.signal takes 0.7-1.3 s and scipy.ndimage 0.3 s: together more than a whole
    # update after one edit.
    code = ("import sys, numpy as np; from dubbing import audio; from dubbing.stages import mix; "
            "x = np.random.default_rng(0).standard_normal(48000).astype(np.float32) * 0.1; "
            "audio.loudness(x, 48000); audio.limit(x * 20, 48000); mix.duck_gain(x, 48000, [(0.2, 0.5)], -18.0); "
            "print(sorted(m for m in ('scipy.signal', 'scipy.ndimage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_running_filters_are_scipys():
    from scipy.ndimage import binary_closing, minimum_filter1d, uniform_filter1d
    rng = np.random.default_rng(7)
    for n, size in ((1, 3), (5, 11), (1000, 101), (12345, 2401)):
        x = rng.random(n).astype(np.float32)
        assert np.array_equal(audio.running_min(x, size), minimum_filter1d(x, size))
        assert np.allclose(audio.moving_mean(x, size), uniform_filter1d(x, size), atol=1e-6)
    for _ in range(300):
        active, hold = rng.random(int(rng.integers(1, 200))) < rng.uniform(0.1, 0.9), int(rng.integers(1, 30))
        closed = binary_closing(np.pad(active, hold), structure=np.ones(hold, bool))[hold:-hold]
        assert np.array_equal(mix.fill_gaps(active, hold), closed)


def test_stretch_changes_length_not_pitch():
    x = tone(2.0, 0.3, freq=300.0)
    for speed in (0.9, 1.3):
        y = audio.stretch(x, SR, speed)
        assert len(y) == pytest.approx(len(x) / speed, abs=2)
        spec = np.abs(np.fft.rfft(y[SR // 4: SR // 4 + 8192]))
        assert np.fft.rfftfreq(8192, 1 / SR)[np.argmax(spec)] == pytest.approx(300.0, abs=5.0)


def test_duck_follows_the_dub_with_attack_hold_and_release():
    sr = 1000
    dub = np.zeros(10 * sr, np.float32)
    dub[2000:3000] = 0.3
    dub[3200:4000] = 0.3  # a 0.2 s pause: the background must not pump up in it
    g = mix.duck_gain(dub, sr, [], -18.0)
    low = audio.db_to_gain(-18.0)
    assert np.allclose(g[:1850], 1.0, atol=1e-3)
    assert g[2000] == pytest.approx(low, rel=0.05)  # already down when speech starts
    assert 1.0 > g[1960] > low  # on the way down (attack)
    assert np.all(g[2000:4000] <= low * 1.05)  # held through the short pause
    assert low < g[4150] < 1.0  # released gradually, not at once
    assert np.allclose(g[4500:], 1.0, atol=1e-3)


def test_a_slot_keeps_the_original_speaker_ducked_even_where_the_dub_is_short():
    sr = 1000
    dub = np.zeros(6 * sr, np.float32)
    dub[1000:1500] = 0.3
    g = mix.duck_gain(dub, sr, [(1.0, 3.0)], -18.0)
    assert np.all(g[1000:3000] <= audio.db_to_gain(-18.0) * 1.05)


def test_lines_that_start_together_keep_one_voice_level(tmp_path):
    (tmp_path / "work" / "clips").mkdir(parents=True)
    voiced = []
    for i in range(2):
        audio.write(tmp_path / "work" / "clips" / f"{i}.wav", tone(1.0, 0.3), SR)
        voiced.append(Utterance(id=i, start=0.5, end=1.5, speaker=f"S{i}", text="x", translated_text="y",
                                clip=f"clips/{i}.wav"))
    ctx = Context(tmp_path, DubSettings(target_language="es"))
    dub = mix.dub_track(ctx, voiced, 3 * SR, SR)
    assert audio.rms(dub[SR // 2: SR + SR // 2]) == pytest.approx(np.sqrt(2) * audio.rms(tone(1.0, 0.3)), rel=0.05)


def test_master_brings_the_mix_to_the_original_loudness_under_the_ceiling():
    orig = np.stack([tone(10.0, 0.1)] * 2, axis=1)
    hot = np.stack([tone(10.0, 0.9)] * 2, axis=1)
    out, level = mix.master(hot, audio.loudness(orig, SR), SR)
    assert abs(level["loudness_difference_lu"]) <= 1.0 and level["clipped_samples"] == 0
    assert level["true_peak_dbtp"] <= mix.PEAK_CEILING_DB + 0.01
    assert audio.loudness(out, SR) == pytest.approx(audio.loudness(orig, SR), abs=1.0)
    close = orig * audio.db_to_gain(0.5)  # within the deadband: left as it is (edits stay local)
    out, level = mix.master(close, audio.loudness(orig, SR), SR)
    assert level["normalise_gain_db"] == 0.0 and np.array_equal(out, close.astype(np.float32))


def test_fit_summary_reports_fill_share_speeds_and_overruns():
    utts = [Utterance(id=i, start=2.0 * i, end=2.0 * i + d, speaker="A", text="x", translated_text="y",
                      clip=f"c{i}.wav", fill=f, speed=s, overrun=o, overrun_seconds=0.4 if o else 0.0)
            for i, (d, f, s, o) in enumerate([(1.5, 0.9, 0.9, False), (1.5, 0.5, 0.9, False),
                                              (0.5, 0.2, 0.9, False), (1.8, 1.1, 1.3, True)])]
    doc = Document("en", "es", DubSettings(target_language="es"), utterances=utts)
    s = synthesize.fit_summary(doc)
    assert s["lines"] == 4 and s["lines_1s_or_more"] == 3
    assert s["fill_share_70"] == pytest.approx(2 / 3, abs=1e-3)  # the 0.5 s line is too short to count
    assert s["speed_histogram"] == {"0.90": 3, "1.30": 1}
    assert s["overruns"] == 1 and s["overrun_seconds"] == 0.4 and s["slowed"] == 3 and s["sped_up"] == 1


def test_pauses_inside_a_line_take_the_missing_time_not_the_edges():
    word, pause = tone(0.5), np.zeros(int(0.2 * SR), np.float32)
    x = np.concatenate([word, pause, word, pause, word])
    y = audio.lengthen_pauses(x, SR, 0.3)
    assert len(y) == pytest.approx(len(x) + 0.3 * SR, abs=SR * 0.01)
    assert np.array_equal(y[: len(word)], word) and np.array_equal(y[-len(word):], word)
    capped = audio.lengthen_pauses(x, SR, 10.0)  # each pause at most 3x: 2 x 0.4 s more
    assert len(capped) == pytest.approx(len(x) + 0.8 * SR, abs=SR * 0.02)
    assert np.array_equal(audio.lengthen_pauses(word, SR, 1.0), word)  # nothing to lengthen


def test_a_short_line_with_pauses_fills_its_slot_through_them(tmp_path):
    ctx = Context(tmp_path, DubSettings(target_language="es"))
    x = np.concatenate([tone(0.6), np.zeros(int(0.3 * SR), np.float32), tone(0.6)])
    u = Utterance(id=0, start=0.0, end=2.0, speaker="A", text="x", translated_text="y")
    clip = synthesize.fit(ctx, u, x, SR, 3.0, np.zeros(SR * 4, np.float32), SR)
    assert u.speed == pytest.approx(0.9, abs=0.01)
    assert len(clip) / SR == pytest.approx(2.0, abs=0.03) and u.fill == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("hop,frames", [(480, 1000), (441, 77), (7, 13), (1, 10)])
def test_frame_gains_reach_the_samples_as_np_interp_would(hop, frames):
    values = np.random.default_rng(hop).random(frames)
    n = frames * hop - min(3, hop - 1)
    expected = np.interp(np.arange(n), (np.arange(frames) + 0.5) * hop, values)
    got = mix.frames_to_samples(values, hop, n)
    assert got.dtype == np.float32 and len(got) == n
    assert np.abs(got - expected).max() < 1e-6


def test_filters_in_blocks_equal_the_filter_on_the_whole_track():
    from scipy.ndimage import minimum_filter1d, uniform_filter1d
    x = np.random.default_rng(5).random(1_000_003).astype(np.float32)
    for filt, size in ((minimum_filter1d, 2401), (uniform_filter1d, 1201)):
        assert np.array_equal(audio._in_blocks(filt, x, size, block=65536), filt(x, size))
