"""A person who says only a word or two: found by the voice of each short turn, not by the clusters.

The clusters of the count are built from 2 s blocks and 1.5 s windows. A person with one or two short
turns in a minute (a reply, a question from the floor) has few windows of their own, each holding the
neighbours' speech too, and their blocks join the nearest cluster at the looser threshold of a small
one: a woman's two replies (2.1 s) in a man's monologue vanished into his voice. Heard alone by ECAPA-TDNN,
such a turn is plainly nobody already found. Measured on 367 pauses-bounded regions of 26 conversations
(18 with one such person, 8 held-out): a region was 0.31-0.93 alike (5th-100th percentile) to its own
speaker's ECAPA centre (0.21 at the 2nd percentile for regions under 0.8 s), and at most 0.37 alike to
any other speaker's (0.26 at the 99th percentile); the two lost replies were 0.01 and 0.17 alike to the
one speaker found.

Pure numpy on arrays the diarizer stores, so that re-detecting with the automatic count from its
stored state decides the same way.
"""
from __future__ import annotations

import numpy as np

# Regions standing between pauses that are checked: a longer one has blocks of its own. From a one-word
# reply up: a man who says only "three", now and then (0.58-0.71 s between pauses), and a far-field meeting
# voice of 0.6-0.8 s phrases were lost at 0.8, where shorter regions were thought too noisy for ECAPA
# (own-speaker similarity under 0.3 at the 5th percentile); the screens, the bars, the total and
# CLEAR_MIN_S below keep them from making people. On 300 fresh conversations (2-4 people of the pool)
# counts right 269 -> 278, none made wrong; on 175 held-out conversations and single speakers nothing
# changed but the far-field four (2 -> 3 of 4 found). 0.7 gave 270, 0.6 275 (without CLEAR_MIN_S).
STRANGER_MIN_S = 0.55
STRANGER_MAX_S = 4.0
# Only regions whose GE2E embedding is already unlike every cluster (the cheap encoder's screen) are
# heard by ECAPA. The lost replies were 0.40-0.67 alike; 0.8 let a quarter of all regions through and
# cost 0.3-0.7 s on a minute of conversation, 0.75 about 0.2 s with the same counts (0.7 lost one).
STRANGER_SCREEN = 0.75
# ECAPA hears at most the first HEAR_S of a region: its cost grows with the audio (0.035 s per second).
HEAR_S = 2.0
# A region under this ECAPA similarity to every speaker's centre is nobody found yet. Each centre leaves out
# the blocks that overlap the region (`centres_apart`): on 444 stored and fresh conversations that found
# 5 more people of one short turn (410 counts right, was 406) and invented nobody.
STRANGER_SIMILARITY = 0.25
# Two such regions this alike are one new person. ECAPA on short pieces is noisy: on 131 pieces of
# 0.8-2 s of the pool's voices, pairs of one person were 0.39 alike at the median and under 0.15 in 10%
# (a selfie speaker's two replies 0.26), pairs of two people 0.15 or more in 12%. A newcomer split in
# two is worse than two newcomers (rare) sharing a voice, so the bar is low.
STRANGER_GROUP = 0.15
# A new person needs this much speech in all (a single cough or laugh is shorter), unless every region of
# theirs is under STRANGER_CLEAR alike to everyone: no region was so unlike its own speaker (0.23 at
# least, of 302 of 0.8-4 s), and one-word replies of 0.9 s were 0.03 alike to the one talker.
STRANGER_TOTAL_S = 1.0
STRANGER_CLEAR = 0.1
# ... and they hold this much: one region under it is too noisy to make a person alone. Made so, in 3 of
# 300 fresh conversations a far-field woman's one 0.55-0.65 s phrase was a person of one line, the rest of
# her speech under her neighbour's label, and in another a far-field man got a second label.
CLEAR_MIN_S = 0.8


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine similarity is then a product); the diarizer uses it too."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


def candidate_spans(regions: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The regions between pauses that are long enough to be heard alone and short enough to be lost.

    Not the edges of longer regions, where a reply that follows another person with no pause lies: heard
    alone (0.9 s), they found the reply in 3 more of 64 pairs, but invented a person in 4 of 144
    conversations (edges of one talker's turns, unlike the rest of them)."""
    return [(a, b) for a, b in regions if STRANGER_MIN_S <= b - a <= STRANGER_MAX_S]


def screened(piece_emb: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Which candidates' GE2E embeddings are unlike every GE2E speaker centre: one set [k, 256] for all,
    or one per candidate [candidates, k, 256] (`window_centres_apart`)."""
    if not len(piece_emb):
        return np.zeros(0, dtype=bool)
    centres = np.broadcast_to(unit_rows(centres), (len(piece_emb), *centres.shape[-2:]))
    return np.einsum("nd,nkd->nk", unit_rows(piece_emb), centres).max(axis=1) < STRANGER_SCREEN


def window_centres_apart(unit: np.ndarray, labels: np.ndarray, wins: np.ndarray, spans: list[tuple[float, float]],
                         whole: np.ndarray) -> np.ndarray:
    """Each speaker's GE2E centre per span [spans, k, 256], from their windows that do not overlap it (their
    `whole` centre [k, 256] where all do). Two people of one short turn each, a French man's and a French
    woman's, made one GE2E cluster (0.63 alike); screened against a centre half made of itself, neither turn
    was heard by ECAPA, which finds them -0.02 alike."""
    return _centres_apart(unit, np.asarray(labels), np.asarray(wins), spans, whole)


def _centres_apart(unit: np.ndarray, labels: np.ndarray, row_spans: np.ndarray, spans,
                   whole: np.ndarray) -> np.ndarray:
    """Per span [spans, k, d], each label's unit mean of the `unit` rows whose `row_spans` do not overlap
    it; `whole` [k, d] where every row of a label does."""
    out = np.repeat(whole[None], len(spans), axis=0)
    for n, (a, b) in enumerate(spans):
        apart = (row_spans[:, 1] <= a) | (row_spans[:, 0] >= b)
        for c in range(len(whole)):
            rows = unit[apart & (labels == c)]
            if len(rows):
                out[n, c] = unit_rows(rows.mean(axis=0))
    return out


def heard_centres(block_voices: np.ndarray, block_labels: list[int]) -> dict[int, np.ndarray]:
    """The ECAPA centre of each speaker with a block heard (NaN rows were not), by label."""
    out = {}
    for c in sorted(set(block_labels) - {-1}):
        rows = [block_voices[i] for i, lab in enumerate(block_labels) if lab == c and np.isfinite(block_voices[i]).all()]
        if rows:
            out[c] = unit_rows(unit_rows(np.array(rows)).mean(axis=0))
    return out


def voice_centres(block_voices: np.ndarray, block_labels: list[int], k: int) -> np.ndarray | None:
    """Each speaker's ECAPA centre from the blocks heard; None when a speaker has no block heard (then
    nobody can be called a stranger to them)."""
    heard = heard_centres(block_voices, block_labels)
    return np.array([heard[c] for c in range(k)]) if all(c in heard for c in range(k)) else None


def centres_apart(block_voices: np.ndarray, block_labels: list[int], block_spans: np.ndarray, spans: np.ndarray,
                  k: int) -> np.ndarray | None:
    """`voice_centres` per span [spans, k, 192], each from the blocks that do not overlap that span (a
    speaker's own centre where all of their blocks do). A short turn that the clusters gave to someone
    else is often one of the few blocks heard for them: a 1.3 s greeting, one of its speaker's three
    blocks, was 0.54 alike to that centre and 0.17-0.19 to the other two blocks, the other person's.
    `block_spans`: the speech each block stands for (its windows reach into the pause beyond it, and
    counted so, the next turn's block overlapped a 0.8 s phrase 0.3 s before it: see `block_speech`)."""
    whole = voice_centres(block_voices, block_labels, k)
    if whole is None:
        return None
    heard = np.isfinite(block_voices).all(axis=1)
    return _centres_apart(unit_rows(block_voices[heard]), np.asarray(block_labels)[heard],
                          np.asarray(block_spans)[heard], spans, whole)


def stranger_labels(spans: np.ndarray, voices: np.ndarray, centres: np.ndarray,
                    bars: np.ndarray | None = None) -> dict[tuple[float, float], int]:
    """New labels (from the number of speakers on) for the regions far from every speaker's voice, grouped
    into people by how alike they are; a group with under STRANGER_TOTAL_S of speech stays with its
    neighbours unless it is plainly nobody there (STRANGER_CLEAR) and holds CLEAR_MIN_S. `centres`: the
    speakers' ECAPA centres [k, 192], or one set per region [regions, k, 192] (`centres_apart`). `bars`: the
    similarity each region must be under (STRANGER_SIMILARITY where not given)."""
    if not len(spans):
        return {}
    unit = unit_rows(voices)
    centres = np.broadcast_to(centres, (len(spans), *centres.shape[-2:]))  # one set for all, or per span
    nearest = np.einsum("nd,nkd->nk", unit, centres).max(axis=1)
    far = np.flatnonzero(nearest < (STRANGER_SIMILARITY if bars is None else np.asarray(bars)))
    groups: list[list[int]] = []
    for i in far:
        home = next((g for g in groups if max(float(unit[i] @ unit[j]) for j in g) >= STRANGER_GROUP), None)
        if home is None:
            groups.append([int(i)])
        else:
            home.append(int(i))
    out, label = {}, centres.shape[1]
    for g in groups:
        total = sum(spans[i][1] - spans[i][0] for i in g)
        if total >= STRANGER_TOTAL_S or (nearest[g].max() < STRANGER_CLEAR and total >= CLEAR_MIN_S):
            out.update({(float(spans[i][0]), float(spans[i][1])): label for i in g})
            label += 1
    return out
