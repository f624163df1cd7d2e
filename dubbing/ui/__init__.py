"""Helpers shared by the Streamlit pages.

Pages stay thin: they call the job runner (`dubbing.jobs.client`), the data
model (`dubbing.models`) and the engine registry, and use these helpers for
what is about presentation only. Nothing here loads a model or runs a stage.
"""
