"""Pages in headless Chromium (Debian's, through Playwright): the agent console and the web chat."""
