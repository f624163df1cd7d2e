"""Engine choices for the pages, read from the registry's description (no model is loaded)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..engines import registry
from . import languages

STAGE_TITLES = {"diarization": "Speaker diarization", "stt": "Speech to text", "gender": "Voice gender",
                "translation": "Translation", "tts": "Speech synthesis"}
# Stages a user picks an engine for: registry stage -> (DubSettings engine field, DubSettings model field).
CHOOSABLE = {
    "diarization": ("diarization", "diarization_model"),
    "stt": ("stt", "stt_model"),
    "translation": ("translator", "translation_model"),
    "tts": ("tts", "tts_model"),
}
AUTO = "auto"


@dataclass
class StageChoice:
    stage: str
    available: list[str] = field(default_factory=list)
    unavailable: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    models: dict[str, list[str]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)


def stage_choices(rows: list[dict[str, Any]], stage: str) -> StageChoice:
    choice = StageChoice(stage)
    for row in rows:
        if row["stage"] != stage:
            continue
        if row["available"]:
            choice.available.append(row["name"])
            choice.models[row["name"]] = list(row.get("models") or [])
            choice.descriptions[row["name"]] = row.get("description") or ""
        else:
            choice.unavailable.append((row["name"], row.get("reason") or "not available here"))
    return choice


def translator_pairs(rows: list[dict[str, Any]], translator: str) -> set[tuple[str, str]]:
    """(source, target) pairs a translator offers here; for `auto`, those of every available translator."""
    pairs: set[tuple[str, str]] = set()
    for row in rows:
        if row["stage"] == "translation" and row["available"] and translator in (AUTO, row["name"]):
            for p in row.get("pairs") or []:
                s, _, t = p.partition("-")
                pairs.add((s, t))
    return pairs


def target_languages(rows: list[dict[str, Any]], translator: str) -> list[str]:
    return languages.sorted_codes({t for _, t in translator_pairs(rows, translator)})


def source_languages(rows: list[dict[str, Any]]) -> list[str]:
    """Languages the available speech-to-text engines hear (all known ones when an engine takes any)."""
    codes: set[str] = set()
    for row in rows:
        if row["stage"] == "stt" and row["available"]:
            langs = row.get("languages") or []
            codes.update(langs if langs else languages.NAMES)
    return languages.sorted_codes(codes or set(languages.NAMES))


def pair_problem(rows: list[dict[str, Any]], translator: str, source: str, target: str) -> str | None:
    """Why this translator cannot take source -> target here, with what it can do; None when it can."""
    if source != AUTO and source == target:
        return (f"The source and target language are both {languages.name(source)}: "
                "pick another target language.")
    pairs = translator_pairs(rows, translator)
    ok = any((source in (AUTO, s)) and t == target and s != t for s, t in pairs)
    if ok:
        return None
    who = "No available translator" if translator == AUTO else f"The translator '{translator}'"
    into = sorted({s for s, t in pairs if t == target})
    if into:
        hint = f"It translates into {languages.name(target)} from: {', '.join(languages.label(s) for s in into)}."
    elif pairs:
        listed = ", ".join(f"{s}→{t}" for s, t in sorted(pairs))
        hint = f"Its pairs here: {listed}. Pick one of those targets or another translator."
    else:
        hint = "It has no language pairs installed here; see the Engines page."
    return f"{who} cannot translate {languages.name(source)} into {languages.name(target)}. {hint}"


def voice_options(tts: str, language: str) -> dict[str, str]:
    """Voice value ("<engine>:<id>") -> label, for the voices `tts` has in `language`."""
    if not tts or tts == AUTO:
        return {}
    try:
        cls = registry.engine_class("tts", tts)
        voices = cls.voices(language) if cls.availability().ok else []
    except Exception:  # an engine that fails to list its voices must not break the page
        return {}
    out = {}
    for v in voices:
        label = v.name or v.id
        if v.gender and v.gender != "unknown":
            label = f"{label} ({v.gender})"
        out[f"{tts}:{v.id}"] = label
    return out


def auto_pick(rows: list[dict[str, Any]], stage: str, source: str, target: str | None) -> str | None:
    """What `auto` will choose for a stage, as the registry does: the first available engine that fits."""
    for name in stage_choices(rows, stage).available:
        if stage == "translation" and target and pair_problem(rows, name, source, target):
            continue
        if stage == "tts" and target and not voice_options(name, target):
            continue
        return name
    return None


def speech_engine(doc_engines: dict[str, str], chosen: str, target: str) -> str:
    """The speech engine a job uses: the one it ran with, else the one `auto` will pick for the target."""
    if doc_engines.get("tts"):
        return doc_engines["tts"]
    if chosen and chosen != AUTO:
        return chosen
    try:
        return registry.pick("tts", AUTO, target=target)[0]
    except Exception:
        return ""


def voice_label(options: dict[str, str], value: str) -> str:
    if not value or value == AUTO:
        return "automatic (by gender)"
    return options.get(value) or value


def tool_versions() -> dict[str, str]:
    """Versions of the command-line tools the engines use."""
    import shutil

    from ..errors import DubbingError
    from ..media import encoder_exe, ffmpeg_exe, ffprobe_exe, tool_version

    def version(exe) -> str:
        try:
            return tool_version([exe(), "-version"])
        except DubbingError as exc:
            return f"not available ({exc})"

    versions = {
        "ffmpeg": version(ffmpeg_exe),
        "ffmpeg (writing the video)": version(encoder_exe),  # imageio-ffmpeg's static build, where present
        "ffprobe": version(ffprobe_exe),
        "eSpeak NG": tool_version(["espeak-ng", "--version"]),
    }
    # apertium has no --version; ask the package manager, else say whether it is there at all.
    if shutil.which("apertium") is None:
        versions["Apertium"] = "not installed (apt-get install apertium apertium-eng-spa)"
    else:
        found = tool_version(["dpkg-query", "-W", "-f=${Version}", "apertium"])
        versions["Apertium"] = f"apertium {found}" if found and not found.startswith("not available") \
            and "no packages" not in found else "installed (version unknown)"
    return versions


def voice_lines(row: dict[str, Any], shown_languages: int = 6) -> list[str]:
    """A speech engine's voices for the Engines page: name, gender, languages."""
    out = []
    for v in row.get("voices") or []:
        langs = v["languages"]
        more = f" +{len(langs) - shown_languages}" if len(langs) > shown_languages else ""
        out.append(f"{v['name']} · {v['gender']} · {', '.join(langs[:shown_languages])}{more}")
    return out
