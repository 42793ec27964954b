"""The credentials each container test hands its containers: distinctive, so a leak can be grepped."""

from __future__ import annotations

CI_FLOW = {"CIO_SITE_ID": "ci-site-7f3a", "CIO_API_KEY": "ci-track-key-91c2"}
WEB_UI = {"CIO_SITE_ID": "ui-site-4d1e", "CIO_API_KEY": "ui-track-key-c07b"}
PIPELINE = {"CIO_SITE_ID": "pipe-site-2b9e", "CIO_API_KEY": "pipe-track-key-5a04"}
SCALE = {"CIO_SITE_ID": "scale-site-6e2c", "CIO_API_KEY": "scale-track-key-d4a7"}
K8S_PODS = {"CIO_SITE_ID": "pod-site-83d0", "CIO_API_KEY": "pod-track-key-e6f1"}
# In the environment of the image build too, as a CI job with secrets would have them.
BUILD = {"CIO_SITE_ID": "build-site-1c5d", "CIO_API_KEY": "build-track-key-0a9b"}
EVERY_VALUE = sorted(
    {v for creds in (CI_FLOW, WEB_UI, PIPELINE, SCALE, K8S_PODS, BUILD) for v in creds.values()}
)
