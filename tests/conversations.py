"""Development conversations with known turns, assembled from real recordings of distinct people.

The speakers come from `../shared/media` (single-speaker clips, the speakers of the AMI
meetings cut where they alone speak, the two channels of the stereo clip) and from the
AMI sample that pyannote.audio ships. A conversation takes 2 to 4 of them, alternates
their speech in turns of one to three pieces with realistic gaps (some turns follow
with no pause at all), and keeps the truth: who speaks when, and in which language.

Where Debian's codec2-examples is installed (`make` tries to, as an optional package), the pool also holds seven radio
amateurs and speech-coding test talkers from it: narrowband (8 kHz) voices, some over HF radio, that
none of the diarizer's values were chosen on (`codec2_held_out`). Where Debian's Asterisk prompt packages and
pocketsphinx-testdata are installed (optional too), it holds eight voice actors of telephone menus in English,
Spanish, French, Italian and Russian, one reader of an audio book and one talker of pocketsphinx's tests,
added on 2026-12-05 after every value was chosen (`prompt_held_out`). Where Debian's fillets-ng-data-nl and
-cs are installed (optional too), the Dutch and Czech voice actors of the game's two fish make acted
conversations, added on 2026-12-07 (`acted_held_out`).

Used by the structure tests (`tests/test_structure.py`) and `benchmarks/bench_structure.py`.
Speakers of one source meeting are only combined with each other or with speakers of
other corpora, so that no person can appear under two names.
"""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

SR = 16000
REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"
CODEC2 = Path("/usr/share/codec2")  # Debian's codec2-examples
# One person each, by their call signs and the transcripts. Left out: speech_orig_16k.wav (two voices
# reading alternate Harvard sentences: ECAPA finds sentences 1 and 3 alike, 2 and 4 alike, and
# the two pairs unlike), mmt1 (one of its sentences is in it), david4 and vk2tpm_004 (no words
# Whisper can hear), and morig/forig and the 2400 files (under 2 s).
CODEC2_SPEAKERS = [("cq_ref", "raw/cq_ref.raw", "male"), ("g3plx", "raw/g3plx.raw", "male"),
                   ("hts1", "raw/hts1.raw", "male"), ("hts2", "raw/hts2.raw", "female"),
                   ("kristoff", "raw/kristoff.raw", "male"), ("ve9qrp", "wav/ve9qrp.wav", "male"),
                   ("vk5qi", "wav/vk5qi.wav", "male")]
ASTERISK = Path("/usr/share/asterisk/sounds")  # Debian's asterisk-core-sounds-*-g722, asterisk-prompt-*
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")  # Debian's pocketsphinx-testdata
FILLETS = Path("/usr/share/games/fillets-ng/sound")  # Debian's fillets-ng-data-nl and fillets-ng-data-cs
# Levels of the Czech dub voiced by other people than the two fish (fan levels added later): ECAPA heard
# their lines 0.05-0.26 like the rest of each fish's, where a fish's own levels were 0.35 or more.
FILLETS_OTHER_VOICES = {"hanoi", "hole", "linux", "nowall", "rush", "corridor"}
# Name, folder, language, gender, person. Allison Smith recorded both the English and the Spanish
# prompts: one person, so never two of her in one conversation. "es" is asterisk-prompt-es-co's
# Colombian voice, "fr" Armelle Desjardins (asterisk-prompt-fr-armelle); both are 8 kHz GSM.
PROMPT_SPEAKERS = [("allison_en", "en_US_f_Allison", "en", "female", "allison"),
                   ("allison_es", "es_MX_f_Allison", "es", "female", "allison"),
                   ("june_fr", "fr_CA_f_June", "fr", "female", "june"),
                   ("carlo_it", "it_IT_m_Carlo", "it", "male", "carlo"),
                   ("menardi_it", "it_IT_f_Menardi", "it", "female", "menardi"),
                   ("ivr_ru", "ru_RU_f_IvrvoiceRU", "ru", "female", "ivr_ru"),
                   ("co_es", "es", "es", "unknown", "co_es"),
                   ("armelle_fr", "fr", "fr", "female", "armelle")]
PROMPT_FILES = 20  # recordings per voice: a minute or two of speech
PROMPT_SKIP = ("beep", "tone", "silence", "music", "ring", "fax")


@dataclass
class Speaker:
    name: str
    language: str
    gender: str
    source: str  # speakers of one source may share a meeting, never a person
    pieces: list[np.ndarray] = field(default_factory=list)


@dataclass
class Conversation:
    name: str
    audio: np.ndarray  # 16 kHz mono float32
    turns: list[tuple[float, float, str, str]]  # (start, end, speaker, language)

    @property
    def speakers(self) -> list[str]:
        return sorted({t[2] for t in self.turns})

    @property
    def seconds(self) -> float:
        return len(self.audio) / SR

    def rttm(self) -> str:
        return "".join(f"SPEAKER {self.name} 1 {s:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>\n"
                       for s, e, spk, _ in self.turns)

    def write(self, folder: Path) -> Path:
        """The conversation as a WAV and its truth (RTTM and JSON) beside it; returns the WAV."""
        import soundfile as sf
        folder.mkdir(parents=True, exist_ok=True)
        wav = folder / f"{self.name}.wav"
        sf.write(str(wav), self.audio, SR)
        (folder / f"{self.name}.rttm").write_text(self.rttm())
        (folder / f"{self.name}.json").write_text(json.dumps({"turns": self.turns}, indent=1))
        return wav

    def mp4(self, folder: Path) -> Path:
        """The conversation muxed with a small generated video track."""
        wav = self.write(folder)
        out = folder / f"{self.name}.mp4"
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "color=c=gray:s=160x120:r=10", "-i", str(wav), "-shortest", "-c:v", "libx264",
                        "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ar", "44100", str(out)],
                       check=True)
        return out


# What ffmpeg must be told of files without a header: codec2's raw speech, Asterisk's G.722 and GSM prompts.
HEADERLESS = {".raw": ["-f", "s16le", "-ar", "8000", "-ac", "1"], ".g722": ["-f", "g722"], ".gsm": ["-f", "gsm"]}


def _input(path: Path) -> list[str]:
    """ffmpeg's input arguments for `path`."""
    return [*HEADERLESS.get(path.suffix, []), "-i", str(path)]


def load16k(path: Path, channel: int | None = None) -> np.ndarray:
    """Any audio or video file as 16 kHz mono float32 (one channel of it when asked); a `.raw` file is
    codec2's headerless 8 kHz 16-bit mono (`HEADERLESS`)."""
    pan = ["-af", f"pan=mono|c0=c{channel}"] if channel is not None else ["-ac", "1"]
    raw = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", *_input(path), *pan,
                          "-ar", str(SR), "-f", "f32le", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


def _vad_pieces(x: np.ndarray, min_s: float = 0.6, max_s: float = 7.0) -> list[np.ndarray]:
    """Cut one speaker's recording at its pauses into pieces of speech."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps
    stamps = get_speech_timestamps(x, VadOptions(threshold=0.5, min_silence_duration_ms=250, speech_pad_ms=60))
    pieces, cur = [], None
    for s in stamps:
        if cur is not None and (s["end"] - cur[0]) / SR <= max_s and (s["start"] - cur[1]) / SR < 0.35:
            cur = (cur[0], s["end"])
        else:
            if cur is not None:
                pieces.append(cur)
            cur = (s["start"], s["end"])
    if cur is not None:
        pieces.append(cur)
    return [x[a:b] for a, b in pieces if (b - a) / SR >= min_s]


def _rttm_pieces(x: np.ndarray, rttm: Path, min_s: float = 0.6) -> dict[str, list[np.ndarray]]:
    """Each speaker's stretches of a meeting where no one else speaks (0.1 s kept clear at each side)."""
    turns = [(s, e, spk) for s, e, spk, _ in rttm_turns(rttm)]
    out: dict[str, list[np.ndarray]] = {}
    for s, e, spk in turns:
        cuts = [(s, e)]
        for s2, e2, other in turns:
            if other == spk:
                continue
            nxt = []
            for a, b in cuts:
                lo, hi = s2 - 0.1, e2 + 0.1
                if hi <= a or lo >= b:
                    nxt.append((a, b))
                else:
                    if lo > a:
                        nxt.append((a, lo))
                    if hi < b:
                        nxt.append((hi, b))
            cuts = nxt
        for a, b in cuts:
            if b - a >= min_s:
                seg = x[int(a * SR):int(b * SR)]
                # Long stretches are cut at pauses, as a person's turn would be.
                out.setdefault(spk, []).extend(_vad_pieces(seg, min_s) if b - a > 7 else [seg])
    return out


def _normalise(x: np.ndarray, rms: float) -> np.ndarray:
    cur = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) or 1.0
    return (x * (rms / cur)).astype(np.float32)


@lru_cache(maxsize=1)
def speaker_pool() -> dict[str, Speaker]:
    """Every distinct real person we have recordings of (needs ../shared/media)."""
    if not MEDIA.exists():
        raise FileNotFoundError(f"{MEDIA} is absent")
    pool: dict[str, Speaker] = {}
    singles = [("jfk", "en_jfk_inaugural.flac", "en", "male"),
               ("lj", "en_ljspeech_LJ050-0131.wav", "en", "female"),
               ("uberi_en", "en_one_two_three.wav", "en", "male"),
               ("cv_fr", "fr_commonvoice_17299458_UNVERIFIED.wav", "fr", "male"),
               ("uberi_fr", "fr_dictee_numero_un.aiff", "fr", "female"),
               ("uberi_zh", "zh_za_ziji_de_jiao.flac", "zh", "female"),
               ("jordimas", "mp4_en_jordimas_selfie.mp4", "en", "male")]
    for name, file, lang, gender in singles:
        x = load16k(MEDIA / file)
        pieces = _vad_pieces(x) or [x]
        pool[name] = Speaker(name, lang, gender, name, pieces)
    auto = load16k(MEDIA / "mp4_en_auto-editor_example.mp4")[: int(17.5 * SR)]
    pool["autoeditor"] = Speaker("autoeditor", "en", "male", "autoeditor", _vad_pieces(auto))
    meetings = [("ami_dev", MEDIA / "multi2_ami_dev00.wav", MEDIA / "multi2_ami_dev00.rttm")]
    meetings.append(("ami_tst", MEDIA / "multi4_ami_tst00.wav", MEDIA / "multi4_ami_tst00.rttm"))
    # The sample's path without importing pyannote.audio (that fails on the CUDA-only torchaudio).
    import importlib.util
    spec = importlib.util.find_spec("pyannote")
    if spec and spec.submodule_search_locations:
        sample = Path(list(spec.submodule_search_locations)[0]) / "audio" / "sample"
        if (sample / "sample.wav").exists():
            meetings.append(("pyannote_sample", sample / "sample.wav", sample / "sample.rttm"))
    for source, wav, rttm in meetings:
        x = load16k(wav)
        for spk, pieces in _rttm_pieces(x, rttm).items():
            gender = "female" if spk.startswith("FE") else "male" if spk.startswith("ME") else "unknown"
            pool[f"{source}:{spk}"] = Speaker(f"{source}:{spk}", "en", gender, source, pieces)
    stereo = MEDIA / "multi2_stereo_overlap.wav"
    for ch, spk in ((0, "left"), (1, "right")):
        x = load16k(stereo, channel=ch)
        pool[f"stereo:{spk}"] = Speaker(f"stereo:{spk}", "en", "unknown", "stereo", _vad_pieces(x) or [x])
    for spk, file, gender in CODEC2_SPEAKERS:
        if (CODEC2 / file).exists():
            x = load16k(CODEC2 / file)
            pool[f"c2:{spk}"] = Speaker(f"c2:{spk}", "en", gender, f"c2:{spk}", _vad_pieces(x) or [x])
    pool.update(_prompt_speakers())
    return {k: v for k, v in pool.items() if v.pieces}


def _prompt_speakers() -> dict[str, Speaker]:
    """The voices of PROMPT_SPEAKERS and of pocketsphinx's tests that are installed: the first
    PROMPT_FILES of each voice's recordings, cut at their pauses."""
    sources = []
    for name, folder, language, gender, person in PROMPT_SPEAKERS:
        if (ASTERISK / folder).is_dir():
            files = [p for p in sorted((ASTERISK / folder).glob("*.*")) if not any(w in p.name for w in PROMPT_SKIP)]
            sources.append((name, language, gender, person, files[:PROMPT_FILES]))
    for name in ("librivox", "cards"):
        sources.append((name, "en", "unknown", name, sorted((POCKETSPHINX / name).glob("*.wav"))))
    return {name: Speaker(name, language, gender, person, _vad_pieces(load_joined(files)))
            for name, language, gender, person, files in sources if files}


def load_joined(files: list[Path]) -> np.ndarray:
    """Files of one format, one after another, as 16 kHz mono float32: one ffmpeg for all (one per
    file took 3 s for a voice's 40 prompts)."""
    inputs = []
    for path in files:
        inputs += _input(path)
    # Half a second of silence after each: prompts are trimmed tight, and the pieces are cut at pauses.
    padded = "".join(f"[{i}:a]apad=pad_dur=0.5[a{i}];" for i in range(len(files)))
    joined = padded + "".join(f"[a{i}]" for i in range(len(files))) + f"concat=n={len(files)}:v=0:a=1,aresample={SR}"
    raw = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", *inputs, "-filter_complex", joined,
                          "-ac", "1", "-f", "f32le", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


GAPS = {  # seconds between turns, and how often
    "usual": ([0.0, 0.15, 0.3, 0.5, 0.8, 1.2], [0.15, 0.2, 0.25, 0.2, 0.12, 0.08]),
    "quick": ([0.0, 0.05, 0.1, 0.2], [0.3, 0.3, 0.2, 0.2]),  # quick replies, as in a lively call
}


def assemble(name: str, speakers: list[str], *, seconds: float = 50.0, seed: int = 0,
             noise: float = 0.002, gaps: str = "usual", pool: dict[str, Speaker] | None = None) -> Conversation:
    """Alternate the speakers' pieces in turns until about `seconds` long (`pool`: `speaker_pool` where
    not given)."""
    pool = pool or speaker_pool()
    rng = np.random.default_rng(seed)
    levels = {s: float(rng.uniform(0.03, 0.12)) for s in speakers}
    next_piece = {s: int(rng.integers(len(pool[s].pieces))) for s in speakers}
    parts, turns, t = [np.zeros(int(0.4 * SR), np.float32)], [], 0.4
    order: list[str] = []
    last = None
    while t < seconds or len(set(order)) < len(speakers):
        unused = [s for s in speakers if s not in order]
        choices = unused or [s for s in speakers if s != last]
        spk = choices[int(rng.integers(len(choices)))]
        obj = pool[spk]
        # Short back-channels ("yes", "one two three") happen: a turn may be one short piece.
        # One speaker's pieces in a row, never the same piece twice in one turn (Whisper hears a
        # phrase said twice in a row as one).
        for k in range(int(rng.integers(1, 1 + min(3, len(obj.pieces))))):
            piece = obj.pieces[next_piece[spk] % len(obj.pieces)]
            next_piece[spk] += 1
            piece = _normalise(piece, levels[spk])
            turns.append((round(t, 3), round(t + len(piece) / SR, 3), spk, obj.language))
            parts.append(piece)
            t += len(piece) / SR
            if t >= seconds * 1.15:
                break
            inner = float(rng.uniform(0.15, 0.6))  # a breath within a turn
            parts.append(np.zeros(int(inner * SR), np.float32))
            t += int(inner * SR) / SR
        # Between turns: usually a short gap, sometimes none (a quick reply), sometimes a long pause.
        gap = float(rng.choice(GAPS[gaps][0], p=GAPS[gaps][1]))
        parts.append(np.zeros(int(gap * SR), np.float32))
        t += int(gap * SR) / SR
        order.append(spk)
        last = spk
    # Each piece is a turn of the truth: the breaths between one speaker's pieces are silence.
    return _ended(name, parts, turns, rng, noise)


# The development set: 2, 3 and 4 people, mixed genders, two women, one source meeting or several.
DEV_SET = {
    "two_women_call": (["lj", "ami_tst:FEO070"], 45.0, 1),
    "two_men": (["jfk", "ami_dev:MEE009"], 50.0, 2),
    "man_woman": (["autoeditor", "ami_tst:FEO072"], 45.0, 3),
    "meeting_pair": (["pyannote_sample:speaker90", "pyannote_sample:speaker91"], 50.0, 4),
    "three_people": (["jordimas", "lj", "ami_dev:MEE012"], 60.0, 5),
    "three_men": (["jfk", "autoeditor", "ami_tst:MEE071"], 60.0, 6),
    "four_people": (["ami_tst:MEE071", "ami_tst:FEO072", "ami_tst:MEE073", "ami_tst:FEO070"], 70.0, 7),
    "four_mixed_sources": (["jfk", "lj", "pyannote_sample:speaker90", "ami_dev:MEE009"], 70.0, 8),
}
# English, French and Chinese turns from different people: every turn must be heard and tagged.
MIXED_VOICES = ["jfk", "cv_fr", "uberi_zh", "uberi_fr", "lj"]  # the shared media's English, French and Chinese
MIXED_LANGUAGE = (MIXED_VOICES, 40.0, 9)


# Made after the values of the diarizer and of segmentation.py were chosen, to check them on
# conversations they were not tuned on (benchmarks/bench_structure.py --held-out).
HELD_OUT = [["lj", "uberi_fr"], ["lj", "uberi_zh"], ["uberi_fr", "uberi_zh"], ["lj", "ami_tst:FEO072"],
            ["uberi_zh", "ami_dev:FEE005"], ["jfk", "cv_fr"], ["jordimas", "autoeditor"], ["jfk", "lj"], ["uberi_en", "uberi_fr"],
            ["lj", "uberi_fr", "jfk"], ["cv_fr", "uberi_zh", "autoeditor"], ["lj", "uberi_zh", "uberi_fr"],
            ["jfk", "lj", "cv_fr", "uberi_zh"], ["stereo:left", "stereo:right"], ["pyannote_sample:speaker90", "lj"],
            ["jordimas", "uberi_fr", "stereo:left"]]


def held_out(gaps: str = "usual") -> list[Conversation]:
    """HELD_OUT as conversations (a speaker the pool lacks, as FEE005, who never speaks alone long
    enough in that meeting, leaves its conversation out)."""
    return _held_out_set(HELD_OUT, "h", 900, gaps)


def _held_out_one(sets: list[list[str]], prefix: str, seed: int, i: int, gaps: str) -> Conversation:
    """Conversation `i` of a held-out set: 40-70 s, its own seed."""
    return assemble(f"{prefix}{i:02d}", sets[i], seconds=float(40 + 10 * (i % 4)), seed=seed + i, gaps=gaps)


def _held_out_set(sets: list[list[str]], prefix: str, seed: int, gaps: str) -> list[Conversation]:
    """The conversations of a held-out set whose speakers are all in the pool."""
    pool = speaker_pool()
    return [_held_out_one(sets, prefix, seed, i, gaps) for i, spk in enumerate(sets) if all(s in pool for s in spk)]


# Codec2's talkers, added after the values were chosen: 2, 3 and 4 of them, and with speakers of ours.
CODEC2_HELD_OUT = [["c2:kristoff", "c2:ve9qrp"], ["c2:cq_ref", "c2:vk5qi"], ["c2:hts1", "c2:hts2"],
                   ["c2:g3plx", "c2:hts1", "c2:kristoff"], ["c2:cq_ref", "c2:hts2", "c2:ve9qrp"],
                   ["c2:g3plx", "c2:hts2", "c2:kristoff", "c2:vk5qi"], ["c2:ve9qrp", "lj"],
                   ["c2:vk5qi", "jfk", "uberi_fr"], ["c2:cq_ref", "c2:hts1", "autoeditor", "cv_fr"]]


def codec2_conversation(i: int, gaps: str = "usual") -> Conversation:
    return _held_out_one(CODEC2_HELD_OUT, "c", 1000, i, gaps)


def codec2_held_out(gaps: str = "usual") -> list[Conversation]:
    """CODEC2_HELD_OUT as conversations; empty where codec2-examples is not installed."""
    return _held_out_set(CODEC2_HELD_OUT, "c", 1000, gaps)


# The prompt voices and pocketsphinx's talkers, added on 2026-12-05 after every value was chosen: five
# languages, with speakers of ours. The main language of each has a translator to Spanish (the benchmark's
# target): an Italian or Russian voice is one of three or four people.
PROMPT_HELD_OUT = [["allison_en", "carlo_it", "lj"], ["june_fr", "librivox"], ["co_es", "jfk"],
                   ["armelle_fr", "menardi_it", "autoeditor", "allison_es"], ["ivr_ru", "allison_en", "c2:vk5qi"],
                   ["carlo_it", "armelle_fr", "cards"], ["allison_es", "co_es"], ["june_fr", "armelle_fr", "jordimas"],
                   ["ivr_ru", "menardi_it", "allison_en", "librivox"], ["cards", "allison_en"],
                   ["co_es", "ami_dev:MEE009", "ivr_ru"], ["armelle_fr", "allison_es", "c2:hts2", "pyannote_sample:speaker90"]]


def prompt_conversation(i: int, gaps: str = "usual") -> Conversation:
    return _held_out_one(PROMPT_HELD_OUT, "p", 1700, i, gaps)


def prompt_held_out(gaps: str = "usual") -> list[Conversation]:
    """PROMPT_HELD_OUT as conversations; empty where the prompt packages are not installed."""
    return _held_out_set(PROMPT_HELD_OUT, "p", 1700, gaps)


# One person who only replies (two to four single short pieces of at most 2 s) beside one to three who
# talk, added on 2026-12-05 (part 17): counts had been tuned on conversations where everyone talks alike.
REPLY_TALKERS = ["allison_es", "menardi_it", "armelle_fr", "c2:ve9qrp", "ivr_ru", "allison_en", "librivox",
                 "autoeditor", "june_fr", "carlo_it", "co_es", "ami_dev:MEE009", "c2:vk5qi",
                 "pyannote_sample:speaker91", "jfk"]
REPLIERS = ["allison_en", "june_fr", "carlo_it", "menardi_it", "ivr_ru", "armelle_fr", "co_es", "allison_es",
            "ami_dev:MEE009", "cards", "jordimas", "pyannote_sample:speaker90", "ami_dev:MEE012"]


def with_replies(name: str, talkers: list[str], replier: str, *, replies: int, seconds: float = 50.0,
                 seed: int = 0, pool: dict[str, Speaker] | None = None) -> Conversation:
    """`talkers` alternate in turns of one to three pieces; `replier` says `replies` short single pieces
    at random turns among theirs (the speakers of `pool`, `speaker_pool()` where not given)."""
    pool = pool or speaker_pool()
    rng = np.random.default_rng(seed)
    people = talkers + [replier]
    levels = {s: float(rng.uniform(0.03, 0.12)) for s in people}
    next_piece = {s: int(rng.integers(len(pool[s].pieces))) for s in people}
    short = [p for p in pool[replier].pieces if len(p) / SR <= 2.0] or sorted(pool[replier].pieces, key=len)[:1]
    slots = {int(x) for x in rng.choice(np.arange(1, int(seconds / 4)), replies, replace=False)}
    parts, turns, t, last, i = [np.zeros(int(0.4 * SR), np.float32)], [], 0.4, None, 0
    while t < seconds or i <= max(slots):
        if i in slots:
            spk, said = replier, [short[next_piece[replier] % len(short)]]
            next_piece[replier] += 1
        else:
            choices = [s for s in talkers if s != last] or talkers
            spk = choices[int(rng.integers(len(choices)))]
            said = []
            for _ in range(int(rng.integers(1, 1 + min(3, len(pool[spk].pieces))))):
                said.append(pool[spk].pieces[next_piece[spk] % len(pool[spk].pieces)])
                next_piece[spk] += 1
        t = _say(parts, turns, t, pool[spk], said, levels[spk], rng)
        last, i = spk, i + 1
    return _ended(name, parts, turns, rng)


def _say(parts: list[np.ndarray], turns: list, t: float, speaker: Speaker, said: list[np.ndarray], level: float,
         rng: np.random.Generator) -> float:
    """One turn: `said` at `level` with breaths between the pieces, then the usual gap. Returns the time after it."""
    for j, piece in enumerate(said):
        piece = _normalise(piece, level)
        turns.append((round(t, 3), round(t + len(piece) / SR, 3), speaker.name, speaker.language))
        parts.append(piece)
        t += len(piece) / SR
        if j < len(said) - 1:
            inner = float(rng.uniform(0.15, 0.6))
            parts.append(np.zeros(int(inner * SR), np.float32))
            t += int(inner * SR) / SR
    gap = float(rng.choice(GAPS["usual"][0], p=GAPS["usual"][1]))
    parts.append(np.zeros(int(gap * SR), np.float32))
    return t + int(gap * SR) / SR


def _ended(name: str, parts: list[np.ndarray], turns: list, rng: np.random.Generator,
           noise: float = 0.002) -> Conversation:
    """The conversation of `parts`, with half a second of silence after it and a little noise throughout."""
    audio = np.concatenate(parts + [np.zeros(int(0.5 * SR), np.float32)])
    audio = audio + noise * rng.standard_normal(len(audio)).astype(np.float32)
    return Conversation(name, np.clip(audio, -1, 1).astype(np.float32), turns)


def whole_turns(name: str, speakers: list[str], *, rounds: int = 1, seed: int = 0) -> Conversation:
    """Each person's whole recording (all of their pieces) as one turn, in a random order each round:
    a conversation put together by hand from a few single-speaker clips. A person whose clip is one
    short phrase (Uberi's 0.8 s of Chinese) then says it once, beside whoever the order puts next."""
    pool = speaker_pool()
    rng = np.random.default_rng(seed)
    levels = {s: float(rng.uniform(0.03, 0.12)) for s in speakers}
    parts, turns, t = [np.zeros(int(0.4 * SR), np.float32)], [], 0.4
    for _ in range(rounds):
        for spk in rng.permutation(speakers):
            t = _say(parts, turns, t, pool[str(spk)], pool[str(spk)].pieces, levels[str(spk)], rng)
    return _ended(name, parts, turns, rng)


def whole_held_out() -> list[Conversation]:
    """12 conversations of `whole_turns` (seeds 200-211, made after the values were chosen): the mixed-language
    voices, and Jordi Mas too on odd seeds."""
    return [whole_turns(f"w{seed}", MIXED_VOICES + (["jordimas"] if seed % 2 else []), seed=seed)
            for seed in range(200, 212)]


def replies_conversation(seed: int) -> Conversation | None:
    """One to three talkers and a replier drawn from REPLY_TALKERS and REPLIERS by `seed`, all distinct
    people; None where the pool lacks one of them."""
    pool = speaker_pool()
    rng = np.random.default_rng(seed)
    while True:
        talkers = [str(s) for s in rng.choice(REPLY_TALKERS, 1 + seed % 3, replace=False)]
        replier = str(rng.choice(REPLIERS))
        if not all(s in pool for s in talkers + [replier]):
            return None
        sources = [pool[s].source for s in talkers + [replier]]
        if len(set(sources)) == len(sources):
            break
    return with_replies(f"r{seed}", talkers, replier, replies=2 + seed % 3, seed=seed)


def replies_held_out() -> list[Conversation]:
    """18 conversations with a replier (seeds 4000-4017); those whose voices are not installed are left out."""
    return [c for c in map(replies_conversation, range(4000, 4018)) if c is not None]


# Asterisk's prompt voices saying the numbers 0-20, each number a recording of its own (0.4-1.4 s once
# trimmed): a replier who never says the same thing twice, where the pool's short speakers repeat their
# one or two pieces (made 2026-12-07, after strangers.STRANGER_MIN_S was chosen).
DIGIT_VOICES = [("digits_allison_en", "en_US_f_Allison/digits", "en", "allison"),
                ("digits_june_fr", "fr_CA_f_June/digits", "fr", "june"),
                ("digits_carlo_it", "it_IT_m_Carlo/digits", "it", "carlo"),
                ("digits_menardi_it", "it_IT_f_Menardi/digits", "it", "menardi"),
                ("digits_ivr_ru", "ru_RU_f_IvrvoiceRU/digits", "ru", "ivr_ru"),
                ("digits_allison_es", "es_MX_f_Allison/digits", "es", "allison"),
                ("digits_co_es", "digits/es", "es", "co_es"),
                ("digits_armelle_fr", "digits/fr", "fr", "armelle")]


@lru_cache(maxsize=1)
def digit_speakers() -> dict[str, Speaker]:
    """The DIGIT_VOICES that are installed, each number's recording trimmed to its sound and 0.05 s."""
    from concurrent.futures import ThreadPoolExecutor
    files = {name: sorted(p for p in (ASTERISK / folder).glob("*.*") if p.stem.isdigit() and int(p.stem) <= 20)
             if (ASTERISK / folder).is_dir() else [] for name, folder, _, _ in DIGIT_VOICES}
    # 168 short files in all: one ffmpeg each, several at once (most of a call is ffmpeg starting up).
    with ThreadPoolExecutor(max_workers=8) as pool:
        loaded = {name: list(pool.map(load16k, paths)) for name, paths in files.items()}
    out = {}
    for name, _, language, person in DIGIT_VOICES:
        pieces = []
        for x in loaded[name]:
            loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
            if len(loud):
                pieces.append(x[max(0, loud[0] - 800):loud[-1] + 800])
        if pieces:
            out[name] = Speaker(name, language, "unknown", person, pieces)
    return out


def digit_replies_conversation(seed: int) -> Conversation | None:
    """One to three talkers of the pool and a DIGIT_VOICES replier (by `seed`) who answers two to four times
    with a number; None where the replier's voice is not installed."""
    pool, digits = speaker_pool(), digit_speakers()
    replier = DIGIT_VOICES[seed % len(DIGIT_VOICES)][0]
    if replier not in digits:
        return None
    rng = np.random.default_rng(seed)
    while True:
        talkers = [str(s) for s in rng.choice(sorted(pool), 1 + seed % 3, replace=False)]
        sources = [pool[s].source for s in talkers] + [digits[replier].source]
        if len(set(sources)) == len(sources):
            break
    return with_replies(f"d{seed}", talkers, replier, replies=2 + seed % 3, seconds=float(rng.uniform(35, 60)),
                        seed=seed, pool={**pool, **digits})


def digit_replies_held_out() -> list[Conversation]:
    """96 conversations of `digit_replies_conversation` (seeds 0-95); those whose voices are not installed
    are left out."""
    return [c for c in map(digit_replies_conversation, range(96)) if c is not None]


@lru_cache(maxsize=1)
def acted_speakers() -> dict[str, Speaker]:
    """The voice actors of Fish Fillets' Dutch and Czech dubs that are installed (the small fish, a woman,
    "m"; the big fish, a man, "v"): 60 pieces of 1-8 s of each, from 120 of their lines drawn at random.
    Added on 2026-12-07, after every value was chosen: acted voices vary more than read ones (one actor's
    pieces are 0.43-0.58 alike to ECAPA on average, the pool's voices 0.60-0.79)."""
    from concurrent.futures import ThreadPoolExecutor
    out = {}
    for lang in ("nl", "cs"):
        for role, gender in (("m", "female"), ("v", "male")):
            files = sorted(p for p in FILLETS.glob(f"*/{lang}/*.ogg")
                           if re.search(rf"^([a-z0-9]+-)?{role}-", p.name)
                           and not (lang == "cs" and p.parent.parent.name in FILLETS_OTHER_VOICES))
            if not files:
                continue
            picked = [files[i] for i in sorted(np.random.default_rng(7).choice(len(files), 120, replace=False))]
            with ThreadPoolExecutor(max_workers=8) as pool:  # most of a call is ffmpeg starting up
                pieces = [q for x in pool.map(load16k, picked) for q in _vad_pieces(x) if 1.0 <= len(q) / SR <= 8.0]
            name = f"fil_{lang}_{role}"
            out[name] = Speaker(name, lang, gender, f"fillets_{lang}", pieces[:60])
    return out


def acted_conversation(seed: int) -> Conversation | None:
    """Two to four people, at least one of them an `acted_speakers` voice: both fish of one dub (seed % 3 ==
    0), two fish of either dub (1), or one fish among the pool's people (2); 40-75 s, quick replies where
    seed % 4 == 0, under noise where seed % 5 == 1, under music where it is 3. None where not installed."""
    acted = acted_speakers()
    if len(acted) < 4:
        return None
    full = {**speaker_pool(), **acted}
    fish = sorted(acted)
    others = sorted(set(full) - set(fish))
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(2, 5))
    if seed % 3 == 0:
        lang = ["nl", "cs"][int(rng.integers(2))]
        pick = [f"fil_{lang}_m", f"fil_{lang}_v"]
    elif seed % 3 == 1:
        pick = [str(s) for s in rng.choice(fish, 2, replace=False)]
    else:
        pick = [str(rng.choice(fish))]
    while len(pick) < n:
        s = str(rng.choice(others))
        if full[s].source not in {full[x].source for x in pick}:
            pick.append(s)
    c = assemble(f"u{seed}", pick, seconds=float(rng.uniform(40, 75)), seed=seed,
                 gaps="quick" if seed % 4 == 0 else "usual", pool=full)
    if seed % 5 == 1:
        return with_background(c, "noise", 15, seed=seed)
    if seed % 5 == 3:
        return with_background(c, "music", 12, seed=seed)
    return c


def acted_held_out(n: int = 60) -> list[Conversation]:
    """`acted_conversation` 0 to n-1 (none where the dubs are not installed)."""
    return [c for c in (acted_conversation(i) for i in range(n)) if c is not None]


def with_background(c: Conversation, kind: str, snr_db: float, seed: int = 0) -> Conversation:
    """`c` under pink noise (`kind` "noise") or a music bed ("music": chords of harmonic notes changing
    every 2 s over a soft beat), `snr_db` below the speech."""
    rng = np.random.default_rng(seed)
    n = len(c.audio)
    if kind == "noise":
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.arange(len(spectrum), dtype=np.float64)
        f[0] = 1.0
        bed = np.fft.irfft(spectrum / np.sqrt(f), n)
    elif kind == "music":
        t = np.arange(n) / SR
        bed = np.zeros(n)
        for s in range(0, n, 2 * SR):
            root = 110 * 2 ** (rng.integers(0, 12) / 12)
            seg = t[s:s + 2 * SR] - t[s]
            for ratio in (1, 1.26, 1.5, 2):
                for h in range(1, 6):
                    bed[s:s + 2 * SR] += np.exp(-seg * 0.8) * np.sin(2 * np.pi * root * ratio * h * seg) / h
        for b in range(0, n, SR // 2):
            k = np.arange(min(800, n - b))
            bed[b:b + len(k)] += 0.5 * rng.standard_normal(len(k)) * np.exp(-k / 120)
    else:
        raise ValueError(kind)
    speech = c.audio[np.abs(c.audio) > 0.01].astype(np.float64)
    gain = np.sqrt(np.mean(speech ** 2)) / np.sqrt(np.mean(bed ** 2)) / 10 ** (snr_db / 20)
    mixed = c.audio + gain * bed
    mixed /= max(1.0, float(np.abs(mixed).max()))
    return Conversation(c.name, mixed.astype(np.float32), c.turns)


def dev_set() -> list[Conversation]:
    return [assemble(name, spk, seconds=sec, seed=seed) for name, (spk, sec, seed) in DEV_SET.items()]


def mixed_language() -> Conversation:
    spk, sec, seed = MIXED_LANGUAGE
    return assemble("mixed_language", spk, seconds=sec, seed=seed)


def _error_parts(truth, spans) -> dict:
    """pyannote's DER, in detail, of `spans` (with .start, .end, .speaker: a diarizer's turns or a
    document's lines) against the true turns, with a 0.25 s collar each side."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate
    ref, hyp = Annotation(), Annotation()
    for s, e, spk, *_ in truth:
        ref[Segment(s, e)] = spk
    for x in spans:
        hyp[Segment(x.start, x.end)] = x.speaker
    return DiarizationErrorRate(collar=0.5)(ref, hyp, detailed=True)


def diarization_error(truth, turns) -> float:
    """DER of a diarizer's `turns` against the true turns, with a 0.25 s collar each side."""
    return _error_parts(truth, turns)["diarization error rate"]


def line_figures(doc, turns) -> dict:
    """What a user sees, scored against the truth: utterance-level DER (0.25 s collar each side),
    lines holding >= 0.2 s of a second speaker, the share of true speech inside lines, the count."""
    mixed = 0
    for u in doc.utterances:
        per: dict[str, float] = {}
        for s, e, spk, *_ in turns:
            per[spk] = per.get(spk, 0.0) + max(0.0, min(e, u.end) - max(s, u.start))
        if len(per) > 1 and sorted(per.values())[-2] >= 0.2:
            mixed += 1
    total = sum(e - s for s, e, *_ in turns)
    covered = sum(max(0.0, min(e, u.end) - max(s, u.start)) for s, e, *_ in turns for u in doc.utterances)
    # Its parts too: on coarse truth (an RTTM turn spanning pauses) the lines' pauses count as missed.
    parts = _error_parts(turns, doc.utterances)
    scored = parts["total"] or 1.0
    return {"der": parts["diarization error rate"], "miss": parts["missed detection"] / scored,
            "confusion": parts["confusion"] / scored, "mixed": mixed, "coverage": covered / total,
            "speakers": len(doc.speakers)}


def wrong_tags(doc, turns) -> int:
    """True turns whose line (the one overlapping them most) carries another language, or none."""
    wrong = 0
    for s, e, _, language in turns:
        best = max(doc.utterances, key=lambda u: min(e, u.end) - max(s, u.start), default=None)
        heard = best is not None and min(e, best.end) - max(s, best.start) > 0
        if not heard or (best.language or doc.source_language) != language:
            wrong += 1
    return wrong


def rttm_turns(path: Path) -> list[tuple[float, float, str, str]]:
    turns = []
    for line in path.read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            turns.append((float(f[3]), float(f[3]) + float(f[4]), f[7], "en"))
    return turns
