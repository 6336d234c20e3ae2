"""Pieces the billing pages share: order statuses, money, and the orders table."""

from __future__ import annotations

import reflex as rx

from dashboard_app.domain import billing
from dashboard_app.models import Order
from dashboard_app.web import routes

STATUS_LABELS = {
    "pending": "Awaiting payment",
    "paid": "Paid",
    "failed": "Failed",
    "refunded": "Refunded",
    "partially_refunded": "Partly refunded",
    "disputed": "Disputed",
}
STATUS_COLORS = {"paid": "grass", "failed": "tomato", "disputed": "amber", "pending": "gray"}


def money(cents: int, currency: str) -> str:
    return billing.format_money(cents, currency)


def order_row(order: Order) -> dict[str, str]:
    names = ", ".join(str(item.get("name", "")) for item in order.items) or order.product_code
    return {
        "id": str(order.id),
        "href": f"{routes.ORDERS}/{order.id}",
        "date": f"{order.created_at:%Y-%m-%d}",
        "what": names,
        "kind": "Subscription" if order.kind == "subscription" else "Credit pack",
        "amount": money(order.amount_total, order.currency),
        "status": STATUS_LABELS.get(order.status, order.status),
        "color": STATUS_COLORS.get(order.status, "blue"),
        "credits": f"{order.credits:,}" if order.credits else "",
    }


def orders_table(rows: rx.Var) -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Date"),
                    rx.table.column_header_cell("Order"),
                    rx.table.column_header_cell("Credits", text_align="right"),
                    rx.table.column_header_cell("Amount", text_align="right"),
                    rx.table.column_header_cell("Status"),
                )
            ),
            rx.table.body(
                rx.foreach(
                    rows,
                    lambda row: rx.table.row(
                        rx.table.cell(row["date"], white_space="nowrap"),
                        rx.table.cell(
                            rx.link(row["what"], href=row["href"]),
                            rx.text(row["kind"], size="1", color_scheme="gray"),
                        ),
                        rx.table.cell(row["credits"], text_align="right"),
                        rx.table.cell(row["amount"], text_align="right"),
                        rx.table.cell(
                            # High contrast: the soft badges' text is too pale in light mode.
                            rx.badge(row["status"], color_scheme=row["color"], high_contrast=True)
                        ),
                        data_testid="order-row",
                    ),
                )
            ),
            width="100%",
        ),
        overflow_x="auto",
        width="100%",
    )
