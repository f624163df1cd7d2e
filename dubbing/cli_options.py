"""The dub options shared by `python -m dubbing dub` and `python -m dubbing jobs submit`.

A neutral module so that neither command line imports the other.
"""
from __future__ import annotations

import argparse

from .errors import BadInputError
from .models import MIX_DUCK, MIX_REPLACE, DubSettings


def add_dub_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target-language", "-t", required=True, help="ISO 639-1 code, e.g. es")
    p.add_argument("--source-language", "-s", default="auto", help="ISO 639-1 code or auto (default)")
    p.add_argument("--diarization", default="auto", help="diarization engine (see `engines`)")
    p.add_argument("--diarization-model", default="")
    p.add_argument("--stt", default="auto", help="speech-to-text engine")
    p.add_argument("--stt-model", default="base", help="e.g. base (packaged), large-v3, or a local folder")
    p.add_argument("--translator", default="auto", help="translation engine")
    p.add_argument("--translation-model", default="")
    p.add_argument("--tts", default="auto", help="text-to-speech engine")
    p.add_argument("--tts-model", default="")
    p.add_argument("--speakers", type=int, default=None, help="number of speakers (default: estimate)")
    p.add_argument("--pause-split", type=float, default=0.5,
                   help="a pause this long (seconds) within one person's speech starts a new line (default 0.5)")
    p.add_argument("--clone-voices", action="store_true",
                   help="XTTS only: clone each speaker's voice from their original audio (opt-in)")
    p.add_argument("--max-speed", type=float, default=1.3, help="cap on speeding up dubbed speech (default 1.3)")
    p.add_argument("--min-speed", type=float, default=0.9,
                   help="floor on slowing a short line down to fill its slot (default 0.9; 1.0 never slows)")
    p.add_argument("--mix-mode", choices=(MIX_DUCK, MIX_REPLACE), default=MIX_DUCK,
                   help="duck: keep the original track lowered under the dub; replace: drop it")
    p.add_argument("--duck-db", type=float, default=-18.0, help="original track level under dubbed speech, dB")
    p.add_argument("--cleanup", action="store_true", help="delete intermediate files that can be made again")
    p.add_argument("--audio-track", type=int, default=1,
                   help="which audio track to dub, counting from 1, for videos with several (default 1)")


def settings_from_args(args: argparse.Namespace) -> DubSettings:
    return DubSettings(
        target_language=args.target_language, source_language=args.source_language,
        diarization=args.diarization, diarization_model=args.diarization_model,
        stt=args.stt, stt_model=args.stt_model, translator=args.translator,
        translation_model=args.translation_model, tts=args.tts, tts_model=args.tts_model,
        speakers=args.speakers, pause_split=args.pause_split, clone_voices=args.clone_voices,
        max_speed=args.max_speed, min_speed=args.min_speed, mix_mode=args.mix_mode,
        duck_db=args.duck_db,
        # only `jobs submit` has --review
        review=bool(getattr(args, "review", False)), keep_intermediate=not args.cleanup,
        audio_track=_track_index(args.audio_track))


def _track_index(number: int) -> int:
    if number < 1:
        raise BadInputError(f"--audio-track counts from 1; got {number}")
    return number - 1
