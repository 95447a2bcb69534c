"""Messaging core shared by every service: outbox, relay, inbox/consumer loop, buses."""
