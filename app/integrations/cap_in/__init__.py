"""CAP 1.2 documents from agencies' feeds, taken in as alerts."""
