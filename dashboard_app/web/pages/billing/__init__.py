"""Billing: packs and plans to buy through Stripe Checkout, the member's subscription, the
Checkout success page, and the orders list and detail."""

from dashboard_app.web.pages.billing.orders import (
    OrderDetailState,
    OrdersState,
    order_detail_page,
    orders_page,
)
from dashboard_app.web.pages.billing.page import BillingState, billing_page
from dashboard_app.web.pages.billing.success import CheckoutSuccessState, checkout_success_page

__all__ = [
    "BillingState",
    "CheckoutSuccessState",
    "OrderDetailState",
    "OrdersState",
    "billing_page",
    "checkout_success_page",
    "order_detail_page",
    "orders_page",
]
