"""Durable runs: one machinery behind every surface.

A run is a row in PostgreSQL (`store`), executed as a procrastinate job by any worker
(`queue`, `executor`), its events appended to a Redis Stream (`streams`) that any server
process can replay from an event id. Surfaces create runs and render their events; they never
call a graph themselves.
"""
