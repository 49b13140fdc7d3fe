"""Tests of the hibernation DAGs (a package, so its conftest does not shadow tests/airflow/conftest.py)."""
