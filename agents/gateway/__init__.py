"""The model gateway: aliases over LiteLLM with fallbacks, typed errors, usage and structure."""

from agents.gateway.deployments import Deployment, resolve
from agents.gateway.gateway import Completion, ModelGateway
from agents.gateway.structured import GuidanceRunner, structured

__all__ = ["Completion", "Deployment", "GuidanceRunner", "ModelGateway", "resolve", "structured"]
