"""CRM/ERP connectors: read a connected system's customers/suppliers page by page as `ExternalRecord`s."""

from .base import (
    Connector,
    ConnectorError,
    CredentialsRejected,
    ExternalRecord,
    FatalError,
    Paginator,
    RateLimited,
    RetriableError,
)
from .economic import EconomicConnector
from .faktoora import FaktooraConnector
from .visma import VismaConnector
from .visma_eaccounting import VismaEAccountingConnector

CONNECTORS: dict[str, type[Connector]] = {
    cls.name: cls for cls in (EconomicConnector, FaktooraConnector, VismaConnector, VismaEAccountingConnector)
}

__all__ = [
    "CONNECTORS",
    "Connector",
    "ConnectorError",
    "CredentialsRejected",
    "EconomicConnector",
    "ExternalRecord",
    "FaktooraConnector",
    "FatalError",
    "Paginator",
    "RateLimited",
    "RetriableError",
    "VismaConnector",
    "VismaEAccountingConnector",
]
