"""python -m ledger migrate|topics|api|relay|consumer|rebuild|all"""

from shared.cli import service_main

from ledger.bootstrap import definition
from ledger.config import LedgerSettings


def main() -> None:
    service_main(definition(), LedgerSettings)


if __name__ == "__main__":
    main()
