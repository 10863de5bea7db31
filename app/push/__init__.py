"""The outbox and, later, its dispatcher and push senders."""
