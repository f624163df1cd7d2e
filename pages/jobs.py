"""Entry point for Streamlit's old `pages/` folder mode, used for a fresh server's first
deep link (e.g. /review?job=...): run the app's own navigation, which shows the page.

The page itself lives in pages/views/; this file only carries the URL name.
"""
from dubbing.ui.common import run_app

run_app()
