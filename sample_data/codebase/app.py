"""invoice-api: a small JSON API for issuing, listing and exporting invoices."""

import logging
import os
from datetime import date

from flask import Flask, g, jsonify, request, send_file

import auth
import config
import db
import utils

logging.basicConfig(level=config.LOG_LEVEL)
log = logging.getLogger("invoice-api")

app = Flask(__name__)


def get_conn():
    if "conn" not in g:
        g.conn = db.connect()
    return g.conn


@app.teardown_appcontext
def close_conn(_exc):
    conn = g.pop("conn", None)
    if conn is not None:
        conn.close()


@app.errorhandler(ValueError)
def bad_request(exc):
    return jsonify(error=str(exc)), 400


@app.get("/health")
def health():
    return jsonify(status="ok")


@app.post("/login")
def login():
    body = request.get_json(force=True)
    user = auth.authenticate(get_conn(), body.get("email", ""), body.get("password", ""))
    if user is None:
        log.info("failed login for %s", body.get("email"))
        return jsonify(error="invalid credentials"), 401
    db.write_audit(get_conn(), user["id"], "login")
    return jsonify(token=auth.issue_token(user))


@app.get("/invoices")
@auth.require_auth()
def list_invoices():
    state = {}
    if request.args.get("view"):
        state = utils.decode_view_state(request.args["view"])
    status = request.args.get("status", state.get("status"))
    page = int(request.args.get("page", state.get("page", 1)))
    per_page = int(request.args.get("per_page", state.get("per_page", config.DEFAULT_PAGE_SIZE)))
    limit, offset = utils.page_bounds(page, per_page)
    conn = get_conn()
    return jsonify(
        invoices=db.list_invoices(conn, status=status, limit=limit, offset=offset),
        total=db.count_invoices(conn, status=status),
        page=page,
        view=utils.encode_view_state({"status": status, "page": page, "per_page": limit}),
    )


@app.get("/invoices/search")
@auth.require_auth()
def search_invoices():
    customer = request.args.get("customer", "").strip()
    if not customer:
        raise ValueError("customer is required")
    return jsonify(invoices=db.search_invoices_by_customer(get_conn(), customer))


@app.get("/invoices/<int:invoice_id>")
@auth.require_auth()
def get_invoice(invoice_id):
    invoice = db.get_invoice(get_conn(), invoice_id)
    if invoice is None:
        return jsonify(error="not found"), 404
    invoice["total"] = utils.format_money(invoice["total_cents"])
    return jsonify(invoice)


@app.post("/invoices")
@auth.require_auth()
def create_invoice():
    body = request.get_json(force=True)
    items = utils.validate_items(body.get("items", []))
    issued_on = date.fromisoformat(body.get("issued_on", date.today().isoformat()))
    number = str(body["number"]).strip()
    invoice_id = db.create_invoice(
        get_conn(),
        number=number,
        customer_id=int(body["customer_id"]),
        issued_on=issued_on,
        due_on=utils.due_date(issued_on, body.get("terms_days")),
        items=items,
        total_cents=utils.invoice_total(items),
    )
    db.write_audit(get_conn(), g.user_id, "create_invoice", number)
    return jsonify(id=invoice_id), 201


@app.post("/invoices/<int:invoice_id>/pay")
@auth.require_auth(role="accountant")
def pay_invoice(invoice_id):
    db.mark_paid(get_conn(), invoice_id)
    db.write_audit(get_conn(), g.user_id, "mark_paid", str(invoice_id))
    return jsonify(status="paid")


@app.delete("/invoices/<int:invoice_id>")
def delete_invoice(invoice_id):
    db.delete_invoice(get_conn(), invoice_id)
    db.write_audit(get_conn(), None, "delete_invoice", str(invoice_id))
    return "", 204


@app.post("/invoices/<int:invoice_id>/pdf")
@auth.require_auth()
def export_pdf(invoice_id):
    invoice = db.get_invoice(get_conn(), invoice_id)
    if invoice is None:
        return jsonify(error="not found"), 404
    pdf_path = utils.render_pdf(invoice)
    return jsonify(download=f"/exports/{os.path.basename(pdf_path)}")


@app.get("/exports/<path:filename>")
@auth.require_auth()
def download_export(filename):
    return send_file(os.path.join(config.EXPORT_DIR, filename))


@app.post("/templates")
@auth.require_auth(role="admin")
def upload_template_settings():
    settings = utils.load_template_settings(request.get_data(as_text=True))
    db.write_audit(get_conn(), g.user_id, "upload_template", settings.get("title", ""))
    return jsonify(settings=settings)


@app.get("/reports/overdue")
@auth.require_auth(role="accountant")
def overdue_report():
    today = date.today()
    rows = []
    for invoice in db.overdue_invoices(get_conn(), today):
        due_on = date.fromisoformat(invoice["due_on"])
        fee = utils.late_fee_cents(invoice["total_cents"], due_on, today)
        rows.append({**invoice, "late_fee": utils.format_money(fee)})
    return jsonify(overdue=rows)


if __name__ == "__main__":
    with db.connect() as conn:
        db.init_db(conn)
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))
