"""``bin/demo-cli``: any ``emisario`` command against the demo's database and keys (queue
mail, look at the outbox) while ``bin/demo`` runs."""

from __future__ import annotations

import sys

from emisario.demo.run import demo_environment


def main(argv: list[str] | None = None) -> None:
    demo_environment()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["emisario", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
