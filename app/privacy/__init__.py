"""A resident's data rights: their export (UK GDPR art. 15 and 20) and erasure (art. 17)."""
