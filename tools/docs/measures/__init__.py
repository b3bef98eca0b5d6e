"""The resilience scorecard's measures, each read from one stack's Terraform JSON
(``tools/docs/scorecard.py`` renders them as a page).

``recovery`` (AZs, detection, replacement, single points of failure), ``coverage`` (retries
and DLQs, alarms), ``protection`` (exposure, encryption), ``rollout`` (deploy safety) and
``claims`` (the faults a stack claims to survive, with their chaos experiments). Each measure
returns a :class:`~tools.docs.measures.row.Row`.
"""
