"""Runtime configuration for invoice-api.

Values come from environment variables so that the same build runs in every environment;
the defaults below are meant for local development only.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

DATABASE_PATH = os.environ.get("INVOICE_API_DB", str(BASE_DIR / "invoices.db"))
EXPORT_DIR = os.environ.get("INVOICE_API_EXPORT_DIR", str(BASE_DIR / "exports"))
TEMPLATE_DIR = os.environ.get("INVOICE_API_TEMPLATE_DIR", str(BASE_DIR / "templates"))

# Signing key for session tokens.
SECRET_KEY = "inv-api-7f3c9a1e5b2d48c6a0e9f1d3b7c5a2e8"

TOKEN_TTL_SECONDS = int(os.environ.get("INVOICE_API_TOKEN_TTL", "3600"))
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100

CURRENCY = os.environ.get("INVOICE_API_CURRENCY", "EUR")
LATE_FEE_PERCENT = 2
PAYMENT_TERMS_DAYS = 30

LOG_LEVEL = os.environ.get("INVOICE_API_LOG_LEVEL", "INFO")
