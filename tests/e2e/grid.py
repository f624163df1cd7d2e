"""Driving Streamlit's data editor (a canvas grid) from Playwright, for the browser tests."""
from __future__ import annotations

import time

from playwright.sync_api import Page

HEADER_PX = ROW_PX = 35


def edit_cell(page: Page, column: int, row: int, text: str) -> float:
    """Select the row's first cell, move right with the keyboard, edit in the overlay, commit with Enter.

    Returns when the edit was committed (perf_counter), for timings. The canvas redraws after a
    scroll or a resize and may then miss a click, so a missed one is tried once more.
    """
    grid = page.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    page.wait_for_timeout(400)
    editor = page.locator("#portal textarea")
    for attempt in range(2):
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 15, box["y"] + HEADER_PX + ROW_PX * row + ROW_PX / 2)
        for _ in range(column):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")
        try:
            editor.wait_for(timeout=5_000)
            break
        except Exception:
            if attempt:
                raise
            page.keyboard.press("Escape")
            page.wait_for_timeout(500)
    editor.fill(text)
    started = time.perf_counter()
    page.keyboard.press("Enter")
    return started
