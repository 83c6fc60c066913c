"""Command-line interface."""

from guardrail.cli.app import app, main

__all__ = ["app", "main"]
