"""truyvet: the command line and the standalone runtime that ties the packages together."""
