"""Outbox, e-mail, ICS invites and reminders."""
