"""Engines: every engine per stage, whether it runs here and why not, its models and languages; tool versions."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dubbing.engines import resolve
from dubbing.errors import DubbingError
from dubbing.ui import common
from dubbing.ui.auth import authenticated
from dubbing.ui.engines import STAGE_TITLES, tool_versions, voice_lines

SHOWN_LANGUAGES = 12


@st.cache_data(ttl=300, show_spinner=False)
def versions() -> dict[str, str]:
    return tool_versions()


st.title("Engines")
c1, c2 = st.columns([5, 1], vertical_alignment="center")
c1.caption("What each pipeline stage can use on this machine. `auto` on the New dub page picks the first "
           "available engine of a stage that handles the languages.")
if c2.button("Check again", key="engines_recheck", help="Look for newly installed engines and models"):
    common.engine_rows.clear()
    versions.clear()
    st.rerun()


def shorten(codes: list[str]) -> str:
    if not codes:
        return "any"
    shown = ", ".join(codes[:SHOWN_LANGUAGES])
    return shown + (f" (+{len(codes) - SHOWN_LANGUAGES} more)" if len(codes) > SHOWN_LANGUAGES else "")


def engine_row(r: dict) -> None:
    c = st.columns([1.3, 1.2, 6], vertical_alignment="top")
    c[0].markdown(f"**{r['name']}**")
    if r["available"]:
        c[1].markdown(":green-badge[:material/check: available]")
        langs = r.get("pairs") or r.get("languages") or []
        kind = "Pairs" if r.get("pairs") else "Languages"
        c[2].markdown(f"{r.get('description') or ''}  \n:gray[Models: {', '.join(r.get('models') or []) or 'default'}"
                      f" · {kind}: {shorten(langs)}]")
        if r.get("voices"):
            with c[2].expander(f"Voices ({len(r['voices'])})"):
                st.markdown("\n".join(f"- {line}" for line in voice_lines(r)))
    else:
        c[1].markdown(":red-badge[:material/close: not available]")
        c[2].markdown(f":gray[{r.get('description') or ''}]  \n{r.get('reason') or 'not available here'}"
                      if r.get("description") else (r.get("reason") or "not available here"))


rows = common.engine_rows()
for stage, title in STAGE_TITLES.items():
    stage_rows = [r for r in rows if r["stage"] == stage]
    if not stage_rows:
        continue
    n_ok = sum(1 for r in stage_rows if r["available"])
    st.subheader(f"{title} · {n_ok} of {len(stage_rows)} available")
    with st.container(border=True):
        for r in stage_rows:
            engine_row(r)

st.subheader("Hugging Face access")
st.caption("Gated models such as the pyannote pipelines need a token (and a hub connection or a filled cache). "
           "It is stored for this machine's user where huggingface_hub keeps it; `HF_TOKEN` in the "
           "environment takes precedence.")
has_token = resolve.hf_token() is not None
if not authenticated():  # app.py already stops such sessions; the token is worth a second check
    st.stop()
with st.form("hf_token_form", border=True):
    token = st.text_input("Token", type="password", placeholder="hf_..." if not has_token else "a token is stored")
    saved = st.form_submit_button("Save token")
if saved:
    try:
        resolve.save_hf_token(token)
    except DubbingError as exc:
        common.show_error(exc)
    else:
        common.engine_rows.clear()
        st.success("Token saved." if token.strip() else "Stored token removed.", icon=":material/key:")
st.caption(":green[A token is available.]" if resolve.hf_token() else ":gray[No token is stored.]")

st.subheader("Tools")
st.dataframe(pd.DataFrame([{"Tool": k, "Version": v} for k, v in versions().items()]),
             hide_index=True, width="content")
