"""Engines: every engine per stage, whether it runs here and why not, its models and languages; tool versions."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dubbing.ui import common, languages
from dubbing.ui.engines import STAGE_TITLES, tool_versions

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


rows = common.engine_rows()
for stage, title in STAGE_TITLES.items():
    stage_rows = [r for r in rows if r["stage"] == stage]
    if not stage_rows:
        continue
    n_ok = sum(1 for r in stage_rows if r["available"])
    st.subheader(f"{title} · {n_ok} of {len(stage_rows)} available")
    table = pd.DataFrame([{
        "Engine": r["name"],
        "Available": "✅ yes" if r["available"] else "❌ no",
        "Why not / what to do": r.get("reason") or "",
        "Models found": ", ".join(r.get("models") or []) or ("-" if not r["available"] else "default"),
        "Languages": shorten(r.get("pairs") or [languages.label(c) if len(r.get("languages") or []) <= 3 else c
                                                for c in r.get("languages") or []]) if r["available"] else "",
        "About": r.get("description") or "",
    } for r in stage_rows])
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "Engine": st.column_config.TextColumn(width="small"),
        "Available": st.column_config.TextColumn(width="small"),
        "Why not / what to do": st.column_config.TextColumn(width="large"),
        "Languages": st.column_config.TextColumn(width="medium"),
    })

st.subheader("Tools")
st.dataframe(pd.DataFrame([{"Tool": k, "Version": v} for k, v in versions().items()]),
             hide_index=True, width="content")
