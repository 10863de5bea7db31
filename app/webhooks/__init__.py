"""Signed webhooks for API clients (Standard Webhooks)."""
