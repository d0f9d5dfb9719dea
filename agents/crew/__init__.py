"""CrewAI crews as tools: a researcher and a writer on our gateway and our search ports.

Importing this package does not import crewai; the first run does (pip install 'daert[crew]').
"""

from agents.crew.errors import CrewCancelled, CrewError, CrewTimeout
from agents.crew.research import CrewResult, run_research_crew
from agents.crew.tools import Source

__all__ = ["CrewCancelled", "CrewError", "CrewResult", "CrewTimeout", "Source", "run_research_crew"]
