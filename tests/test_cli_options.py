"""The dub options are one set shared by `dub` and `jobs submit`."""
from dubbing.cli import build_parser


def _dub_flags(parser, *path):
    sub = parser
    for name in path:
        sub = next(a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction").choices[name]
    return {s for a in sub._actions for s in a.option_strings}


def test_jobs_submit_takes_every_dub_option_plus_its_own():
    parser = build_parser()
    dub, submit = _dub_flags(parser, "dub"), _dub_flags(parser, "jobs", "submit")
    assert dub - {"--output-dir", "-o"} <= submit
    assert {"--review", "--wait", "--no-start-worker"} <= submit - dub


def test_submit_args_become_the_same_settings_as_dub():
    from dubbing.cli_options import settings_from_args

    parser = build_parser()
    common = ["-t", "es", "--stt", "faster-whisper", "--clone-voices", "--mix-mode", "replace", "--cleanup"]
    dub = settings_from_args(parser.parse_args(["dub", "in.mp4", *common]))
    job = settings_from_args(parser.parse_args(["jobs", "submit", "in.mp4", *common, "--review"]))
    assert (dub.target_language, dub.stt, dub.clone_voices, dub.mix_mode, dub.keep_intermediate) == \
        ("es", "faster-whisper", True, "replace", False)
    assert job.review and not dub.review
    dub.review = True
    assert dub == job
