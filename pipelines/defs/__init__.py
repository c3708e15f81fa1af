"""Orchestration: one folder per capability, each with its assets, checks, jobs, schedules, sensors and resources
and one build_defs(settings); pipelines/definitions.py merges them. See README.md here."""
