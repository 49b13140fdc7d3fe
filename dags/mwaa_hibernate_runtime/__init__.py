"""What runs inside Airflow: the hibernation DAGs' steps, written once against a `Backend`.

- `tasks`: the PythonOperator callables the two DAG files wire (conf, heartbeats, failure handling);
- `backend`: the interface to the metadata database (`Backend`) and its SQL implementation;
- `pausing`, `draining`, `trimming`: record/pause/restore paused states, wait for running work, trim history;
- `callback`: answering the waiting Step Functions execution with the KMS-encrypted task token;
- `errors`: the steps' own errors.
"""
