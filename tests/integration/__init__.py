"""The app over HTTP (and the chat platforms' fakes, SMTP, Redis, several processes), as users and agents meet it."""
