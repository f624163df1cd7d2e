"""Model resolution: the order of places, the messages, and the opt-in download."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import tiny_models as T
from dubbing.engines import local_models, packages
from dubbing.engines import resolve as R
from dubbing.errors import EngineUnavailableError, NotFoundError


def fake_model(folder: Path, tag: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "marian", "tag": "%s"}' % tag)
    (folder / "model.safetensors").write_text("weights")
    return folder


@pytest.fixture
def env(monkeypatch, tmp_path):
    models = T.isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("DUBBING_CACHE_DIR", str(tmp_path / "dubbing-cache"))
    return models


def test_explicit_path_wins_and_must_be_complete(env, tmp_path):
    folder = fake_model(tmp_path / "mine")
    assert R.resolve_model(str(folder), kind="translation") == folder
    with pytest.raises(NotFoundError, match="does not exist"):
        R.resolve_model(str(tmp_path / "nowhere"), kind="translation")
    (folder / "model.safetensors").unlink()
    with pytest.raises(NotFoundError, match="lacks model.safetensors or pytorch_model.bin or"):
        R.resolve_model(str(folder), kind="translation")


def test_models_dir_then_cache_then_package(env, tmp_path, monkeypatch):
    repo = "Helsinki-NLP/opus-mt-en-es"
    T.into_hf_cache(tmp_path / "hf-cache", repo, fake_model(tmp_path / "src", "cache"))
    assert R.find_local(repo).source == "Hugging Face cache"
    assert R.resolve_model(repo, kind="translation").name == "0123abcd"
    for rel in ("opus-mt-en-es", "Helsinki-NLP--opus-mt-en-es", "Helsinki-NLP/opus-mt-en-es"):
        fake_model(env / rel, rel)
        found = R.find_local(repo)
        assert (found.source, found.path) == ("DUBBING_MODELS_DIR", env / rel)
        import shutil
        shutil.rmtree(env / rel)
    # A model only a package ships.
    pkg = fake_model(tmp_path / "site-packages" / "some_model")
    R.register_packaged("acme/packaged-model", lambda: pkg)
    try:
        assert R.resolve_model("acme/packaged-model", kind="tts") == pkg
        assert R.find_local("acme/packaged-model").source == "package"
    finally:
        local_models._PACKAGED.pop("acme/packaged-model")


def test_cache_snapshot_without_ref_uses_the_newest(env, tmp_path):
    snaps = tmp_path / "hf-cache" / "models--org--m" / "snapshots"
    fake_model(snaps / "old")
    newest = fake_model(snaps / "new")
    import os
    os.utime(snaps / "old", (1, 1))
    assert R.resolve_model("org/m", kind="x") == newest


def test_not_found_names_every_place(env, tmp_path):
    with pytest.raises(R.ModelNotFoundError) as err:
        R.resolve_model("facebook/m2m100_1.2B", kind="translation")
    msg = err.value.message
    assert msg.startswith("translation model 'facebook/m2m100_1.2B' not found. Looked in: DUBBING_MODELS_DIR (")
    assert str(env / "m2m100_1.2B") in msg and str(env / "facebook--m2m100_1.2B") in msg
    assert str(tmp_path / "hf-cache" / "models--facebook--m2m100_1.2B") in msg
    assert "installed packages" in msg
    assert "set DUBBING_ALLOW_DOWNLOAD=1 and unset HF_HUB_OFFLINE" in msg
    assert isinstance(err.value, EngineUnavailableError)


def test_download_only_when_allowed(env, tmp_path, monkeypatch):
    import huggingface_hub
    calls = []

    def snapshot_download(repo_id, **kw):
        calls.append((repo_id, kw))
        return str(fake_model(tmp_path / "downloaded"))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(R.ModelNotFoundError):
        R.resolve_model("org/model", kind="tts")
    monkeypatch.setenv("DUBBING_ALLOW_DOWNLOAD", "1")
    with pytest.raises(R.ModelNotFoundError, match="unset HF_HUB_OFFLINE"):
        R.resolve_model("org/model", kind="tts")  # HF_HUB_OFFLINE=1 still wins
    assert calls == []
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_TOKEN", "hf_abc")
    assert R.resolve_model("org/model", kind="tts", allow_patterns=["*.json"]) == tmp_path / "downloaded"
    repo, kw = calls[0]
    assert repo == "org/model" and kw["token"] == "hf_abc" and kw["allow_patterns"] == ["*.json"]
    assert kw["cache_dir"] == tmp_path / "hf-cache"
    with pytest.raises(R.ModelNotFoundError, match="not a hub repo id|not found"):
        R.resolve_model("just-a-name", kind="tts")  # a bare name is never downloaded


def test_download_errors_become_clear_messages(env, tmp_path, monkeypatch):
    from types import SimpleNamespace

    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    response = SimpleNamespace(headers={}, request=None, status_code=404)
    monkeypatch.setenv("DUBBING_ALLOW_DOWNLOAD", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")

    def fails(exc):
        def snapshot_download(repo_id, **kw):
            raise exc
        return snapshot_download

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fails(ConnectionError("no route to host")))
    with pytest.raises(R.ModelNotFoundError, match="download failed: ConnectionError: no route to host"):
        R.resolve_model("org/a", kind="tts")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fails(RepositoryNotFoundError("missing", response=response)))
    with pytest.raises(NotFoundError, match="does not exist on the hub"):
        R.resolve_model("org/b", kind="tts")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fails(GatedRepoError("gated", response=response)))
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    with pytest.raises(EngineUnavailableError, match="gated and this token may not read it"):
        R.resolve_model("org/c", kind="diarization", gated=True)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(EngineUnavailableError, match=r"is gated: accept its terms .* set HF_TOKEN \(none is set\)"):
        R.resolve_model("org/c", kind="diarization", gated=True)


def test_token_from_env_or_file(env, tmp_path, monkeypatch):
    assert R.hf_token() is None
    (tmp_path / "no-token").write_text("hf_file\n")
    assert R.hf_token() == "hf_file"
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    assert R.hf_token() == "hf_env"


def test_cache_dir_rules(monkeypatch, tmp_path):
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    assert R.hf_cache_dir() == Path.home() / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert R.hf_cache_dir() == tmp_path / "xdg" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert R.hf_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert R.hf_cache_dir() == tmp_path / "hub"


def test_scan_local_finds_models_two_levels_deep(env, tmp_path):
    fake_model(env / "Helsinki-NLP--opus-mt-en-de")
    fake_model(env / "org" / "opus-mt-fr-en")
    (env / "empty").mkdir()
    T.into_hf_cache(tmp_path / "hf-cache", "Helsinki-NLP/opus-mt-es-en", fake_model(tmp_path / "x"))
    names = sorted(m.name for m in R.scan_local(lambda m: m.config.get("model_type") == "marian"))
    assert names == ["Helsinki-NLP/opus-mt-en-de", "Helsinki-NLP/opus-mt-es-en", "org/opus-mt-fr-en"]
    assert R.scan_local(lambda m: False) == []


def ct2_model(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("model.bin", "config.json", "tokenizer.json"):
        (folder / name).write_text("{}" if name.endswith(".json") else "x")
    return folder


def test_faster_whisper_names(env, tmp_path):
    fw = pytest.importorskip("faster_whisper.utils")
    assert R.FASTER_WHISPER_REPOS == fw._MODELS
    folder = ct2_model(env / "faster-whisper-large-v3")
    assert R.resolve_faster_whisper("large-v3") == folder
    T.into_hf_cache(tmp_path / "hf-cache", "mobiuslabsgmbh/faster-whisper-large-v3-turbo", ct2_model(tmp_path / "t"))
    assert R.resolve_faster_whisper("turbo").parent.parent.name == "models--mobiuslabsgmbh--faster-whisper-large-v3-turbo"
    assert R.local_faster_whisper_models() == ["faster-whisper-large-v3", "large-v3-turbo"]
    assert R.resolve_faster_whisper(str(folder)) == folder
    with pytest.raises(NotFoundError, match="unknown faster-whisper model 'huge'"):
        R.resolve_faster_whisper("huge")
    with pytest.raises(R.ModelNotFoundError, match="Systran/faster-distil-whisper-large-v3"):
        R.resolve_faster_whisper("distil-large-v3")


def test_probe_import_reports_and_remembers(env, monkeypatch):
    packages._probe_memo.clear()
    reason = R.probe_import("json.no_such_module_here")
    assert reason.startswith("`import json.no_such_module_here` fails: ModuleNotFoundError")
    assert R.probe_import("json") is None
    packages._probe_memo.clear()  # a new process: the verdict comes from disk, no subprocess

    def no_subprocess(*a, **k):
        raise AssertionError("probed again")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert R.probe_import("json.no_such_module_here") == reason


def test_broken_torchaudio_is_hidden_from_transformers(env, monkeypatch):
    monkeypatch.delitem(sys.modules, "torchaudio", raising=False)
    monkeypatch.setattr(packages, "missing_packages", lambda *m: None)
    monkeypatch.setattr(packages, "probe_import", lambda *a, **k: "`import torchaudio` fails: OSError")
    R.prepare_transformers()
    assert sys.modules["torchaudio"] is None
    with pytest.raises(ImportError):
        import torchaudio  # noqa: F401


def test_working_torchaudio_is_left_alone(env, monkeypatch):
    monkeypatch.delitem(sys.modules, "torchaudio", raising=False)
    monkeypatch.setattr(packages, "missing_packages", lambda *m: None)
    monkeypatch.setattr(packages, "probe_import", lambda *a, **k: None)
    R.prepare_transformers()
    assert "torchaudio" not in sys.modules


def test_missing_packages_message():
    assert R.missing_packages("json", "os") is None
    assert R.missing_packages("no_such_pkg_a", "json") == "Python package no_such_pkg_a not installed"
    assert R.missing_packages("no_a", "no_b") == "Python packages no_a, no_b not installed"
