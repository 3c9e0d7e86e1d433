"""The ground floor: configuration, the database (models' base, engines, sessions, migrations), input rules, and the
infrastructure every process shares (relay, lease, rate limits, background tasks). Imports nothing of ours."""
