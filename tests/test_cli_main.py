"""The `qlsgan` console script: the command registry, usage errors and exit statuses."""
import ast
import importlib.metadata
import pathlib
import subprocess
import sys

import pytest

from qlsgan_tf.cli import main as cli_main


def qlsgan(*args):
    """Runs ``qlsgan ARGS...`` as a user would (a fresh process) and returns the result."""
    return subprocess.run([sys.executable, "-m", "qlsgan_tf.cli.main", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_console_script_is_the_registry_entry_point():
    scripts = importlib.metadata.entry_points(group="console_scripts")
    assert scripts["qlsgan"].value == "qlsgan_tf.cli.main:run"


def test_every_registered_command_module_defines_main_argv():
    """Read, not imported: absl flags are process-global, one command per process."""
    commands = pathlib.Path(cli_main.__file__).parent / "commands"
    on_disk = {p.stem for p in commands.glob("*.py") if p.stem != "__init__"}
    assert on_disk == {module for module, _ in cli_main.COMMANDS.values()}
    for name, (module, summary) in cli_main.COMMANDS.items():
        assert summary.endswith("."), name
        path = commands / f"{module}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        mains = [node for node in tree.body
                 if isinstance(node, ast.FunctionDef) and node.name == "main"]
        assert len(mains) == 1, f"{path.name} has no top-level main(argv)"
        assert [arg.arg for arg in mains[0].args.args] == ["argv"], path.name


def test_help_lists_every_command():
    proc = qlsgan("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: qlsgan COMMAND")
    listed = [line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  ")]
    assert listed == list(cli_main.COMMANDS)


def test_no_command_prints_usage_and_exits_2(capsys):
    assert cli_main.run(["qlsgan"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: qlsgan COMMAND")
    assert "data-info" in err


def test_unknown_command_exits_2_with_a_clear_message():
    proc = qlsgan("frobnicate", "--fast")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == "qlsgan: unknown command 'frobnicate'"
    assert "commands:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("flag, problem", [
    ("--split=validation", "value should be one of <train|test>"),
    ("--chunk_size=0", "0 is not a positive integer"),
    ("--chunk_size=many", "invalid literal"),
    ("--no_such_flag=1", "Unknown command line flag 'no_such_flag'"),
])
def test_bad_flag_value_is_a_one_line_usage_error(flag, problem, sat4_sample_dir):
    proc = qlsgan("data-info", flag, str(sat4_sample_dir))
    assert proc.returncode == 2, proc.stderr
    first, *rest = proc.stderr.splitlines()
    assert first.startswith("qlsgan data-info: ")
    assert flag.split("=")[0].lstrip("-") in first
    assert problem in first
    assert rest == ["Pass --help to see the flags."]
    assert proc.stdout == ""


def test_command_help_shows_that_command_alone():
    """``qlsgan data-info --help``: the command's usage text and its own flags, no others."""
    proc = qlsgan("data-info", "--help")
    assert proc.returncode in (0, 1), proc.stderr  # absl exits 1 after printing --help
    assert proc.stdout.startswith("``qlsgan data-info PATH``")
    for flag in ("--split", "--[no]json", "--chunk_size"):
        assert flag in proc.stdout
    assert "--[no]overwrite" not in proc.stdout  # convert-data's flag
    assert "Traceback" not in proc.stderr
