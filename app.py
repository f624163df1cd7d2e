"""Dubbing Studio: `streamlit run app.py`.

The pages only talk to the job runner and the data model; every heavy step runs
in the runner's worker process, so the app stays light and survives restarts.

The pages live in `pages/views/`. Streamlit's old folder mode serves a fresh server's
first deep link (such as /review?job=...) from `pages/<name>.py` without running this
file; the small files there (one per URL name) run this file, so its navigation
and page config are always in force.
"""
import streamlit as st

from dubbing.ui.auth import require_login

st.set_page_config(page_title="Dubbing Studio", page_icon=":material/movie:", layout="wide")
require_login()  # before any page: every page needs the login when one is configured

new_dub = st.Page("pages/views/new_dub.py", title="New dub", icon=":material/add_circle:", default=True)


def open_new_dub() -> None:
    """/new: Streamlit serves the default page only at the root, so this hidden page leads there."""
    st.switch_page(new_dub)


st.navigation([
    new_dub,
    st.Page(open_new_dub, title="New dub", url_path="new", visibility="hidden"),
    st.Page("pages/views/jobs.py", title="Jobs", icon=":material/list_alt:", url_path="jobs"),
    st.Page("pages/views/review.py", title="Review", icon=":material/rate_review:", url_path="review"),
    st.Page("pages/views/engines.py", title="Engines", icon=":material/settings:", url_path="engines"),
], position="top").run()
