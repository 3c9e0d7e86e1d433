"""The composition root: settings, the FastAPI app factory, HTTP routers, channel mounts and the CLI."""
