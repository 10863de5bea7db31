"""Watch groups: areas, membership with join policies, invitations and roles."""
