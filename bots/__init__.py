"""Surfaces: Agent-Protocol, Slack-style and OpenAI-compatible APIs, Telegram, schedules."""
