"""``trunkline completion bash|zsh|fish``: shell completion of commands and flags.

    eval "$(trunkline completion bash)"      # in ~/.bashrc
    eval "$(trunkline completion zsh)"       # in ~/.zshrc
    trunkline completion fish | source       # in ~/.config/fish/config.fish

The shell asks the ``trunkline`` command itself (argcomplete): it builds the parser, which
imports nothing heavy, and answers before any command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

SHELLS = ("bash", "zsh", "fish")


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request and exit (only when the shell asked)."""
    import argcomplete

    argcomplete.autocomplete(parser)


def cmd_completion(args: argparse.Namespace) -> None:
    from argcomplete.shell_integration import shellcode

    print(shellcode(["trunkline"], shell=args.shell), end="")


def register(sub: Any) -> None:
    command = sub.add_parser(
        "completion",
        help="print the shell code that completes trunkline commands",
        description="Print the code that makes bash, zsh or fish complete trunkline's "
        'commands and flags: eval "$(trunkline completion bash)" in ~/.bashrc, likewise '
        "for zsh, or `trunkline completion fish | source` in fish's config.",
    )
    command.add_argument("shell", choices=SHELLS, help="the shell")
    command.set_defaults(func=cmd_completion)
