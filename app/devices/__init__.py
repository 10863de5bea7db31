"""Phones registered for push."""
