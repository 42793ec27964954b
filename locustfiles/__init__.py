"""The traffic model: Locust users for Customer.io integrations, payload pools, load shapes, options.

Locust loads ``locustfiles/locustfile.py``; the modules here hold what it assembles. Nothing runs at
import time beyond class and option definitions, so importing this package is cheap and side-effect
free (pools are built at ``test_start``).
"""
