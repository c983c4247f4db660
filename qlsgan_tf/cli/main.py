"""``qlsgan``: one console script, one absl app per subcommand.

absl flags are process-global, so each subcommand lives in its own module under
``qlsgan_tf.cli.commands`` that defines its flags at import time and a ``main(argv)``.
Only the chosen subcommand's module is imported: ``qlsgan train-vae --help`` shows that
command's flags alone, and a command's heavy imports (TensorFlow) never slow another.
"""
import importlib
import os
import sys
import warnings
from typing import Optional, Sequence

# name -> (module under qlsgan_tf.cli.commands, one-line summary)
COMMANDS = {
    "data-info": ("data_info", "Print counts per split and class and per-band statistics."),
    "convert-data": ("convert_data", "Convert SAT-4 (.mat or CSV) into a memory-mappable cache."),
    "train-feature-net": ("train_feature_net", "Train the SAT-4 feature network used by FD-SAT4."),
    "train-vae": ("train_vae", "Train (or tune, then train) the SAT-4 VAE."),
    "train-gan": ("train_gan", "Train a latent GAN (quantum or classical generator)."),
    "sample": ("sample", "Sample images from a saved hybrid model into a PNG grid."),
    "study": ("study", "Run the capacity-scaling study (resumable, distributable)."),
    "report": ("report", "Write the study report (JSON, CSV, Markdown, PNG plots)."),
}

USAGE = "usage: qlsgan COMMAND [--flags]   (qlsgan COMMAND --help for a command's flags)"


def _usage(stream):
    print(USAGE, file=stream)
    print("\ncommands:", file=stream)
    for name, (_, summary) in COMMANDS.items():
        print(f"  {name:<18} {summary}", file=stream)


# Commands that compile XLA steps (packed training).
XLA_COMMANDS = ("study",)


def run(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``qlsgan`` console script."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        _usage(sys.stdout if len(argv) >= 2 else sys.stderr)
        return 0 if len(argv) >= 2 else 2
    name = argv[1]
    if name not in COMMANDS:
        print(f"qlsgan: unknown command {name!r}", file=sys.stderr)
        _usage(sys.stderr)
        return 2
    # TensorFlow's C++ start-up logs (CUDA probing, CPU features) would bury the one-line
    # result; TF_CPP_MIN_LOG_LEVEL set by the user wins.
    quiet = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated",
                            category=UserWarning)  # printed by tensorflow_hub's import
    from qlsgan_tf.cli.common import clear_errors, quiet_xla_banner  # light: no TensorFlow

    with clear_errors(name):  # Ctrl-C while importing is one line too
        module = importlib.import_module(f"qlsgan_tf.cli.commands.{COMMANDS[name][0]}")
        if quiet and name in XLA_COMMANDS:
            quiet_xla_banner()
    from absl import app, flags

    # absl's --help lists the flags of the main module (sys.argv[0]); the command's flags
    # are defined in its own module, so make them the program's key flags.
    for flag in flags.FLAGS.get_flags_for_module(module.__name__):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    # The command's docstring is its usage text; "qlsgan COMMAND" its program name.
    sys.modules["__main__"].__doc__ = module.__doc__
    with clear_errors(name):  # also catches what a command raises outside its own boundary
        app.run(module.main, argv=[f"qlsgan {name}"] + argv[2:], flags_parser=_flags_parser)
    return 0


def _flags_parser(argv):
    """Parses flags; a bad flag value is a one-line usage error (exit 2), not a traceback."""
    from absl import flags

    try:
        rest = flags.FLAGS(argv)
    except flags.Error as err:
        print(f"{argv[0]}: {err}\nPass --help to see the flags.", file=sys.stderr)
        sys.exit(2)
    if not flags.FLAGS["verbosity"].present:  # TF/Keras Python warnings: --verbosity 0 shows
        import logging

        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return rest


if __name__ == "__main__":
    sys.exit(run())
