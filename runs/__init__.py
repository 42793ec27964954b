"""Run orchestration: starting the sandbox, pipeline and Locust processes, and the standard profiles."""
