"""Locustfile mounted into the Locust pods from a ConfigMap (kustomize configMapGenerator).

Thin on purpose: the users and shapes live in the image's ``locustfiles`` package; this file picks
the scenario. Override it per overlay with a configMapGenerator ``behavior: replace``.
"""

from locustfiles.users import *  # noqa: F403 - the scenario is "every user class of the suite"
