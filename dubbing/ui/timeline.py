"""The timeline: one lane per speaker, one bar per line, coloured by the line's status.

A click on a bar selects that line (the table and the line pane follow); the selected
line is outlined. Built on Altair's point selection, which Streamlit hands back.
"""
from __future__ import annotations

import altair as alt
import streamlit as st

from ..models import Document
from . import status, table

COLOURS = {status.VOICED: "#4c78a8", status.NEEDS_VOICING: "#f2a93b", status.OUT_OF_DATE: "#b279a2",
           status.OVERRUN: "#e45756", status.MUTED: "#bab0ac"}
LANE_PX = 30


def show(doc: Document, statuses: dict[int, str], selected: int | None, *, key: str, line_key: str) -> None:
    frame = table.timeline_frame(doc, statuses, selected)
    lanes = list(dict.fromkeys(table.speaker_label(doc, k) for k in table.speaker_keys(doc)))
    pick = alt.selection_point(fields=["id"], name="line", on="click", clear=False)
    end = max(doc.duration, float(frame["end"].max()))
    chart = alt.Chart(frame).mark_bar(cornerRadius=3, height=LANE_PX - 10).encode(
        x=alt.X("start:Q", title=None, scale=alt.Scale(domain=[0, end], nice=False),
                axis=alt.Axis(labelExpr="datum.value + ' s'")),
        x2="end:Q",
        y=alt.Y("lane:N", title=None, sort=lanes, scale=alt.Scale(domain=lanes),
                axis=alt.Axis(labelLimit=160)),
        color=alt.Color("state:N", title=None, legend=alt.Legend(orient="top", padding=0, offset=4),
                        scale=alt.Scale(domain=list(COLOURS), range=list(COLOURS.values()))),
        stroke=alt.condition("datum.selected", alt.value("#111111"), alt.value(None)),
        strokeWidth=alt.condition("datum.selected", alt.value(3), alt.value(0)),
        tooltip=["id", alt.Tooltip("lane:N", title="speaker"), alt.Tooltip("start:Q", format=".2f"),
                 alt.Tooltip("end:Q", format=".2f"), "text", "translation", "state"],
    ).add_params(pick).properties(height=alt.Step(LANE_PX))

    def on_click() -> None:
        chosen = (st.session_state.get(key) or {}).get("selection", {}).get("line") or []
        if chosen and chosen[0].get("id") is not None:
            st.session_state[line_key] = int(chosen[0]["id"])

    st.altair_chart(chart, width="stretch", key=key, on_select=on_click, selection_mode="line")
