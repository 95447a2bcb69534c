"""python -m transfer migrate|topics|api|relay|consumer|rebuild|all"""

from shared.cli import service_main
from transfer.bootstrap import definition
from transfer.config import TransferSettings


def main() -> None:
    service_main(definition(), TransferSettings)


if __name__ == "__main__":
    main()
