"""Dubbing Studio: `streamlit run app.py`.

The pages only talk to the job runner and the data model; every heavy step runs
in the runner's worker process, so the app stays light and survives restarts.

The page scripts live in `app_pages/`, not `pages/`: while a `pages/` folder
exists, a fresh server serves a deep link such as /review?job=... from that
folder directly (Streamlit's old multipage mode) without running this file, so
the navigation and page config were missing after a restart.
"""
import streamlit as st

st.set_page_config(page_title="Dubbing Studio", page_icon=":material/movie:", layout="wide")

st.navigation([
    st.Page("app_pages/new_dub.py", title="New dub", icon=":material/add_circle:", url_path="new", default=True),
    st.Page("app_pages/jobs.py", title="Jobs", icon=":material/list_alt:", url_path="jobs"),
    st.Page("app_pages/review.py", title="Review", icon=":material/rate_review:", url_path="review"),
    st.Page("app_pages/engines.py", title="Engines", icon=":material/settings:", url_path="engines"),
], position="top").run()
