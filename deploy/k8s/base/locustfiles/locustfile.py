"""Locustfile mounted into the Locust pods from a ConfigMap (kustomize configMapGenerator).

Thin on purpose: the users, shapes, options and monitoring live in the image's ``locustfiles``
package; this file picks the scenario (here: everything ``locustfiles/locustfile.py`` offers; choose
with ``--tags``, user class names or ``--shape``). Replace it per overlay with a configMapGenerator
``behavior: replace`` to run a different scenario without rebuilding the image.
"""

from locustfiles.locustfile import *  # noqa: F403 - its __all__ lists the user and shape classes
