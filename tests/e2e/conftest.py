"""Browser tests: `streamlit run app.py` on a free port with its own data folder, driven by
Playwright with Debian's chromium (never `playwright install`: it downloads a browser).

The server and any worker it started are stopped at the end (the worker runs in its
own session and would otherwise outlive the test). Screenshots of each page go to
test-output/screenshots/.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("DUBBING_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = REPO / "test-output" / "screenshots"
DOWNLOADS = REPO / "test-output" / "downloads"



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """One Streamlit server on a data folder; restartable, as after a deploy or a crash."""

    def __init__(self, data_dir: Path, log: Path):
        self.data_dir = data_dir
        self.log = log
        self.env = {**os.environ, "DUBBING_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
                    "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO)}
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 60) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with open(self.log, "ab") as out:
            # Its own process group, so stopping it reaches any child it made.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.address", "127.0.0.1",
                 "--server.port", str(port), "--server.headless", "true"],
                cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as resp:
                    if resp.read().decode().strip() == "ok":
                        return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"streamlit did not answer on {self.url} within {timeout:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)
        if pgid > 0:  # never signal group 0 (our own)
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop_worker(self) -> None:
        subprocess.run([sys.executable, "-m", "dubbing", "worker", "--stop"], cwd=REPO, env=self.env,
                       capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); browser tests need it")
    out = REPO / "test-output"
    out.mkdir(exist_ok=True)
    server = AppServer(tmp_path_factory.mktemp("e2e-data"), out / "e2e-streamlit.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.stop_worker()


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {"executable_path": str(CHROMIUM), "headless": True,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1440, "height": 1000}, "accept_downloads": True}


@pytest.fixture(scope="session")
def shot():
    """shot(page, name): a screenshot of the whole page (Streamlit scrolls inside its main element)."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)

    def take(page, name: str) -> Path:
        page.wait_for_timeout(600)  # let charts and the grid finish drawing
        size = page.viewport_size
        height = page.evaluate(
            "() => Math.max(document.body.scrollHeight, ...[...document.querySelectorAll("
            "'[data-testid=stMain], [data-testid=stMainBlockContainer]')].map(e => e.scrollHeight))")
        page.set_viewport_size({"width": size["width"], "height": min(max(int(height) + 40, size["height"]), 5000)})
        page.wait_for_timeout(400)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        page.set_viewport_size(size)
        return path

    return take


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed and "page" in item.funcargs:
        # What the browser showed when it failed, beside the other screenshots.
        try:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            item.funcargs["page"].screenshot(path=str(SCREENSHOTS / f"FAILED-{item.name}.png"), full_page=True)
        except Exception:
            pass
    return report


@pytest.fixture(scope="session")
def downloads() -> Path:
    shutil.rmtree(DOWNLOADS, ignore_errors=True)
    DOWNLOADS.mkdir(parents=True)
    return DOWNLOADS
