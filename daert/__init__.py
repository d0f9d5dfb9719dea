"""daert: a self-hosted agentic assistant server (app shell: settings, services, CLI, HTTP app)."""

__version__ = "0.1.0"
