"""The one error tree of the suite, in the style of httpx's ``_exceptions.py``.

Every error a user can cause or fix is a :class:`SuiteError`. It carries the process exit code and a
message of one line that names the cause (the option, file or service) and the fix. Each command line
catches ``SuiteError`` alone, prints ``prog: message`` and exits with ``exit_code``; anything else is a
bug and keeps its traceback.

Tree (package subclasses live here, the specific errors in their packages)::

    SuiteError                        exit 2: input the user must fix
    ├── OptionError                   a command-line option, environment variable or config value
    ├── SandboxError                  sandbox.config.ConfigError, sandbox.faults.FaultError
    ├── PipelineError                 pipeline.config.ConfigError
    │   └── pipeline.kafka.KafkaUnavailable            (exit 1)
    ├── AnalysisError                 analysis.errors.InputError
    ├── RunsError                     runs.cli.UsageError
    │   ├── runs.processes.ServiceStartError           (exit 1)
    │   └── runs.cluster.ClusterError                  (exit 1)
    ├── LocustfilesError              locustfiles.options.OptionError
    └── DeployError                   deploy/ (no subclass: kubectl renders the manifests)

Exit 1 marks a failure of the environment (a service that did not start, a broker that is gone),
exit 2 marks input.
"""

from __future__ import annotations

__all__ = [
    "INPUT_EXIT_CODE",
    "AnalysisError",
    "DeployError",
    "LocustfilesError",
    "OptionError",
    "PipelineError",
    "RunsError",
    "SandboxError",
    "SuiteError",
]

INPUT_EXIT_CODE = 2


class SuiteError(Exception):
    """Base of every error the suite reports to a user; ``str(error)`` is the one line to print."""

    exit_code: int = INPUT_EXIT_CODE
    """The exit code a command line ends with after printing this error."""


class OptionError(SuiteError):
    """A bad option value, wherever it came from (command line, environment, config file)."""


class SandboxError(SuiteError):
    """The sandbox's configuration or fault documents."""


class PipelineError(SuiteError):
    """The pipeline services' configuration and dependencies."""


class AnalysisError(SuiteError):
    """Run files the analysis cannot use."""


class RunsError(SuiteError):
    """``python -m runs``: its arguments and the processes it starts."""


class LocustfilesError(SuiteError):
    """The traffic model's options."""


class DeployError(SuiteError):
    """Deployment tools: capacity plan, manifests, health checks."""
