"""Layers shared by the built-in temporal modules and align heads (no entry points here)."""
