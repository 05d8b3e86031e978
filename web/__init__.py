"""The FastAPI application, pages, settings and the command line: the one place that knows all."""
