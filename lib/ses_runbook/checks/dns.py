"""Placeholder: filled by its own section."""
