"""The logger whose lines reach run history: the flow or task run's own, or the product's plain logger
outside any run (unit tests, the property tests' Prefect-free runs)."""

from __future__ import annotations

import logging
from typing import Any

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

PRODUCT_LOGGER = "ecsync"


def run_logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(PRODUCT_LOGGER)
