"""The exit codes of every `mwaa-hibernate` command: one table, so a script can branch on them.

0    done (for wake/hibernate --wait: the execution SUCCEEDED)
1    unexpected error (a bug: please report it with the traceback)
2    usage error: bad or missing options
3    snapshot invalid or refused: no manifest, a missing or altered file, another schema revision
4    encryption problem: wrong key file, KMS refused, missing or wrong Fernet key
5    export or restore failed part-way (nothing imported / no manifest written)
6    not found: no stack of this app by that name or for that environment, or several match
7    AWS access: no credentials, no region, expired or invalid credentials, access denied
8    AWS unavailable for now: throttled, endpoint unreachable, service error (retrying later is safe)
9    the execution ended FAILED, TIMED_OUT or ABORTED (wake/hibernate --wait)
10   refused: a wake or hibernate execution is already running
11   install-dags: a hibernation DAG failed to import (the import error's text is printed)
12   install-dags: Airflow did not parse the DAGs in time
13   the environment is not ready for the command (not AVAILABLE, needs an update, REST API refused)
14   install-dags: on Airflow 3, neither the task carrier nor the API-server plugin reaches the metadata database
130  interrupted (Ctrl-C); a started execution keeps running
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_ENCRYPTION = 4
EXIT_FAILED = 5
EXIT_NOT_FOUND = 6
EXIT_AWS_ACCESS = 7
EXIT_AWS_UNAVAILABLE = 8
EXIT_EXECUTION_FAILED = 9
EXIT_ALREADY_RUNNING = 10
EXIT_DAG_IMPORT_ERROR = 11
EXIT_DAG_PARSE_TIMEOUT = 12
EXIT_ENVIRONMENT_NOT_READY = 13
EXIT_NO_CARRIER = 14
EXIT_INTERRUPTED = 130
