"""The snapshot engine: a lossless, verified copy of the Airflow metadata database.

It ships in the environment's DAG folder (the hibernation DAGs import it) and in the Lambda layer
(the verify step reads manifests with it), and the `mwaa-hibernate snapshot` commands use it directly.
"""
