"""plumbing: the error tree, the ready file, free ports, failure kinds and the system-history columns."""

from __future__ import annotations

import json
import socket

import pytest

from plumbing import errors
from plumbing.failures import ERROR_KINDS, RATE_LIMITED, classify_error, client_error, server_error
from plumbing.ports import free_port
from plumbing.ready import write_ready_file


def _package_errors() -> list[type[BaseException]]:
    from analysis.errors import InputError
    from locustfiles.options import OptionError
    from pipeline.config import ConfigError as PipelineConfigError
    from pipeline.kafka import KafkaUnavailable
    from runs.cli import UsageError
    from runs.cluster import ClusterError
    from runs.processes import ServiceStartError
    from sandbox.config import ConfigError as SandboxConfigError
    from sandbox.faults import FaultError

    return [InputError, OptionError, PipelineConfigError, KafkaUnavailable, UsageError,
            ClusterError, ServiceStartError, SandboxConfigError, FaultError]  # fmt: skip


def test_every_package_error_is_a_suite_error_with_an_exit_code():
    for error in _package_errors():
        assert issubclass(error, errors.SuiteError), error
        assert error.exit_code in (1, 2), error
    assert errors.SuiteError.exit_code == 2


def test_environment_failures_exit_1_input_exits_2():
    from pipeline.kafka import KafkaUnavailable
    from runs.cluster import ClusterError
    from runs.processes import ServiceStartError
    from sandbox.config import ConfigError

    assert {KafkaUnavailable.exit_code, ClusterError.exit_code, ServiceStartError.exit_code} == {1}
    assert ConfigError("x").exit_code == 2


def test_each_package_has_its_own_branch():
    from analysis.errors import InputError
    from sandbox.faults import FaultError

    assert issubclass(FaultError, errors.SandboxError) and not issubclass(FaultError, errors.AnalysisError)
    assert issubclass(InputError, errors.AnalysisError)


def test_ready_file_is_written_whole(tmp_path):
    target = tmp_path / "svc.ready.json"
    write_ready_file(target, {"url": "http://127.0.0.1:1", "pid": 7})
    assert json.loads(target.read_text()) == {"url": "http://127.0.0.1:1", "pid": 7}
    assert [p.name for p in tmp_path.iterdir()] == ["svc.ready.json"]


def test_free_port_can_be_bound():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert 0 < port < 65536


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (RATE_LIMITED, "429"),
        (f"CatchResponseError({RATE_LIMITED!r})", "429"),
        (server_error(503), "5xx"),
        (client_error(400), "4xx"),
        ("timeout", "timeout"),
        ("connection error", "connection"),
        ("something odd", "other"),
    ],
)
def test_the_traffic_models_messages_classify_to_their_kind(message, kind):
    assert classify_error(message) == kind and kind in ERROR_KINDS


def test_system_columns_are_shared_by_writer_and_reader():
    from analysis.system import SYSTEM_COLUMNS as read
    from locustfiles.monitoring.history import COLUMNS as written
    from plumbing.history import SYSTEM_COLUMNS

    assert written == ("timestamp", *SYSTEM_COLUMNS) and read is SYSTEM_COLUMNS
