"""``visionflow serve``'s options are the server settings: one flag per field, same defaults.

The options are parsed by the real command (click's parser, as a shell would reach it) and
turned into ``ServerSettings`` the way ``serve`` does, without starting a server.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from visionflow.cli import _serve, app
from visionflow.server.settings import MEGABYTE, ServerSettings, flag_name, flags

runner = CliRunner(env={"COLUMNS": "200"})


def parsed(*args: str) -> ServerSettings:
    """The settings ``visionflow serve ARGS`` would serve with."""
    serve = typer.main.get_command(app).commands["serve"]
    with serve.make_context("serve", list(args)) as context:
        return _serve._settings(context.params)


def test_no_flags_give_the_settings_defaults():
    assert parsed() == ServerSettings()
    assert parsed().max_model_threads == (os.cpu_count() or 1)


def test_every_setting_is_a_flag_with_its_help_and_default():
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    for setting in fields(ServerSettings):
        assert flag_name(setting.name) in result.stdout
        assert flags()[setting.name].help.split()[0] in result.stdout
    assert "[default: 9001]" in result.stdout
    assert "[default: 32.0]" in result.stdout  # --max-request-mb shows MiB, not bytes
    assert "VISIONFLOW_API_KEY" in result.stdout
    assert "(default: the CPUs)" in result.stdout


def test_flags_fill_the_settings_in_their_own_units(tmp_path):
    settings = parsed(
        "--host", "0.0.0.0",
        "--port", "9100",
        "--workflows", str(tmp_path),
        "--allow-files", "a",
        "--allow-files", "b",
        "--allow-custom-code",
        "--max-request-mb", "0.5",
        "--max-model-threads", "3",
        "--url-timeout-seconds", "2.5",
        "--no-access-log",
    )  # fmt: skip
    assert settings == ServerSettings(
        host="0.0.0.0",
        port=9100,
        workflows_dir=tmp_path,
        allowed_paths=(Path("a"), Path("b")),
        allow_custom_code=True,
        max_request_bytes=MEGABYTE // 2,
        max_model_threads=3,
        url_timeout_seconds=2.5,
        access_log=False,
    )


def test_the_api_key_comes_from_the_environment_too(monkeypatch):
    monkeypatch.setenv("VISIONFLOW_API_KEY", "from-env")
    assert parsed().api_key == "from-env"
    assert parsed("--api-key", "given").api_key == "given"


def test_a_limit_below_one_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match="max_batch_size must be at least 1, found 0"):
        parsed("--max-batch-size", "0")
    result = runner.invoke(app, ["serve", "--max-batch-size", "0"])
    assert result.exit_code == 2
    assert "max_batch_size must be at least 1, found 0" in result.output


def test_a_url_timeout_must_be_positive():
    with pytest.raises(ValueError, match="url_timeout_seconds must be more than 0, found 0"):
        parsed("--url-timeout-seconds", "0")


def test_model_limit_errors_name_the_flag_that_raises_them():
    limits = ServerSettings(max_model_workers=2).model_limits()
    assert limits.max_workers == 2
    assert dict(limits.flags)["max_workers"] == "--max-model-workers"
    assert dict(limits.flags)["input_side"] == "--max-model-input-side"
