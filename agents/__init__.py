"""Model gateway, structured output, embedders, prompts, planner and crews."""
