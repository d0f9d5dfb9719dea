"""Web search: Tavily, or a private index of crawled pages; results normalised and deduplicated."""
