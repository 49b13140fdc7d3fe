"""Defaults for every test that talks to (moto's) AWS: a region, dummy credentials, tracing off.

Set before anything imports boto3 or Powertools, so no test can reach a real account by accident and
no handler waits for an X-Ray daemon. Values already in the environment win (a developer may pick
another region), except credentials: tests never run with real ones.
"""

from __future__ import annotations

import os

# moto's tests and ours use this region; any region works, it only has to be the same everywhere.
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)
# The X-Ray SDK becomes a no-op and Powertools' Tracer stays off: there is no daemon to send to.
os.environ.setdefault("AWS_XRAY_SDK_ENABLED", "false")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "mwaa-hibernate")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "MwaaHibernate")
os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
