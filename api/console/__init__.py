"""The agent console: server-rendered page shells (`templates/`), sign-in and its session cookie, and the
console's own JSON (dashboard, live events). Its JavaScript and CSS are in `api/static/console/`."""
