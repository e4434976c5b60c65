"""Checkpoint and venue officers, and the station devices at their places.

One blueprint, a module per concern: ``api`` (scans posted by sessions and station tokens),
``station`` (the officer's station page), ``paper`` (paper declarations typed in by officers),
``imports`` (scan-log uploads), ``places`` (place posters), ``checkin`` (self check-in at venues).
"""
from __future__ import annotations

from webapp.checkpoint import api, checkin, imports, paper, places, station  # noqa: F401  (their routes register on bp)
from webapp.checkpoint.blueprint import bp

__all__ = ["bp"]
