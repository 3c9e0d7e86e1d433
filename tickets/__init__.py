"""Conversations, messages, tickets, agents and their audit trail: the service desk's source of truth."""
