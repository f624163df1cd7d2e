"""New dub: upload a video, choose languages and engines, submit to the runner."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from dubbing import media
from dubbing.errors import DubbingError
from dubbing.jobs import client
from dubbing.models import MIX_DUCK, MIX_REPLACE, DubSettings
from dubbing.ui import common, languages, uploads
from dubbing.ui.engines import AUTO, CHOOSABLE, STAGE_TITLES, auto_pick, pair_problem, source_languages, \
    stage_choices, target_languages, voice_options

STAGED = "new_dub_staged"  # {"path", "name", "info"}: the upload, already on disk and probed
UPLOAD_ERROR = "new_dub_upload_error"
UPLOAD_GEN = "new_dub_upload_gen"  # bumped to give the uploader a fresh key, which empties it
KEEP = "session"  # widget values survive a visit to another page

st.title("New dub")
rows = common.engine_rows()
# Streamlit refuses bigger uploads in the browser; the runner's own limit may be lower.
max_bytes = min(int(st.get_option("server.maxUploadSize")) * 1024 * 1024, client.max_upload_bytes())
max_mb = max_bytes / (1024 * 1024)


def take_upload(uploaded) -> None:
    """Write the upload to disk, let Streamlit drop its copy, and probe the file."""
    name = uploaded.name
    path = uploads.save_upload(uploaded, name)
    uploads.release_from_streamlit(uploaded)
    st.session_state.pop(UPLOAD_ERROR, None)
    try:
        info = media.probe(path, max_bytes=max_bytes)
    except DubbingError as exc:
        uploads.discard(path)
        st.session_state[UPLOAD_ERROR] = exc.message.replace(path.name, name)
        st.session_state.pop(STAGED, None)
    else:
        st.session_state[STAGED] = {"path": str(path), "name": name, "info": info.to_dict()}


def describe(info: dict) -> str:
    mb = info.get("size", 0) / 1e6
    return (f"{common.fmt_seconds(info.get('duration'))}, {info.get('width')}×{info.get('height')} "
            f"{info.get('video_codec')}, audio {info.get('audio_codec')} {info.get('sample_rate')} Hz, {mb:.1f} MB")


# --- 1. The video ---------------------------------------------------------------------------------
st.subheader("1. Video")
staged = st.session_state.get(STAGED)
if staged and not Path(staged["path"]).is_file():
    staged = None
    st.session_state.pop(STAGED, None)
if staged is None:
    uploads.clean_stale()
    gen = st.session_state.setdefault(UPLOAD_GEN, 0)
    uploaded = st.file_uploader(
        "Upload an MP4 video", key=f"new_dub_upload_{gen}",
        help=f"An MP4 with picture and sound, up to {max_mb:.0f} MB. "
             "The file is checked by reading it, not by its name.")
    if uploaded is not None:
        with st.spinner("Checking the video…"):
            take_upload(uploaded)
        st.session_state[UPLOAD_GEN] = gen + 1
        st.rerun()
    if st.session_state.get(UPLOAD_ERROR):
        st.error(common.md_escape(st.session_state[UPLOAD_ERROR]), icon=":material/error:")
else:
    c1, c2 = st.columns([4, 1], vertical_alignment="center")
    c1.success(f"**{common.md_escape(staged['name'])}** · {describe(staged['info'])}", icon=":material/movie:")
    if c2.button("Choose another video", key="new_dub_replace"):
        uploads.discard(staged["path"])
        st.session_state.pop(STAGED, None)
        st.rerun()
    tracks = staged["info"].get("audio_tracks") or []
    if len(tracks) > 1:
        st.selectbox("Audio track to dub", range(len(tracks)), key="new_dub_audio_track",
                     format_func=lambda i: media.describe_track(tracks[int(i)]),
                     help="This video has several audio tracks; the dub replaces the one you pick.")

# --- 2. Languages and engines ---------------------------------------------------------------------
st.subheader("2. Languages")
choices = {stage: stage_choices(rows, stage) for stage in CHOOSABLE}
defaults = DubSettings(target_language="es")


def engine_picker(stage: str, column) -> tuple[str, str]:
    """Engine and model for one stage; only available engines are offered."""
    field, model_field = CHOOSABLE[stage]
    title = STAGE_TITLES[stage]
    choice = choices[stage]
    options = [AUTO] + choice.available
    default = getattr(defaults, field)
    key = f"new_dub_engine_{stage}"
    if key not in st.session_state:
        st.session_state[key] = default if default in options else AUTO
    auto_label = f"auto ({auto_names[stage]})" if auto_names.get(stage) else "auto (best available)"
    name = column.selectbox(
        title, options, key=key, persist_state=KEEP, format_func=lambda n: auto_label if n == AUTO else n,
        help=choice.descriptions.get(st.session_state.get(key), "") or "The first available engine that fits "
             "the languages.")
    model = getattr(defaults, model_field) if name == AUTO else ""  # "" = the engine's default model
    models = choice.models.get(name, [])
    if name != AUTO and models:
        model = column.selectbox(
            f"{title} model", models, key=f"new_dub_model_{stage}_{name}", persist_state=KEEP,
            accept_new_options=True, help="Models found here; you may type another model name or a local folder.")
    if choice.unavailable:
        column.caption("Not available here: " + ", ".join(n for n, _ in choice.unavailable))
    return name, model or ""


src_col, tgt_col = st.columns(2)
source = src_col.selectbox("Source language", [AUTO] + source_languages(rows), key="new_dub_source",
                           format_func=languages.label, persist_state=KEEP,
                           help="Leave on automatic to let speech recognition detect it.")

targets = target_languages(rows, AUTO)
if "new_dub_target" not in st.session_state:
    st.session_state["new_dub_target"] = "es" if "es" in targets else (targets[0] if targets else None)
target = tgt_col.selectbox("Target language", targets, key="new_dub_target", format_func=languages.label,
                           persist_state=KEEP, placeholder="No translator is available",
                           help="Languages an available translator can produce.")

st.subheader("3. Engines")
auto_names = {stage: auto_pick(rows, stage, source, target) for stage in CHOOSABLE}
cols = st.columns(len(CHOOSABLE))
picked = {stage: engine_picker(stage, col) for stage, col in zip(CHOOSABLE, cols)}
translator = picked["translation"][0]
unavailable = [(STAGE_TITLES[stage], n, why) for stage in CHOOSABLE for n, why in choices[stage].unavailable]
if unavailable:
    with st.expander(f"Why {len(unavailable)} engine{'s are' if len(unavailable) > 1 else ' is'} not available here"):
        for title, n, why in unavailable:
            st.markdown(f"**{n}** ({title.lower()}): {why}")  # engines write their reasons in Markdown

problems: list[str] = []
if not targets or target is None:
    problems.append("No translation engine is available here, so nothing can be dubbed. See the Engines page.")
else:
    pair = pair_problem(rows, translator, source, target)
    if pair:
        problems.append(pair)
    tts = picked["tts"][0]
    speakers_of = [tts] if tts != AUTO else choices["tts"].available
    if not any(voice_options(name, target) for name in speakers_of):
        who = f"The speech engine '{tts}'" if tts != AUTO else "No available speech engine"
        problems.append(f"{who} has no voice for {languages.name(target)}: pick another speech engine "
                        "or target language (the Engines page lists what each one speaks).")

# --- 4. Speakers and review -----------------------------------------------------------------------
st.subheader("4. Speakers and review")
c1, c2, c3 = st.columns([1, 1, 2])
speaker_mode = c1.radio("Number of speakers", ["Detect", "Set"], key="new_dub_speaker_mode", persist_state=KEEP,
                        format_func=lambda m: "Detect automatically" if m == "Detect" else "I know how many")
speakers = None
if speaker_mode == "Set":
    speakers = int(c2.number_input("Speakers", min_value=1, max_value=20, value=2, step=1,
                                   key="new_dub_speakers", persist_state=KEEP))
review = c3.checkbox("Pause for review before speech", value=True, key="new_dub_review", persist_state=KEEP,
                     help="Stop after translation so you can check and edit the lines before voices are made.")
with st.expander("Timing and mix"):
    a1, a2 = st.columns(2)
    max_speed = a1.slider("Fastest speech-up", 1.0, 2.0, defaults.max_speed, 0.05, key="new_dub_max_speed",
                          persist_state=KEEP, help="How much dubbed speech may be sped up to fit its slot.")
    mix_mode = a2.radio("Original audio under the dub", [MIX_DUCK, MIX_REPLACE], key="new_dub_mix",
                        persist_state=KEEP, horizontal=True,
                        format_func=lambda m: "Keep it, quieter (ducked)" if m == MIX_DUCK else "Remove it")

# --- Submit ---------------------------------------------------------------------------------------
for p in problems:
    st.error(p, icon=":material/error:")
staged = st.session_state.get(STAGED)
if staged is None:
    st.info("Upload a video to start.", icon=":material/upload:")

if st.button("Start dubbing", type="primary", disabled=bool(problems) or staged is None, key="new_dub_submit"):
    (diar, diar_model), (stt, stt_model), (tr, tr_model), (tts, tts_model) = (
        picked["diarization"], picked["stt"], picked["translation"], picked["tts"])
    settings = DubSettings(
        target_language=target, source_language=source, diarization=diar, diarization_model=diar_model,
        stt=stt, stt_model=stt_model, translator=tr, translation_model=tr_model, tts=tts, tts_model=tts_model,
        speakers=speakers, max_speed=float(max_speed), mix_mode=mix_mode, review=bool(review),
        audio_track=(int(st.session_state.get("new_dub_audio_track") or 0)
                     if len(staged["info"].get("audio_tracks") or []) > 1 else 0))
    try:
        with st.spinner("Submitting…"):
            job_id = client.submit(Path(staged["path"]), staged["name"], settings, max_bytes=max_bytes)
    except DubbingError as exc:
        common.show_error(exc)
    except Exception as exc:  # the runner itself failed: say so, keep everything entered
        st.error(f"The job could not be started ({exc}). Try again; if it keeps failing, "
                 "check that the data folder is writable and see the server log.", icon=":material/error:")
    else:
        uploads.discard(staged["path"])
        for key in (STAGED, UPLOAD_ERROR):
            st.session_state.pop(key, None)
        common.open_review(job_id)
