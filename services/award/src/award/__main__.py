"""python -m award migrate|topics|api|relay|consumer|rebuild|all"""

from award.bootstrap import definition
from award.config import AwardSettings
from shared.cli import service_main


def main() -> None:
    service_main(definition(), AwardSettings)


if __name__ == "__main__":
    main()
