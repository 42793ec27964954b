"""Option parsing: every bad value is one OptionError line saying what to fix; secrets stay hidden."""

from __future__ import annotations

import pytest

from locustfiles.options import OptionError, parse_mix, parse_stages
from tests.locustfiles.conftest import parse_options


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--target-rate", "-5"), "--target-rate must be greater than 0 (got -5)"),
        (("--user-rate", "0"), "--user-rate must be greater than 0"),
        (("--batch-size", "1001"), "--batch-size must be between 1 and 1000"),
        (("--new-share", "1.5"), "--new-share must be between 0 and 1"),
        (("--shape-duration", "soon"), "--shape-duration 'soon' is not a duration"),
        (("--mix", "identify=3,fly=2"), "--mix: unknown action 'fly'"),
        (("--mix", "identify=0"), "--mix needs at least one positive weight"),
        (("--stages", "30s-10"), "--stages: '30s-10' is not DURATION:USERS"),
        (("--stages", "30s:-1"), "--stages: target must not be negative"),
        (("--retries", "-1"), "--retries must not be negative"),
    ],
)
def test_bad_values_name_the_option(settings, args, message):
    """Each bad value raises OptionError with a one-line message naming the option."""
    with pytest.raises(OptionError) as caught:
        settings(*args)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_real_host_refused_without_permission_and_credentials(settings, monkeypatch):
    """A Customer.io host needs --allow-real-customerio, then the workspace's own credentials."""
    with pytest.raises(OptionError, match="real Customer.io host; refusing"):
        settings(host="https://track-eu.customer.io")
    with pytest.raises(OptionError, match="set CIO_SITE_ID, CIO_API_KEY"):
        settings("--allow-real-customerio", host="https://track.customer.io")
    monkeypatch.setenv("CIO_SITE_ID", "site-1")
    monkeypatch.setenv("CIO_API_KEY", "secret-1")
    s = settings("--allow-real-customerio", "--region", "eu", host="https://track-eu.customer.io")
    assert s.real_host and s.rate_cap == pytest.approx(90)  # default headroom 0.1: 90 of 100 req/s
    assert (s.app_host, s.cdp_host) == ("https://api-eu.customer.io", "https://cdp-eu.customer.io")


def test_sandbox_host_serves_every_api(settings):
    """Against the sandbox all three APIs go to --host and nothing is capped."""
    s = settings()
    assert s.app_host == s.cdp_host == s.host and s.rate_cap is None and not s.real_host


def test_credentials_from_environment_never_in_repr(settings, monkeypatch):
    """Keys come from CIO_* variables and do not show in a logged Settings."""
    monkeypatch.setenv("CIO_API_KEY", "track-secret-123")
    monkeypatch.setenv("CIO_APP_API_KEY", "app-secret-456")
    s = settings()
    assert s.credentials.track_api_key == "track-secret-123"
    assert "secret" not in repr(s) and "secret" not in repr(s.credentials)


def test_secrets_are_not_web_ui_options():
    """Site id and keys are never offered to the web UI (its page would carry their values)."""
    from locust.argument_parser import get_empty_argument_parser, setup_parser_arguments

    from locustfiles.options import add_arguments

    parser = get_empty_argument_parser(default_config_files=[])
    setup_parser_arguments(parser)
    add_arguments(parser)
    shown = parser.args_included_in_web_ui
    assert {"mix", "shape", "target_rate", "seed"} <= set(shown)
    assert not {"site_id", "api_key", "app_api_key", "cdp_api_key"} & set(shown)


def test_mix_and_stages_parse():
    """Mix weights and k6-style stages from the command line."""
    assert parse_mix("identify=3, track=6,batch") == {"identify": 3, "track": 6, "batch": 1}
    stages = parse_stages("30s:10,1m:50,1h:0")
    assert [(s.duration, s.target) for s in stages] == [(30, 10), (60, 50), (3600, 0)]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("s.json", '[{"duration": "10s", "target": 5}', "not valid JSON"),
        ("s.yaml", "stages: {a: 1}", "expected a list of {duration, target}"),
        ("s.yaml", "- {duration: forever, target: 5}", "is not a duration"),
        ("s.yml", "[]", "needs at least one stage"),
    ],
)
def test_malformed_stages_files(tmp_path, name, text, message):
    """A broken stages file names itself and the problem."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(OptionError, match=message) as caught:
        parse_stages(str(path))
    assert str(path) in str(caught.value)


def test_options_show_in_help():
    """The traffic model's options are in locust --help under their own group."""
    from locust.argument_parser import get_empty_argument_parser, setup_parser_arguments

    import contextlib
    import io

    from locustfiles.options import add_arguments

    parser = get_empty_argument_parser(default_config_files=[])
    setup_parser_arguments(parser)
    add_arguments(parser)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = out.getvalue()
    assert "Customer.io traffic model" in text and "--target-rate" in text and "CIO_API_KEY" in text
    assert parse_options("--seed", "9").seed == 9


def test_options_from_a_locust_conf_file(tmp_path, settings):
    """The traffic options can be set in a Locust config file, like Locust's own."""
    conf = tmp_path / "traffic.conf"
    conf.write_text("shape = arrival\ntarget-rate = 12\nmix = identify=1,pipelines=2\nseed = 5\n")
    s = settings("--config", str(conf))
    assert (s.shape, s.target_rate, s.mix, s.seed) == ("arrival", 12.0, {"identify": 1, "pipelines": 2}, 5)


def test_python_m_locustfiles_prints_the_full_help():
    """`python -m locustfiles` is Locust's --help plus the traffic and monitoring options."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "locustfiles"], cwd=repo, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0
    assert "Customer.io traffic model" in done.stdout and "--probe-step-rate" in done.stdout
    assert "--users" in done.stdout and "demo-track-key" not in done.stdout


def test_real_host_run_without_a_capping_shape_is_refused(monkeypatch):
    """A shapeless run (class picker "Default") on a real host would escape the cap: refused."""
    from types import SimpleNamespace

    from locustfiles.plugin import _check_cap_applies
    from locustfiles.shapes import OptionShape

    monkeypatch.setenv("CIO_SITE_ID", "site-1")
    monkeypatch.setenv("CIO_API_KEY", "secret-1")
    options = parse_options("--allow-real-customerio")
    env = SimpleNamespace(parsed_options=options, host="https://track.customer.io", shape_class=None)
    with pytest.raises(OptionError, match="pick one of the suite's shapes"):
        _check_cap_applies(env)  # type: ignore[arg-type]
    env.shape_class = OptionShape()
    _check_cap_applies(env)  # type: ignore[arg-type]
    env.host, env.shape_class = "http://127.0.0.1:8080", None
    _check_cap_applies(env)  # type: ignore[arg-type]  # the sandbox needs no cap
