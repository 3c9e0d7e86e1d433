"""What the tests share: a running app (`live`), the browser (`browser`), ticket factories (`ops`), fake chat
platforms (`fakes/`), sample files (`data/`), paths (`paths`). Benchmarks may import from here; nothing here
imports a test."""
