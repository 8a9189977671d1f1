"""Use cases shared by every entrypoint (CLI today, web and alerts later)."""
