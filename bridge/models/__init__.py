"""SQLAlchemy models, one module per aggregate. Importing this package
registers every table on ``bridge.db.Base.metadata``."""

from bridge.models.catalog import CatalogStatus, IntervalUnit, Plan, PlanKind, Product, TaxRate
from bridge.models.clients import Client, ClientStatus, Site
from bridge.models.custom_fields import CustomField, CustomFieldEntity, CustomFieldType
from bridge.models.roles import Role
from bridge.models.settings import SETTINGS_ID, BusinessSettings, StoredFile
from bridge.models.users import ApiToken, User, UserKind

__all__ = [
    "SETTINGS_ID",
    "ApiToken",
    "BusinessSettings",
    "CatalogStatus",
    "Client",
    "ClientStatus",
    "CustomField",
    "CustomFieldEntity",
    "CustomFieldType",
    "IntervalUnit",
    "Plan",
    "PlanKind",
    "Product",
    "Role",
    "Site",
    "StoredFile",
    "TaxRate",
    "User",
    "UserKind",
]
