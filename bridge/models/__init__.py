"""SQLAlchemy models, one module per aggregate. Importing this package
registers every table on ``bridge.db.Base.metadata``."""

from bridge.models.audit import AuditEntry
from bridge.models.balances import BalanceEntryKind, ClientBalanceEntry
from bridge.models.catalog import (
    CatalogStatus,
    IntervalUnit,
    Plan,
    PlanKind,
    Product,
    ProductCategory,
    TaxRate,
)
from bridge.models.clients import Client, ClientStatus, Site
from bridge.models.coupons import Coupon, CouponDuration, Discount
from bridge.models.custom_fields import CustomField, CustomFieldEntity, CustomFieldType
from bridge.models.idempotency import IdempotencyKey
from bridge.models.imports import ImportJob, ImportJobStatus
from bridge.models.invitations import Invitation
from bridge.models.invoices import (
    BillingReason,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceLineTax,
    InvoiceStatus,
    NumberSeries,
    Payment,
    PaymentMethod,
    PaymentState,
    PaymentStatus,
)
from bridge.models.jobs import JobRun, RateLimitBucket
from bridge.models.mail import EmailTemplate, OutboxMessage, OutboxStatus
from bridge.models.roles import Role, SiteRole
from bridge.models.settings import SETTINGS_ID, BusinessSettings, StoredFile
from bridge.models.sites import SeoScan, SiteConnectCode, SiteRequestNonce
from bridge.models.stamps import CLIENTS_STAMP, ChangeStamp
from bridge.models.stripe_events import StripeEvent
from bridge.models.subscriptions import Subscription, SubscriptionStatus
from bridge.models.users import ApiToken, User, UserKind

__all__ = [
    "CLIENTS_STAMP",
    "SETTINGS_ID",
    "ApiToken",
    "AuditEntry",
    "BalanceEntryKind",
    "BillingReason",
    "BusinessSettings",
    "ChangeStamp",
    "CatalogStatus",
    "Client",
    "ClientBalanceEntry",
    "Coupon",
    "CouponDuration",
    "ClientStatus",
    "CreditNote",
    "CustomField",
    "CustomFieldEntity",
    "CustomFieldType",
    "Discount",
    "EmailTemplate",
    "IdempotencyKey",
    "ImportJob",
    "ImportJobStatus",
    "JobRun",
    "RateLimitBucket",
    "IntervalUnit",
    "Invitation",
    "Invoice",
    "InvoiceLine",
    "InvoiceLineTax",
    "InvoiceStatus",
    "NumberSeries",
    "OutboxMessage",
    "OutboxStatus",
    "Payment",
    "PaymentMethod",
    "PaymentState",
    "PaymentStatus",
    "Plan",
    "PlanKind",
    "Product",
    "ProductCategory",
    "Role",
    "SiteRole",
    "SeoScan",
    "Site",
    "SiteConnectCode",
    "SiteRequestNonce",
    "StoredFile",
    "StripeEvent",
    "Subscription",
    "SubscriptionStatus",
    "TaxRate",
    "User",
    "UserKind",
]
