"""Standards at the edges: what other systems send us, taken in."""
