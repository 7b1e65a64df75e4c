import json
import subprocess
import sys

from tunebench import __version__
from tunebench.cli import build_parser, main


def _run(*args):
    return subprocess.run([sys.executable, "-m", "tunebench.cli", *args], capture_output=True, text=True)


def test_version_and_help_list_every_subcommand():
    result = _run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"tunebench {__version__}"
    helptext = _run("--help").stdout
    subparsers = build_parser()._subparsers._group_actions[0]
    assert subparsers.choices, "no subcommands registered"
    for name in subparsers.choices:
        assert f"    {name}" in helptext


def test_models_list_prints_an_aligned_table(project, capsys):
    project.write(
        '[tool.tunebench.models.dora-v3]\nbase = "gs://b/base/"\nadapter = "gs://b/v3/"\nstatus = "production"\n'
    )
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "status", "base", "adapter", "notes"]
    assert lines[2].startswith("dora-v3") and "production" in lines[2] and "gs://b/v3/" in lines[2]
    assert lines[0].index("status") == lines[2].index("production")


def test_models_show_unknown_name_exits_2_with_suggestion(project, capsys):
    assert main(["models", "show", "tinny"]) == 2
    assert "Did you mean 'tiny'?" in capsys.readouterr().err


def test_models_show_json(project, capsys):
    assert main(["models", "show", "tiny", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["base"] == "builtin:tiny"


def test_a_closed_pipe_ends_quietly_without_a_traceback():
    import os

    reader, writer = os.pipe()
    os.close(reader)  # nobody reads: the first write raises BrokenPipeError
    result = subprocess.run(
        [sys.executable, "-m", "tunebench.cli", "models", "list"], stdout=writer, stderr=subprocess.PIPE, text=True
    )
    os.close(writer)
    assert "Traceback" not in result.stderr
    assert result.returncode == 141
