"""One exception tree for the Lambda side of mwaa-hibernate.

The state machines match these class names (Lambda reports them as the error type), so the names are
part of the interface: rename one only together with the ASL files. Messages are for a person: what
is wrong and what to do.
"""

from __future__ import annotations


class MwaaHibernateError(Exception):
    """Base of every error raised by the mwaa_hibernate package."""


class ConfigurationError(MwaaHibernateError):
    """The function is missing a setting the template should have given it."""


class TransientAwsError(MwaaHibernateError):
    """An AWS call was throttled or failed on the service side; the state machine retries it."""


class EnvironmentNotAvailable(MwaaHibernateError):
    """The environment is in a status the requested flow must not start from."""


class RestoreOwed(MwaaHibernateError):
    """The environment runs but its last restore did not complete; hibernating it would snapshot the gap."""


class OverlappingExecution(MwaaHibernateError):
    """Another hibernate or wake execution for the same environment is still running."""


class EnvironmentFailed(MwaaHibernateError):
    """MWAA reports the environment as failed (CREATE_FAILED, UNAVAILABLE, UPDATE_FAILED)."""


class EnvironmentConfigurationInvalid(MwaaHibernateError):
    """The saved configuration or the user's overrides cannot make a CreateEnvironment request."""


class SnapshotNotFound(MwaaHibernateError):
    """There is no snapshot where one is needed (no latest pointer, or a missing snapshot folder)."""


class SnapshotVerificationFailed(MwaaHibernateError):
    """A snapshot is incomplete or damaged; it must not be used or marked as the latest."""


class DagNotFound(MwaaHibernateError):
    """A hibernation DAG is not in the environment's DAG folder (or has not been parsed yet)."""


class EnvironmentNeedsUpdate(MwaaHibernateError):
    """MWAA refuses InvokeRestApi until the environment is updated once."""


class RestApiCallFailed(MwaaHibernateError):
    """The Airflow REST API answered a call through InvokeRestApi with an error."""


class PausedStateRestoreFailed(MwaaHibernateError):
    """Some DAGs could not be unpaused again after a failed hibernation."""


class EnvironmentNotFound(EnvironmentNotAvailable):
    """The environment does not exist (GetEnvironment: ResourceNotFoundException) where a command needs it, or
    where a hibernation finds it absent although this stack never hibernated it (a wrong name or region)."""


class UnsupportedAirflowVersion(MwaaHibernateError):
    """The environment runs an Airflow version the hibernation DAGs do not support."""


class DagFilesMissing(MwaaHibernateError):
    """This installation of mwaa-hibernate does not carry the DAG files (a broken install or checkout)."""


class DagImportFailed(MwaaHibernateError):
    """Airflow reported import errors for the hibernation DAGs after they were installed."""

    def __init__(self, message: str, errors: dict[str, str]) -> None:
        super().__init__(message)
        self.errors = errors


class DagParseTimeout(MwaaHibernateError):
    """The environment did not parse the installed DAGs within the time allowed."""


class EnvironmentCannotBeRecreated(MwaaHibernateError):
    """A wake could not recreate the environment from its saved configuration: the hibernation keeps it."""


class RestoreNotConfirmed(MwaaHibernateError):
    """The import DAG reported success but the environment, asked from outside, does not show the restore."""


class SnapshotPruneIncomplete(MwaaHibernateError):
    """Pruning could not delete some objects (DeleteObjects reported them as errors)."""


class WebServerUnreachable(MwaaHibernateError):
    """The environment's web server cannot be reached from the function (network, private web server)."""


class WebServerCallFailed(MwaaHibernateError):
    """Logging in to the web server, or a call to the API-server plugin, was refused or failed."""


class NoCarrier(MwaaHibernateError):
    """Neither the task carrier nor the API-server plugin can reach the environment's metadata database."""


class AirflowVersionMismatch(MwaaHibernateError):
    """The snapshot was written by another Airflow version than the one the environment runs."""
