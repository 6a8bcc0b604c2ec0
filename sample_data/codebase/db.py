"""SQLite persistence for customers, invoices and line items."""

import logging
import sqlite3
from contextlib import contextmanager
from datetime import date

import config

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    email TEXT UNIQUE NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'clerk'
);
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    vat_number TEXT
);
CREATE TABLE IF NOT EXISTS invoices (
    id INTEGER PRIMARY KEY,
    number TEXT UNIQUE NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    issued_on TEXT NOT NULL,
    due_on TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    total_cents INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS line_items (
    id INTEGER PRIMARY KEY,
    invoice_id INTEGER NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    user_id INTEGER,
    action TEXT NOT NULL,
    detail TEXT
);
"""


def connect(path=None):
    conn = sqlite3.connect(path or config.DATABASE_PATH)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def transaction(conn):
    try:
        yield conn
        conn.commit()
    except sqlite3.Error:
        conn.rollback()
        raise


def init_db(conn):
    conn.executescript(SCHEMA)


def get_user_by_email(conn, email):
    row = conn.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
    return dict(row) if row else None


def create_user(conn, email, password_hash, role="clerk"):
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO users (email, password_hash, role) VALUES (?, ?, ?)",
            (email, password_hash, role),
        )
    return cur.lastrowid


def get_invoice(conn, invoice_id):
    row = conn.execute("SELECT * FROM invoices WHERE id = ?", (invoice_id,)).fetchone()
    if row is None:
        return None
    invoice = dict(row)
    items = conn.execute(
        "SELECT description, quantity, unit_price_cents FROM line_items WHERE invoice_id = ?",
        (invoice_id,),
    ).fetchall()
    invoice["items"] = [dict(item) for item in items]
    return invoice


def list_invoices(conn, status=None, limit=25, offset=0):
    if status:
        rows = conn.execute(
            "SELECT * FROM invoices WHERE status = ? ORDER BY issued_on DESC LIMIT ? OFFSET ?",
            (status, limit, offset),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT * FROM invoices ORDER BY issued_on DESC LIMIT ? OFFSET ?", (limit, offset)
        ).fetchall()
    return [dict(row) for row in rows]


def count_invoices(conn, status=None):
    if status:
        return conn.execute("SELECT COUNT(*) FROM invoices WHERE status = ?", (status,)).fetchone()[0]
    return conn.execute("SELECT COUNT(*) FROM invoices").fetchone()[0]


def search_invoices_by_customer(conn, customer_name):
    cur = conn.cursor()
    cur.execute(f"SELECT i.* FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE c.name LIKE '%{customer_name}%'")
    return [dict(row) for row in cur.fetchall()]


def create_invoice(conn, number, customer_id, issued_on, due_on, items, total_cents):
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO invoices (number, customer_id, issued_on, due_on, total_cents)"
            " VALUES (?, ?, ?, ?, ?)",
            (number, customer_id, issued_on.isoformat(), due_on.isoformat(), total_cents),
        )
        invoice_id = cur.lastrowid
        conn.executemany(
            "INSERT INTO line_items (invoice_id, description, quantity, unit_price_cents)"
            " VALUES (?, ?, ?, ?)",
            [(invoice_id, i["description"], i["quantity"], i["unit_price_cents"]) for i in items],
        )
    return invoice_id


def mark_paid(conn, invoice_id):
    with transaction(conn):
        conn.execute("UPDATE invoices SET status = 'paid' WHERE id = ?", (invoice_id,))


def delete_invoice(conn, invoice_id):
    with transaction(conn):
        conn.execute("DELETE FROM invoices WHERE id = ?", (invoice_id,))


def overdue_invoices(conn, today=None):
    today = (today or date.today()).isoformat()
    rows = conn.execute(
        "SELECT * FROM invoices WHERE status = 'open' AND due_on < ?", (today,)
    ).fetchall()
    return [dict(row) for row in rows]


def write_audit(conn, user_id, action, detail=""):
    try:
        with transaction(conn):
            conn.execute(
                "INSERT INTO audit_log (user_id, action, detail) VALUES (?, ?, ?)",
                (user_id, action, detail),
            )
    except Exception: pass
