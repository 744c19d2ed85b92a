"""Rasa custom actions for the tenant access assistant.

Run from the repository root with `rasa run actions --actions bot.actions`.
"""
