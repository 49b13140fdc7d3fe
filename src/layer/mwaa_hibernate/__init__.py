"""mwaa-hibernate: the shared code of the Lambda functions (delivered as a Lambda layer) and the CLI."""

__version__ = "0.1.0"
