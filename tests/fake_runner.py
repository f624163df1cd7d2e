"""The runner's tests' entry point: the job runner's commands over the fake pipeline (test_jobs_support).

Production code always runs `dubbing.pipeline`; the tests inject their fake here, in the
processes they start, instead of production code looking for a test module:

    python tests/fake_runner.py local-worker ARGS    the local worker (`python -m dubbing.jobs.worker ARGS`);
                                                     what the client spawns once `use_fake_pipeline` ran
    python tests/fake_runner.py redis-worker URL QUEUES   a Redis worker (`python -m dubbing worker --queue URL
                                                     --queues QUEUES`)
    python tests/fake_runner.py ARGS                 `python -m dubbing ARGS`, whose client and the workers it
                                                     spawns use the fake

Run as a script, so its folder (tests/) is on the path wherever the test runs it from.
"""
from __future__ import annotations

import sys

import test_jobs_support as fake


def main(argv: list[str]) -> int:
    if argv[:1] == ["local-worker"]:
        from dubbing.jobs import worker

        return worker.main(argv[1:], pipeline=fake)
    if argv[:1] == ["redis-worker"]:
        from dubbing.jobs import redis_worker

        url, queues = argv[1:]
        return redis_worker.serve(url, queues, pipeline=fake)
    from dubbing import cli

    fake.use_fake_pipeline()
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
