"""Thin entry points for `ray job submit` and cron: each parses its flags and calls the library."""
