"""The site's pages and JSON API: one blueprint per role, plus the shared access rules.

A view parses the request, calls services, storage, geo or planner, and renders a template
or returns JSON. No SQL, no numerical work, no OR-Tools here, and no blueprint module
imports another: what two blueprints share lives in :mod:`web.views.access` (who may use
what) or in :mod:`web.services`.
"""
