"""Command-line entrypoint: parse input, call services, render with rich."""
