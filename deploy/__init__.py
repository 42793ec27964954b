"""Deployment of the suite: container and Kubernetes manifests, the capacity planner, Locust worker plugins."""
