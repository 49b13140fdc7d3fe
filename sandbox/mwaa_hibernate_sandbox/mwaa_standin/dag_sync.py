"""MWAA's DAG folder sync: objects under `s3://<SourceBucketArn>/<DagS3Path>/` appear in Airflow's dags folder.

MWAA copies new and changed objects from the environment's DAG folder in S3 to its Airflow components
and removes deleted ones, on its own schedule ("seconds to a few minutes": aws/agent-toolkit-for-aws,
skills/.../authoring-mwaa-workflow/references/deploying-mwaa.md). The stand-in does the same against
the S3 its Airflow processes use (moto in the sandbox), every `interval` seconds, so a tool that uploads
DAGs (`mwaa-hibernate install-dags`) is tested the way it runs on AWS. It only ever talks to an explicit
endpoint: without one there is nothing to sync from (the stand-in never reaches real AWS).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Seconds between two syncs: MWAA's cadence scaled down, as the sandbox scales its waits.
DEFAULT_INTERVAL_SECONDS = 3.0


class S3DagSync:
    """Mirror one S3 prefix into a local folder: download new or changed objects, remove deleted ones."""

    def __init__(self, *, s3: Any, bucket: str, prefix: str, target: Path, interval: float) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.target = target
        self.interval = interval
        self._etags: dict[str, str] = {}
        self._pass = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_environment(
        cls, config: Mapping[str, Any], airflow_env: Mapping[str, str], target: Path, interval: float
    ) -> S3DagSync | None:
        """The sync for an environment's SourceBucketArn and DagS3Path, or None without an S3 endpoint."""
        endpoint = airflow_env.get("AWS_ENDPOINT_URL_S3") or airflow_env.get("AWS_ENDPOINT_URL")
        bucket = str(config.get("SourceBucketArn", "")).rsplit(":", 1)[-1]
        if not endpoint or not bucket:
            return None
        import boto3
        from botocore.config import Config

        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=airflow_env.get("AWS_DEFAULT_REGION", "us-east-1"),
            aws_access_key_id=airflow_env.get("AWS_ACCESS_KEY_ID", "sandbox"),
            aws_secret_access_key=airflow_env.get("AWS_SECRET_ACCESS_KEY", "sandbox"),
            config=Config(connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 1}),
        )
        path = str(config.get("DagS3Path", "")).strip("/")
        return cls(s3=s3, bucket=bucket, prefix=f"{path}/" if path else "", target=target, interval=interval)

    def sync_once(self) -> list[str]:
        """One pass; return the relative paths it wrote or removed. Unreachable S3 or no bucket: nothing.

        Passes never overlap: an environment update runs one from its own thread while the background one may be
        downloading the same files through the same temporary names (the second rename then failed and ended the
        background thread, so the folder stopped following S3)."""
        with self._pass:
            return self._sync_once()

    def _sync_once(self) -> list[str]:
        try:
            listed = self._listing()
        except Exception as error:  # no bucket (yet), moto not up: MWAA just syncs nothing either
            logger.debug("DAG sync from s3://%s/%s skipped: %s", self.bucket, self.prefix, error)
            return []
        changed = []
        for relative, etag in listed.items():
            if self._etags.get(relative) != etag:
                self._download(relative)
                self._etags[relative] = etag
                changed.append(relative)
        for relative in [r for r in self._etags if r not in listed]:
            (self.target / relative).unlink(missing_ok=True)
            del self._etags[relative]
            changed.append(relative)
        if changed:
            logger.info("DAG sync from s3://%s/%s: %s", self.bucket, self.prefix, ", ".join(changed))
        return changed

    def forget(self) -> None:
        """Download everything again on the next pass (the folder was rewritten from elsewhere)."""
        with self._pass:
            self._etags.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"dag-sync-{self.bucket}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync_once()
            except Exception:  # one bad pass (a file removed under it) must not end the sync for good
                logger.exception("DAG sync from s3://%s/%s failed; trying again", self.bucket, self.prefix)

    def _listing(self) -> dict[str, str]:
        found = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                relative = obj["Key"][len(self.prefix) :]
                if relative and not relative.endswith("/") and ".." not in Path(relative).parts:
                    found[relative] = obj["ETag"]
        return found

    def _download(self, relative: str) -> None:
        """Write through a temporary name, so the DAG processor never reads half a file."""
        path = self.target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.sync")
        body = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + relative)["Body"].read()
        partial.write_bytes(body)
        os.replace(partial, path)
