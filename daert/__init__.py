"""daert: a self-hosted agentic assistant server (app shell: settings, services, CLI, HTTP app)."""

from core.version import __version__

__all__ = ["__version__"]
