"""The health officials' workspace and the wards' alert lists.

One blueprint, a module per concern: ``people`` (search, a person's page, a place's page),
``trace_page`` (a case's trace: graph, contact tables, exports), ``follow_up`` (contact
statuses; positive reports a new case), ``ward_alerts`` (a ward's exposure alerts, acknowledged
and printed). Who sees what: webapp/scope.py; every read is audited (webapp/audit.py).
"""
from __future__ import annotations

from webapp.workspace import follow_up, people, trace_page, ward_alerts  # noqa: F401  (their routes register on bp)
from webapp.workspace.blueprint import bp

__all__ = ["bp"]
