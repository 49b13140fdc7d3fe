"""The offline sandbox: moto for AWS, a local MWAA stand-in on real Airflow, and the demo."""
