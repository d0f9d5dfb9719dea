"""The knowledge graph: GraphStore port, FalkorDB and Neo4j adapters, extraction, NL->Cypher."""
