"""Dubbing Studio: `streamlit run app.py`.

The pages only talk to the job runner and the data model; every heavy step runs
in the runner's worker process, so the app stays light and survives restarts.
"""
import streamlit as st

st.set_page_config(page_title="Dubbing Studio", page_icon="🎬", layout="wide")

st.navigation([
    st.Page("pages/new_dub.py", title="New dub", icon="➕", url_path="new", default=True),
    st.Page("pages/jobs.py", title="Jobs", icon="📋", url_path="jobs"),
    st.Page("pages/review.py", title="Review", icon="✏️", url_path="review"),
    st.Page("pages/engines.py", title="Engines", icon="⚙️", url_path="engines"),
]).run()
