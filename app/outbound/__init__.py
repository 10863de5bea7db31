"""Calls out to URLs that others chose (webhooks, CAP sources), made safely."""
