"""Open311 GeoReport v2 and its Service Discovery, under /open311/v2/, in XML and JSON.

Residents' apps and council systems that speak Open311 (FixMyStreet, SeeClickFix, city
CRMs) read our categories as services, file reports with an API client's secret as
their `api_key`, and read the reports the public may see: snapped, with no reporter and
no contact detail, whoever asks.
"""
