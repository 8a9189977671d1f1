"""The configuration file: one TOML file validated by pydantic; secrets never in plain text."""
