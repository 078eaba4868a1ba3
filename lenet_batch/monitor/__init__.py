"""Watching the job from outside: the output's health (`check`), a Prometheus textfile, a webhook."""
