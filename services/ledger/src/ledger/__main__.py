"""python -m ledger migrate|topics|api|relay|consumer|rebuild|all|verify"""

from ledger.bootstrap import definition
from ledger.config import LedgerSettings
from shared.cli import service_main


def main() -> None:
    service_main(definition(), LedgerSettings)


if __name__ == "__main__":
    main()
