"""Neighbourwatch: the backend for neighbourhood-watch mobile apps."""
