"""python -m catalogue migrate|topics|api|relay|consumer|rebuild|all"""

from shared.cli import service_main

from catalogue.bootstrap import definition
from catalogue.config import CatalogueSettings


def main() -> None:
    service_main(definition(), CatalogueSettings)


if __name__ == "__main__":
    main()
