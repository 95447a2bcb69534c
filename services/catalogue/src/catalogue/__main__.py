"""python -m catalogue migrate|topics|api|relay|consumer|rebuild|all"""

from catalogue.bootstrap import definition
from catalogue.config import CatalogueSettings
from shared.cli import service_main


def main() -> None:
    service_main(definition(), CatalogueSettings)


if __name__ == "__main__":
    main()
