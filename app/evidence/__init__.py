"""Evidence for prevention: police-recorded crime beside residents' reports, and what is rising."""
