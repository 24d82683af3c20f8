"""Options several sub-commands share, accepted before or after the sub-command."""

from __future__ import annotations

import argparse
from pathlib import Path

CONFIG_HELP = "TOML file enabling detectors and setting their parameters"


def add_config_option(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """`--config` on the top parser (default None) or on a sub-command.

    A sub-command's option has no default, so it sets `config` only when given there and a
    value given after the sub-command wins over one given before it.
    """
    parser.add_argument(
        "--config",
        type=Path,
        default=None if top else argparse.SUPPRESS,
        help=CONFIG_HELP,
    )
