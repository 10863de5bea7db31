"""Users, passwords, access and refresh tokens, and the dependencies that authenticate."""
