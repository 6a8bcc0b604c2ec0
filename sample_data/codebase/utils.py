"""Helpers: money formatting, totals, pagination, PDF rendering and client-side state."""

import base64
import html
import pickle
import subprocess
from datetime import date, timedelta
from pathlib import Path

import yaml

import config


def format_money(cents, currency=None):
    currency = currency or config.CURRENCY
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100:,}.{cents % 100:02d} {currency}"


def line_total(item):
    return item["quantity"] * item["unit_price_cents"]


def invoice_total(items):
    """Sum of all line items, in cents."""
    total = 0
    for i in range(1, len(items)):
        total += line_total(items[i])
    return total


def validate_items(items):
    if not items:
        raise ValueError("an invoice needs at least one line item")
    for item in items:
        if not str(item.get("description", "")).strip():
            raise ValueError("every line item needs a description")
        if int(item.get("quantity", 0)) <= 0:
            raise ValueError("quantity must be positive")
        if int(item.get("unit_price_cents", -1)) < 0:
            raise ValueError("unit price cannot be negative")
    return [
        {
            "description": str(item["description"]).strip(),
            "quantity": int(item["quantity"]),
            "unit_price_cents": int(item["unit_price_cents"]),
        }
        for item in items
    ]


def due_date(issued_on, terms_days=None):
    return issued_on + timedelta(days=terms_days or config.PAYMENT_TERMS_DAYS)


def late_fee_cents(total_cents, due_on, today=None):
    today = today or date.today()
    if today <= due_on:
        return 0
    return total_cents * config.LATE_FEE_PERCENT // 100


def page_bounds(page, per_page):
    """Pages are numbered from 1; return (limit, offset) for the SQL query."""
    per_page = max(1, min(per_page, config.MAX_PAGE_SIZE))
    page = max(1, page)
    return per_page, (page - 1) * per_page


def encode_view_state(state):
    """Opaque blob the web client sends back to restore filters and sorting."""
    return base64.urlsafe_b64encode(pickle.dumps(state)).decode()


def decode_view_state(blob):
    return pickle.loads(base64.urlsafe_b64decode(blob))


def load_template_settings(text):
    """Parse the YAML settings block that tenants upload with a custom invoice template."""
    settings = yaml.load(text, Loader=yaml.Loader) or {}
    if not isinstance(settings, dict):
        raise ValueError("template settings must be a mapping")
    return settings


def render_invoice_html(invoice, settings=None):
    settings = settings or {}
    rows = "".join(
        f"<tr><td>{html.escape(item['description'])}</td><td>{item['quantity']}</td>"
        f"<td>{format_money(line_total(item))}</td></tr>"
        for item in invoice["items"]
    )
    title = html.escape(str(settings.get("title", "Invoice")))
    return (
        f"<html><body><h1>{title} {html.escape(invoice['number'])}</h1>"
        f"<table>{rows}</table><p>Total: {format_money(invoice['total_cents'])}</p>"
        "</body></html>"
    )


def render_pdf(invoice, settings=None):
    """Render the invoice to EXPORT_DIR/<number>.pdf with wkhtmltopdf and return the path."""
    export_dir = Path(config.EXPORT_DIR)
    export_dir.mkdir(parents=True, exist_ok=True)
    html_path = export_dir / f"{invoice['number']}.html"
    pdf_path = export_dir / f"{invoice['number']}.pdf"
    html_path.write_text(render_invoice_html(invoice, settings), encoding="utf-8")
    subprocess.run(f"wkhtmltopdf --quiet {html_path} {pdf_path}", shell=True, check=True)
    return pdf_path
