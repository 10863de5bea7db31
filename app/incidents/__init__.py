"""Citizen incident reports: submission, privacy, moderation, updates, area statistics."""
