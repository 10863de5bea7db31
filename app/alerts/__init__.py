"""Geofenced alerts: places, preferences, issuing, recipients, acknowledgements, CAP 1.2."""
