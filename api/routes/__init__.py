"""The JSON API, one module per domain (chat, tickets, KB, operations, SLA, reports, …)."""
